"""cocotb testbench: vitaccel_axi_rd (AXI4 read DMA) against cocotbext-axi's AxiRamRead with random stalls on
both AXI channels and on the output; checks the data, out_last, burst length <= 256 and no 4 KiB crossing."""

from __future__ import annotations

import itertools

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly
from cocotbext.axi import AxiRamRead, AxiReadBus

import tbutil
from tbutil import Sink, val


async def watch_ar(dut, log: list[tuple[int, int]]):
    while True:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if int(dut.m_axi_arvalid.value) and int(dut.m_axi_arready.value):
            log.append((val(dut.m_axi_araddr), val(dut.m_axi_arlen)))


@cocotb.test()
async def axi_read_bursts(dut):
    gen = tbutil.rng()
    data_w = int(dut.DATA_W.value)
    nbytes = data_w // 8
    max_burst = int(dut.MAX_BURST.value)
    mem_size = 1 << 16
    dut.cmd_valid.value = 0
    ram = AxiRamRead(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst_n, reset_active_level=False, size=mem_size)
    contents = gen.integers(0, 256, mem_size, dtype=np.uint8).tobytes()
    ram.write(0, contents)
    await tbutil.start(dut)
    ar_log: list[tuple[int, int]] = []
    cocotb.start_soon(watch_ar(dut, ar_log))
    page = 4096 // nbytes
    cmds = [(0, 1), (4096 - nbytes, 2), (4096 - 3 * nbytes, page + 7), (8192, 300), (12288 + 5 * nbytes, 2 * page),
            (nbytes * 17, 1)]
    cmds += [(int(gen.integers(0, (mem_size - 8192) // nbytes)) * nbytes, int(gen.integers(1, 600))) for _ in range(6)]
    for mode, (p_ar, p_r, p_out) in enumerate([(0.0, 0.0, 1.0), (0.4, 0.5, 0.5), (0.1, 0.2, 0.1)]):
        ram.ar_channel.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(97) < p_ar]))
        ram.r_channel.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(89) < p_r]))
        for addr, beats in cmds:
            ar_log.clear()
            await FallingEdge(dut.clk)
            dut.cmd_valid.value, dut.cmd_addr.value, dut.cmd_beats.value = 1, addr, beats
            await ReadOnly()
            assert int(dut.cmd_ready.value) == 1
            await FallingEdge(dut.clk)
            dut.cmd_valid.value = 0
            got = await Sink(dut, "out_valid", "out_ready", p_out, gen).collect(beats, ["out_data", "out_last"])
            for i, g in enumerate(got):
                exp = int.from_bytes(contents[addr + i * nbytes: addr + (i + 1) * nbytes], "little")
                assert g["out_data"] == exp, f"mode {mode} cmd ({addr:#x}, {beats}) beat {i}: data mismatch"
                assert g["out_last"] == int(i == beats - 1), f"cmd ({addr:#x}, {beats}) beat {i}: out_last"
            # bursts: contiguous, <= MAX_BURST beats, never crossing 4 KiB, covering exactly the command
            nxt, total = addr, 0
            for a, ln in ar_log:
                assert a == nxt, f"burst at {a:#x}, expected {nxt:#x}"
                assert ln + 1 <= max_burst
                assert a // 4096 == (a + (ln + 1) * nbytes - 1) // 4096, f"burst {a:#x}+{ln + 1} crosses 4 KiB"
                nxt, total = a + (ln + 1) * nbytes, total + ln + 1
            assert total == beats, f"bursts cover {total} beats, expected {beats}"
            assert int(dut.err.value) == 0
        dut._log.info("mode %d: %d commands bit-exact, bursts legal", mode, len(cmds))
