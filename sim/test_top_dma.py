"""System level: vitaccel_top executing LOAD / STORE / IM2COL / GEMM (REQ8 with immediates / records, B in ACT or WBUF) vs the ISA simulator (STATUS, ERROR_PC, OUTPUT bytes),
both simulators, cocotbext-axi AxiRam with and without random stalls."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, VERILATOR_QUICK, Block, run
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.rtlgen.params import top_parameters, top_sources

pytestmark = pytest.mark.sim

SOURCES = top_sources()


def _block(board: str, act_bytes: int, wbuf_bytes: int, rows: int = 4, cols: int = 16) -> tuple[Block, dict]:
    """Small buffers (so random operands hit the ends of ACT / WBUF) and a small MAC array (so GEMMs span several
    tiles) in the board's AXI width; the config hash is that of the modified configuration."""
    cfg = derive_accelerator_config(board, {"act_buffer_bytes": act_bytes, "weight_buffer_bytes": wbuf_bytes,
                                            "array_rows": rows, "array_cols": cols})
    tb = {"board": board, "act_bytes": act_bytes, "wbuf_bytes": wbuf_bytes, "array_rows": rows, "array_cols": cols}
    return Block("vitaccel_top", SOURCES, top_parameters(cfg, addr_w=40), name="top_dma"), tb


@pytest.mark.parametrize("sim", VERILATOR_QUICK)
def test_top_load_store_quick(sim, request):
    block, tb = _block("zcu102", 4096, 1024)
    run(block, sim, "tb_top_dma", {**tb, "n_random": 40 if sim == "verilator" else 16}, seed=31, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_gemm_req8_quick(sim, request):
    """GEMM REQ8 pimm, A in ACT, B in ACT or WBUF (4 x 8 array: several row and column tiles), with LOAD / STORE /
    IM2COL and weight-buffer LOAD / release."""
    block, tb = _block("zcu102", 4096, 1024)  # Icarus simulates the whole top slowly: fewer programs there
    run(block, sim, "tb_top_dma", {**tb, "n_random": 40 if sim == "verilator" else 12, "gemm": True}, seed=41,
        record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_gemm_req8_long(sim, request):
    block, tb = _block("zcu102", 4096, 1024, rows=3, cols=16)
    run(block, sim, "tb_top_dma", {**tb, "n_random": 100, "gemm": True}, seed=42, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_load_store_axi64(sim, request):
    block, tb = _block("pynq-z2", 2048, 512)
    run(block, sim, "tb_top_dma", {**tb, "n_random": 60}, seed=32, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_load_store_long(sim, request):
    block, tb = _block("zcu102", 4096, 1024)
    run(block, sim, "tb_top_dma", {**tb, "n_random": 150}, seed=33, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_axi_error_quick(sim, request):
    """SLVERR on a LOAD / weight LOAD / realigned LOAD / IM2COL read, a STORE write, an instruction fetch and the
    header read: STATUS = AXI_ERROR, ERROR_PC = that instruction (earliest in program order), ap_done raised."""
    block, tb = _block("zcu102", 4096, 1024)
    run(block, sim, "tb_top_axi_err", tb, seed=51, record=request)
