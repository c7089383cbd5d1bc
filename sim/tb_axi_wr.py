"""cocotb testbench: vitaccel_axi_wr (AXI4 write DMA) against cocotbext-axi's AxiRamWrite with random stalls on
the AW, W and B channels and on the input stream; checks memory contents (and that nothing else was written),
burst length <= MAX_BURST, no 4 KiB crossing, and completion only after the last response."""

from __future__ import annotations

import itertools

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly
from cocotbext.axi import AxiRamWrite, AxiWriteBus

import tbutil
from tbutil import Source, val


async def watch_aw(dut, log: list[tuple[int, int]]):
    while True:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if int(dut.m_axi_awvalid.value) and int(dut.m_axi_awready.value):
            log.append((val(dut.m_axi_awaddr), val(dut.m_axi_awlen)))


@cocotb.test()
async def axi_write_bursts(dut):
    gen = tbutil.rng()
    nbytes = int(dut.DATA_W.value) // 8
    max_burst = int(dut.MAX_BURST.value)
    mem_size = 1 << 16
    dut.cmd_valid.value = 0
    dut.in_strb.value = (1 << nbytes) - 1
    ram = AxiRamWrite(AxiWriteBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst_n, reset_active_level=False,
                      size=mem_size)
    shadow = bytearray(gen.integers(0, 256, mem_size, dtype=np.uint8).tobytes())
    ram.write(0, bytes(shadow))
    await tbutil.start(dut)
    aw_log: list[tuple[int, int]] = []
    cocotb.start_soon(watch_aw(dut, aw_log))
    page = 4096 // nbytes
    cmds = [(0, 1), (4096 - nbytes, 2), (4096 - 3 * nbytes, page + 7), (8192, 300), (12288 + 5 * nbytes, 2 * page)]
    cmds += [(int(gen.integers(0, (mem_size - 12288) // nbytes)) * nbytes, int(gen.integers(1, 600))) for _ in range(4)]
    for mode, (p_aw, p_w, p_b, p_in) in enumerate([(0.0, 0.0, 0.0, 1.0), (0.4, 0.5, 0.5, 0.6), (0.2, 0.1, 0.8, 0.3)]):
        ram.aw_channel.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(97) < p_aw]))
        ram.w_channel.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(89) < p_w]))
        ram.b_channel.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(83) < p_b]))
        for addr, beats in cmds:
            aw_log.clear()
            words = [int.from_bytes(gen.integers(0, 256, nbytes, dtype=np.uint8).tobytes(), "little")
                     for _ in range(beats)]
            await FallingEdge(dut.clk)
            dut.cmd_valid.value, dut.cmd_addr.value, dut.cmd_beats.value = 1, addr, beats
            await FallingEdge(dut.clk)
            dut.cmd_valid.value = 0
            await Source(dut, "in_valid", "in_ready", p_in, gen).send([{"in_data": w} for w in words])
            for _ in range(20000):
                await FallingEdge(dut.clk)
                await ReadOnly()
                if not int(dut.busy.value):
                    break
            else:
                raise AssertionError(f"write of ({addr:#x}, {beats}) never completed")
            for i, w in enumerate(words):
                shadow[addr + i * nbytes: addr + (i + 1) * nbytes] = w.to_bytes(nbytes, "little")
            mem = ram.read(0, mem_size)
            if mem != bytes(shadow):
                bad = next(i for i in range(mem_size) if mem[i] != shadow[i])
                raise AssertionError(f"mode {mode} cmd ({addr:#x}, {beats}): memory differs at byte {bad:#x}")
            nxt, total = addr, 0
            for a, ln in aw_log:
                assert a == nxt, f"burst at {a:#x}, expected {nxt:#x}"
                assert ln + 1 <= max_burst
                assert a // 4096 == (a + (ln + 1) * nbytes - 1) // 4096, f"burst {a:#x}+{ln + 1} crosses 4 KiB"
                nxt, total = a + (ln + 1) * nbytes, total + ln + 1
            assert total == beats and int(dut.err.value) == 0
        dut._log.info("mode %d: %d commands written bit-exact, bursts legal", mode, len(cmds))
