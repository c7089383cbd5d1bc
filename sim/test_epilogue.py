"""Block regression: vitaccel_epilogue on Icarus and Verilator (bit-exact vs the golden epilogue ops)."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from vitaccel.rtlgen.params import gen_dir

pytestmark = pytest.mark.sim


def _block(lanes: int) -> Block:
    return Block("vitaccel_epilogue", ["vitaccel_epilogue.sv"], {"LANES": lanes})


@pytest.mark.parametrize("sim", SIMULATORS)
def test_epilogue_quick(sim, request):
    run(_block(8), sim, "tb_epilogue", {"beats": 40, "table_dir": str(gen_dir() / "tables")}, seed=5, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("lanes", [1, 16])
def test_epilogue_full(sim, lanes, request):
    run(_block(lanes), sim, "tb_epilogue", {"beats": 300, "table_dir": str(gen_dir() / "tables")}, seed=17,
        record=request)
