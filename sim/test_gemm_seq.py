"""Block regression: vitaccel_gemm_seq (every GEMM form + its checks) vs IsaSimulator._gemm, both simulators."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, VERILATOR_QUICK, Block, run

pytestmark = pytest.mark.sim

SOURCES = ["vitaccel_dsp_macc.sv", "vitaccel_mac_array.sv", "vitaccel_epilogue.sv", "vitaccel_gemm_core.sv", "vitaccel_softmax.sv",
           "vitaccel_gemm_seq.sv"]


def _block(**p) -> Block:
    return Block("vitaccel_gemm_seq", SOURCES, p)


QUICK = dict(ROWS=4, COLS=16, ACT_BYTES=4096, WBUF_BYTES=4096, MAX_TOKENS=32)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_gemm_seq_quick(sim, request):
    run(_block(**QUICK), sim, "tb_gemm_seq", {"n_random": 40, "p_err": 0.3}, seed=5, record=request)


@pytest.mark.parametrize("sim", VERILATOR_QUICK)
def test_gemm_seq_shared_softmax_quick(sim, request):
    """SM_LANES < COLS (zcu102's softmax: two lane groups per datapath lane): SOFTMAX shapes with one and several
    column / row tiles, bit-exact (cycles vs gemm_cycles in the log)."""
    shapes = [[13, 40, 8], [32, 33, 16], [5, 20, 3], [32, 16, 20], [1, 17, 1], [17, 30, 30]]
    run(_block(**QUICK, SM_LANES=8), sim, "tb_gemm_seq",
        {"n_random": 0, "p_err": 0.0, "shapes": shapes, "shape_epis": ["SOFTMAX"] * len(shapes)}, seed=7,
        record=request)


@pytest.mark.parametrize("sim", VERILATOR_QUICK)
def test_gemm_seq_epilogue_slices_quick(sim, request):
    """EPI_LANES = COLS / 2 (zcu102's epilogue: two lane slices per drained row) with SM_LANES = COLS / 2, every
    epilogue form incl. errors, bit-exact (cycles vs gemm_cycles in the log)."""
    run(_block(**QUICK, EPI_LANES=8, SM_LANES=8), sim, "tb_gemm_seq", {"n_random": 30, "p_err": 0.2}, seed=13,
        record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("seed", [11, 12])
def test_gemm_seq_random(sim, seed, request):
    run(_block(**QUICK), sim, "tb_gemm_seq", {"n_random": 300, "p_err": 0.3}, seed=seed, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_gemm_seq_rows3(sim, request):
    run(_block(**{**QUICK, "ROWS": 3, "NS": 2}), sim, "tb_gemm_seq", {"n_random": 200, "p_err": 0.2}, seed=3,
        record=request)


@pytest.mark.slow
def test_gemm_seq_m3vit_shapes(request):
    """zcu102 array (33 x 64): m3vit-like shapes, cycles vs docs/isa.md §7 gemm_cycles (printed in the log)."""
    shapes = [[129, 192, 192], [129, 192, 192], [129, 576, 192], [129, 192, 576], [129, 129, 64], [129, 64, 129],
              [129, 192, 64], [256, 80, 32], [40, 200, 64]]
    epis = ["REQ8", "RESADD", "GELU8", "RESADD", "SOFTMAX", "REQ8", "SOFTMAX", "SOFTMAX", "SOFTMAX"]
    run(_block(ROWS=33, COLS=64, ACT_BYTES=262144, WBUF_BYTES=262144, MAX_TOKENS=256, SM_LANES=32), "verilator",
        "tb_gemm_seq", {"n_random": 0, "p_err": 0.0, "shapes": shapes, "shape_epis": epis}, seed=1,
        record=request)


def _trans_cfg(shapes: list[tuple[list[int], str]]) -> dict:
    """Fixed trans-output shapes (B in WBUF), cycles checked exactly against tb_gemm_seq.cycle_formula."""
    return {"n_random": 0, "p_err": 0.0, "shapes": [s for s, _ in shapes], "shape_epis": [e for _, e in shapes],
            "shape_trans": [1] * len(shapes), "check_cycles": True}


TRANS_SHAPES = [([7, 20, 9], "REQ8"), ([7, 20, 9], "ACC32"), ([3, 16, 16], "ACC32"), ([10, 33, 5], "ACC32"),
                ([1, 5, 2], "ACC32"), ([8, 1, 30], "ACC32"), ([2, 18, 64], "ACC32"), ([10, 33, 5], "REQ8"),
                ([5, 17, 8], "GELU8"), ([8, 1, 12], "REQ8"), ([23, 40, 3], "ACC32")]


@pytest.mark.parametrize("sim", VERILATOR_QUICK)
@pytest.mark.parametrize("rows", [3, 17])
def test_gemm_seq_trans_quick(sim, rows, request):
    """Trans outputs (REQ8 / GELU8 / ACC32) through the byte-plane tile transposer: R = 3 (ACC32 chunks at
    offsets (12 rt + 3 q) mod 16, partial row tiles) and R = 17 (R + 16 > W: a column or chunk spans two
    windows). Bit-exact vs IsaSimulator; cycles == cycle_formula exactly for one column tile (n <= COLS)."""
    p = {**QUICK, "ROWS": rows, "NS": 2} if rows == 3 else {**QUICK, "ROWS": rows}
    run(_block(**p), sim, "tb_gemm_seq", _trans_cfg(TRANS_SHAPES), seed=9, record=request)


@pytest.mark.parametrize("sim", VERILATOR_QUICK)
def test_gemm_seq_trans_epilogue_slices_quick(sim, request):
    """Trans outputs with two epilogue slices per row (EPI_LANES = COLS / 2, as on zcu102): the tile drain takes
    max(planes, slices) clocks per row; bit-exact, cycles == cycle_formula exactly for one column tile."""
    run(_block(**{**QUICK, "ROWS": 3, "NS": 2, "EPI_LANES": 8}), sim, "tb_gemm_seq", _trans_cfg(TRANS_SHAPES),
        seed=9, record=request)


@pytest.mark.slow
def test_gemm_seq_trans_zcu102(request):
    """zcu102 array (33 x 64, EPI_LANES = COLS): Q^T-like REQ8 trans and ACC32 trans, bit-exact, cycles ==
    cycle_formula exactly for the one-column-tile shape (the others log it: equal on this set)."""
    shapes = [([129, 192, 64], "REQ8"), ([40, 70, 32], "ACC32"), ([33, 64, 16], "ACC32"), ([70, 65, 8], "REQ8")]
    run(_block(ROWS=33, COLS=64, ACT_BYTES=262144, WBUF_BYTES=262144, MAX_TOKENS=256), "verilator",
        "tb_gemm_seq", _trans_cfg(shapes), seed=2, record=request)
