"""Composition: vitaccel_gemm_core (MAC array + epilogue) computing tiled layers vs the golden layer ops."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim

SOURCES = ["vitaccel_dsp_macc.sv", "vitaccel_mac_array.sv", "vitaccel_epilogue.sv", "vitaccel_gemm_core.sv"]
QUICK = [["fc1_gelu", 9, 20, 24], ["proj_resadd", 5, 16, 33], ["head_acc32", 1, 10, 16], ["av_u8", 8, 8, 13]]


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("epi_lanes", [8, 4])
def test_gemm_core_quick(sim, epi_lanes, request):
    """EPI_LANES = COLS / 2: each row passes the epilogue as two lane slices (AcceleratorConfig.epilogue_lanes)."""
    run(Block("vitaccel_gemm_core", SOURCES, {"ROWS": 4, "COLS": 8, "PACK": 2, "EPI_LANES": epi_lanes}), sim,
        "tb_gemm_core", {"layers": QUICK}, seed=19, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_gemm_core_micro_shapes(sim, request):
    """m3vit-micro-like shapes (65 tokens, dim 64, hidden 128) on an 8 x 16 array."""
    layers = [["fc1_gelu", 65, 128, 64], ["proj_resadd", 65, 64, 128], ["av_u8", 65, 32, 65], ["head_acc32", 1, 10, 64]]
    run(Block("vitaccel_gemm_core", SOURCES, {"ROWS": 8, "COLS": 16, "PACK": 2}), sim, "tb_gemm_core",
        {"layers": layers}, seed=41, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_gemm_core_epilogue_slices(sim, request):
    """Four epilogue slices per row (EPI_LANES = COLS / 4) under random backpressure, every epilogue form."""
    run(Block("vitaccel_gemm_core", SOURCES, {"ROWS": 3, "COLS": 16, "PACK": 2, "EPI_LANES": 4}), sim,
        "tb_gemm_core", {"layers": QUICK}, seed=43, record=request)
