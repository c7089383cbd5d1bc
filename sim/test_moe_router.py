"""Block regression: vitaccel_moe_router on Icarus and Verilator (bit-exact vs golden.moe routing)."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from vitaccel.isa.uarch import ROUTE_LANES  # the engine's router lanes (vitaccel_isa_pkg::UA_ROUTE_LANES)

pytestmark = pytest.mark.sim


def _block(**p) -> Block:
    return Block("vitaccel_moe_router", ["vitaccel_softmax.sv", "vitaccel_moe_router.sv"], p)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_moe_router_quick(sim, request):
    run(_block(LANES=4, MAX_EXPERTS=8, MAX_TOKENS=16, TOPK_MAX=2), sim, "tb_moe_router", {"n_random": 3}, seed=13,
        record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", [dict(LANES=ROUTE_LANES, MAX_EXPERTS=32, MAX_TOKENS=256, TOPK_MAX=4),
                                    dict(LANES=1, MAX_EXPERTS=4, MAX_TOKENS=8, TOPK_MAX=1)],
                         ids=[f"L{ROUTE_LANES}xE32xT256xK4", "L1xE4xT8xK1"])
def test_moe_router_full(sim, params, request):
    run(_block(**params), sim, "tb_moe_router", {"n_random": 8}, seed=37, record=request)
