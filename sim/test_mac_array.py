"""Block regression: vitaccel_mac_array on Icarus and Verilator (bit-exact vs an int64 matrix product)."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim

QUICK = [dict(ROWS=4, COLS=8, PACK=2)]
FULL = [dict(ROWS=4, COLS=8, PACK=1), dict(ROWS=1, COLS=2, PACK=2), dict(ROWS=8, COLS=16, PACK=2), dict(ROWS=3, COLS=4, PACK=2)]


def _block(params: dict) -> Block:
    return Block("vitaccel_mac_array", ["vitaccel_dsp_macc.sv", "vitaccel_mac_array.sv"], params)


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", QUICK, ids=lambda p: "x".join(str(v) for v in p.values()))
def test_mac_array_quick(sim, params, request):
    run(_block(params), sim, "tb_mac_array", {"n_random": 6}, seed=11, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("params", FULL, ids=lambda p: "x".join(str(v) for v in p.values()))
def test_mac_array_full(sim, params, request):
    run(_block(params), sim, "tb_mac_array", {"n_random": 30}, seed=23, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_mac_array_long_k(sim, request):
    """The deepest tiles the ISA allows (P register wrap, largest carry counts), 1 x 4 array (two DSPs)."""
    run(_block(dict(ROWS=1, COLS=4, PACK=2)), sim, "tb_mac_array", {"long_k": [20000, 65535], "n_random": 0},
        seed=5, record=request, testcase="mac_array_long_k")
