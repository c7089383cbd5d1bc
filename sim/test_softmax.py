"""Block regression: vitaccel_softmax on Icarus and Verilator (bit-exact vs golden.softmax)."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim


def _block(**p) -> Block:
    return Block("vitaccel_softmax", ["vitaccel_softmax.sv"], p)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_softmax_quick(sim, request):
    run(_block(LANES=4, MAX_ROWS=32, OUT_BITS=8), sim, "tb_softmax", {"n_random": 4}, seed=3, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_softmax_z_input_quick(sim, request):
    """REQUANT = 0 (the GEMM sequencer's instances): z codes in, no per-lane requantization."""
    run(_block(LANES=4, MAX_ROWS=32, OUT_BITS=8, REQUANT=0), sim, "tb_softmax", {"n_random": 4}, seed=5,
        record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_softmax_two_contexts_quick(sim, request):
    """CONTEXTS = 2 (the GEMM sequencer's unit): groups overlap, leave in order, same bits."""
    run(_block(LANES=4, MAX_ROWS=32, OUT_BITS=8, REQUANT=0, CONTEXTS=2), sim, "tb_softmax", {"n_random": 6},
        seed=7, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", [dict(LANES=4, GROUPS=2, REQUANT=0, CONTEXTS=2),
                                    dict(LANES=8, GROUPS=4, REQUANT=0, CONTEXTS=2),
                                    dict(LANES=4, GROUPS=4, REQUANT=1, CONTEXTS=1)],
                         ids=["L4g2x2ctx", "L8g4x2ctx", "L4g4req"])
def test_softmax_shared_datapath_quick(sim, params, request):
    """GROUPS = F > 1 (the GEMM sequencer's zcu102 unit: F = 2): F lane groups share LANES / F pass-1 datapath
    lanes, a row every F clocks in (one per clock out), same bits (random, all-equal, most-negative z, full-length rows, both
    contexts, three backpressure patterns)."""
    run(_block(MAX_ROWS=32, OUT_BITS=8, **params), sim, "tb_softmax", {"n_random": 6}, seed=11, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", [dict(LANES=8, MAX_ROWS=256, OUT_BITS=8), dict(LANES=2, MAX_ROWS=16, OUT_BITS=16),
                                    dict(LANES=8, MAX_ROWS=256, OUT_BITS=8, REQUANT=1, CONTEXTS=2),
                                    dict(LANES=8, MAX_ROWS=256, OUT_BITS=8, REQUANT=0, CONTEXTS=2, GROUPS=2),
                                    dict(LANES=16, MAX_ROWS=64, OUT_BITS=16, REQUANT=1, CONTEXTS=2, GROUPS=8)],
                         ids=["L8xM256x8", "L2xM16x16", "L8xM256x8x2ctx", "L8g2xM256x2ctx", "L16g8xM64x16x2ctx"])
def test_softmax_full(sim, params, request):
    run(_block(**params), sim, "tb_softmax", {"n_random": 20}, seed=29, record=request)
