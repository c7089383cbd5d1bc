"""Block regression: vitaccel_epilogue on Icarus and Verilator (bit-exact vs the golden epilogue ops)."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from vitaccel.rtlgen.params import gen_dir

pytestmark = pytest.mark.sim


def _block(lanes: int, tbl_w: int = 1, tbl_sp: int = 0) -> Block:
    return Block("vitaccel_epilogue", ["vitaccel_epilogue.sv"], {"LANES": lanes, "TBL_W": tbl_w, "TBL_SP": tbl_sp})


# TBL_W = 16: the GEMM sequencer's table port (16 entries per write); TBL_SP = 1: single-port table (the testbench
# writes tables with no beat in flight, as the sequencer does)
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("tbl_w,tbl_sp", [(1, 0), (16, 0), (1, 1), (16, 1)])
def test_epilogue_quick(sim, tbl_w, tbl_sp, request):
    run(_block(8, tbl_w, tbl_sp), sim, "tb_epilogue", {"beats": 60, "table_dir": str(gen_dir() / "tables")}, seed=5,
        record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("lanes,tbl_w,tbl_sp", [(1, 1, 0), (16, 1, 0), (16, 16, 0), (16, 16, 1)])
def test_epilogue_full(sim, lanes, tbl_w, tbl_sp, request):
    run(_block(lanes, tbl_w, tbl_sp), sim, "tb_epilogue", {"beats": 300, "table_dir": str(gen_dir() / "tables")},
        seed=17, record=request)
