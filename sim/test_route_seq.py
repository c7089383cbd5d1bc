"""Block regression: vitaccel_route_seq (ROUTE engine + expert queues) on Icarus and Verilator, bit-exact vs
IsaSimulator._route, including every operand check and the queue ports."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim

SOURCES = ["vitaccel_softmax.sv", "vitaccel_moe_router.sv", "vitaccel_route_seq.sv"]


def _block(**p) -> Block:
    return Block("vitaccel_route_seq", SOURCES, p)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_route_seq_quick(sim, request):
    """COLS=16 (W = 32 bytes: E <= 8 in one window, E up to 16 in two), MAX_TOKENS=32, MAX_EXPERTS=16, MAX_TOPK=2
    (topk = 2 runs, topk = 3 is UNSUPPORTED)."""
    run(_block(COLS=16, ACT_BYTES=4096, WBUF_BYTES=512, MAX_TOKENS=32, MAX_EXPERTS=16, MAX_TOPK=2), sim, "tb_route_seq",
        {"n_random": 12}, seed=5, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", [dict(COLS=64, ACT_BYTES=65536, WBUF_BYTES=4096, MAX_TOKENS=256, MAX_EXPERTS=32,
                                         MAX_TOPK=4),
                                    dict(COLS=16, ACT_BYTES=40960, WBUF_BYTES=1024, MAX_TOKENS=256,
                                         MAX_EXPERTS=32, MAX_TOPK=4)],
                         ids=["C64xT256xE32xK4", "C16xT256xE32xK4"])
def test_route_seq_full(sim, params, request):
    """The boards' MAX_TOKENS / MAX_EXPERTS / MAX_TOPK; COLS=16 needs four ACT windows per token row at E = 32."""
    run(_block(**params), sim, "tb_route_seq", {"n_random": 30}, seed=29, record=request)
