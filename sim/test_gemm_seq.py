"""Block regression: vitaccel_gemm_seq (every GEMM form + its checks) vs IsaSimulator._gemm, both simulators."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim

SOURCES = ["vitaccel_mac_array.sv", "vitaccel_epilogue.sv", "vitaccel_gemm_core.sv", "vitaccel_softmax.sv",
           "vitaccel_gemm_seq.sv"]


def _block(**p) -> Block:
    return Block("vitaccel_gemm_seq", SOURCES, p)


QUICK = dict(ROWS=4, COLS=16, ACT_BYTES=4096, WBUF_BYTES=4096, MAX_TOKENS=32)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_gemm_seq_quick(sim, request):
    run(_block(**QUICK), sim, "tb_gemm_seq", {"n_random": 40, "p_err": 0.3}, seed=5, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_gemm_seq_shared_softmax_quick(sim, request):
    """SM_LANES < COLS (zcu102's softmax: two lane groups per datapath lane): SOFTMAX shapes with one and several
    column / row tiles, bit-exact (cycles vs gemm_cycles in the log)."""
    shapes = [[13, 40, 8], [32, 33, 16], [5, 20, 3], [32, 16, 20], [1, 17, 1], [17, 30, 30]]
    run(_block(**QUICK, SM_LANES=8), sim, "tb_gemm_seq",
        {"n_random": 0, "p_err": 0.0, "shapes": shapes, "shape_epis": ["SOFTMAX"] * len(shapes)}, seed=7,
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
