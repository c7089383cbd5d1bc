"""Block regression: vitaccel_dma (LOAD / STORE / IM2COL, operand checks) vs vitaccel.sim.IsaSimulator, with
Python models of ACT / the weight-buffer halves and cocotbext-axi AxiRamRead (NPORTS) + AxiRamWrite on one memory."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from test_dma_stream import AXI_RD, axi_port_wrapper, write_wrapper

pytestmark = pytest.mark.sim

_ = AXI_RD
DMA_PORTS = [("input", "1", "clk"), ("input", "1", "rst_n"), ("input", "256", "instr"),
             ("input", "32", "image_bytes"), ("input", "32", "input_bytes"), ("input", "32", "output_bytes"),
             ("input", "64", "image_addr"), ("input", "64", "input_addr"), ("input", "64", "output_addr"),
             ("input", "2", "wbuf_full"), ("output", "8", "chk_code"), ("input", "1", "start"),
             ("output", "1", "busy"), ("output", "1", "done"), ("output", "1", "axi_err"),
             ("output", "1", "mem_wr_act"), ("output", "1", "mem_wr_wb"), ("output", "1", "mem_wr_half"),
             ("output", "32", "mem_wr_addr"), ("output", "COLS*8", "mem_wr_data"), ("output", "COLS", "mem_wr_be"),
             ("output", "1", "act_rd_en"), ("output", "32", "act_rd_addr"),
             ("input", "vitaccel_isa_pkg::UA_ACT_WORD_COLS*COLS*8", "act_rd_data"),
             ("output", "1", "m_axi_awid"), ("output", "ADDR_W", "m_axi_awaddr"), ("output", "8", "m_axi_awlen"),
             ("output", "3", "m_axi_awsize"), ("output", "2", "m_axi_awburst"), ("output", "4", "m_axi_awcache"),
             ("output", "3", "m_axi_awprot"), ("output", "1", "m_axi_awvalid"), ("input", "1", "m_axi_awready"),
             ("output", "DATA_W", "m_axi_wdata"), ("output", "DATA_W/8", "m_axi_wstrb"),
             ("output", "1", "m_axi_wlast"), ("output", "1", "m_axi_wvalid"), ("input", "1", "m_axi_wready"),
             ("input", "1", "m_axi_bid"), ("input", "2", "m_axi_bresp"), ("input", "1", "m_axi_bvalid"),
             ("output", "1", "m_axi_bready")]


def dma_block(cols: int, nports: int, act: int = 4096, wbuf: int = 4096, data_w: int = 128) -> Block:
    """vitaccel_dma in its per-port AXI wrapper (DATA_W = 64: the PYNQ-Z2 HP ports)."""
    params = {"ADDR_W": 32, "DATA_W": data_w, "ACT_BYTES": act, "WBUF_BYTES": wbuf, "COLS": cols, "NPORTS": nports}
    tag = f"p{nports}" if data_w == 128 else f"p{nports}d{data_w}"
    wrap = write_wrapper(f"vitaccel_dma_tbw_{tag}", axi_port_wrapper("vitaccel_dma", nports, params, DMA_PORTS))
    return Block("vitaccel_dma_tbw", ["vitaccel_axi_rd.sv", "vitaccel_axi_wr.sv", "vitaccel_dma_stream.sv",
                                      "vitaccel_dma.sv", wrap], params, name="dma")


@pytest.mark.parametrize("sim", SIMULATORS)
def test_dma_quick(sim, request):
    run(dma_block(16, 4), sim, "tb_dma", {"cases": 3, "instrs": 14}, seed=5, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_dma_quick_d64(sim, request):
    run(dma_block(16, 4, data_w=64), sim, "tb_dma", {"cases": 3, "instrs": 14}, seed=7, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_dma_full(sim, request):
    run(dma_block(64, 4, act=16384, wbuf=16384), sim, "tb_dma", {"cases": 6, "instrs": 40, "big": True}, seed=23,
        record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("data_w,cols", [(64, 16), (64, 64), (32, 16), (256, 32), (512, 64)],
                         ids=["D64xC16", "D64xC64", "D32xC16", "D256xC32", "D512xC64"])
def test_dma_width(sim, data_w, cols, request):
    run(dma_block(cols, 4, act=8192, wbuf=8192, data_w=data_w), sim, "tb_dma",
        {"cases": 4, "instrs": 30, "big": True}, seed=31 + data_w + cols, record=request)
