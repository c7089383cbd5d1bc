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


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", [dict(LANES=8, MAX_ROWS=256, OUT_BITS=8), dict(LANES=2, MAX_ROWS=16, OUT_BITS=16)],
                         ids=["L8xM256x8", "L2xM16x16"])
def test_softmax_full(sim, params, request):
    run(_block(**params), sim, "tb_softmax", {"n_random": 20}, seed=29, record=request)
