"""Block regression: vitaccel_layernorm on Icarus and Verilator (bit-exact vs golden.ops.layernorm)."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim


def _block(**p) -> Block:
    return Block("vitaccel_layernorm", ["vitaccel_layernorm.sv"], p)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_layernorm_quick(sim, request):
    run(_block(LANES=4, MAX_COLS=32), sim, "tb_layernorm", {"n_random": 2}, seed=7, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_layernorm_widest(sim, request):
    """C = MAX_COLS = 4096 and 4095: the rows with the largest |y| (sqrt(4095) 2^14 < 2^20, the bound behind the
    27-bit gamma product), full-range gamma / beta."""
    run(_block(LANES=64, MAX_COLS=4096), sim, "tb_layernorm", {"wide_only": True, "full_rate_only": True}, seed=5,
        record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", [dict(LANES=16, MAX_COLS=768), dict(LANES=1, MAX_COLS=8)], ids=["L16xC768", "L1xC8"])
def test_layernorm_full(sim, params, request):
    run(_block(**params), sim, "tb_layernorm", {"n_random": 6}, seed=31, record=request)
