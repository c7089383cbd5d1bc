"""cocotb testbench: vitaccel_dma_stream (through the per-port wrapper of test_dma_stream.py) against NPORTS
cocotbext-axi AxiRamRead instances sharing one memory.

Checked: every byte written to the modelled on-chip memory (window writes: 16-byte aligned addresses, byte
enables) equals the DDR source, bytes outside the commands stay untouched, raw commands deliver exactly the
aligned words in order, AR bursts are legal (<= 256 beats, never crossing 4 KiB), a non-OKAY RRESP raises err
without hanging; random lengths / offsets / 4 KiB crossings, queued back-to-back commands, random AR / R
stalls. The bytes per clock of a long contiguous transfer (no stalls) are measured and logged.
"""

from __future__ import annotations

import itertools
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotbext.axi import AxiRamRead, AxiReadBus

import tbutil
from tbutil import val

DDR_SIZE = 1 << 17
ONCHIP = 1 << 16
SENTINEL = 0xA5


class ErrRam(AxiRamRead):
    """AxiRamRead answering SLVERR (data 0) for the words in [err_lo, err_hi)."""

    err_lo = err_hi = 0

    async def _read(self, address: int, length: int) -> bytes:
        if self.err_lo <= address < self.err_hi:
            raise ValueError("injected error")
        return await super()._read(address, length)


class Env:
    """DUT handles, the DDR / on-chip models and the monitors."""

    def __init__(self, dut: Any, gen: np.random.Generator):
        self.dut, self.gen = dut, gen
        self.nports = int(dut.NPORTS.value)
        self.b = int(dut.DATA_W.value) // 8
        self.ob = int(dut.OUT_BYTES.value)
        self.rams: list[ErrRam] = []
        for p in range(self.nports):
            bus = AxiReadBus.from_prefix(dut, f"m{p}_axi")
            mem = self.rams[0].mem if self.rams else None
            self.rams.append(ErrRam(bus, dut.clk, dut.rst_n, reset_active_level=False, size=DDR_SIZE, mem=mem))
        self.ddr = gen.integers(0, 256, DDR_SIZE, dtype=np.uint8)
        self.rams[0].write(0, self.ddr.tobytes())
        self.onchip = np.full(ONCHIP, SENTINEL, dtype=np.uint8)
        self.bursts: list[tuple[int, int]] = []
        self.raw: list[int] = []
        self.p_raw = 1.0
        self.windows = 0
        self.clock = 0
        self.t_first = 0

    async def count(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            self.clock += 1

    def stalls(self, p_ar: float, p_r: float) -> None:
        for ram in self.rams:
            ram.ar_channel.set_pause_generator(itertools.cycle([bool(x) for x in self.gen.random(97) < p_ar]))
            ram.r_channel.set_pause_generator(itertools.cycle([bool(x) for x in self.gen.random(89) < p_r]))

    async def monitor(self) -> None:
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            rdy = self.gen.random() < self.p_raw
            dut.raw_ready.value = int(rdy)
            await ReadOnly()
            if int(dut.wr_en.value):
                addr, be = val(dut.wr_addr), val(dut.wr_be)
                assert addr % 16 == 0, f"window at {addr:#x} not 16-byte aligned"
                data = val(dut.wr_data).to_bytes(self.ob, "little")
                for i in range(self.ob):
                    if be >> i & 1:
                        assert addr + i < ONCHIP, f"write outside the model at {addr + i:#x}"
                        self.onchip[addr + i] = data[i]
                self.windows += 1
            if rdy and int(dut.raw_valid.value):
                self.raw.append(val(dut.raw_data))
            for p in range(self.nports):
                if int(getattr(dut, f"m{p}_axi_arvalid").value) and int(getattr(dut, f"m{p}_axi_arready").value):
                    self.bursts.append((val(getattr(dut, f"m{p}_axi_araddr")),
                                        val(getattr(dut, f"m{p}_axi_arlen"))))

    async def send(self, cmds: list[tuple[int, int, int, int]]) -> int:
        """Queue (src, dst, nbytes, raw) commands back to back; returns the clock of the first acceptance."""
        dut = self.dut
        t0 = -1
        cyc = 0
        for src, dst, n, raw in cmds:
            while True:
                await FallingEdge(dut.clk)
                dut.cmd_valid.value, dut.cmd_src.value, dut.cmd_dst.value = 1, src, dst
                dut.cmd_nbytes.value, dut.cmd_raw.value = n, raw
                await ReadOnly()
                cyc += 1
                if int(dut.cmd_ready.value):
                    if t0 < 0:
                        t0 = cyc
                        self.t_first = self.clock
                    break
        await FallingEdge(dut.clk)
        dut.cmd_valid.value = 0
        return t0

    async def wait_idle(self, limit: int = 200_000) -> int:
        """Waits until busy is low (asserts no hang); returns the clocks since the first command was accepted."""
        dut = self.dut
        for _ in range(limit):
            await RisingEdge(dut.clk)
            await ReadOnly()
            if not int(dut.busy.value):
                return self.clock - self.t_first
        raise AssertionError("stream did not finish (hang)")

    def check_bursts(self) -> None:
        for a, ln in self.bursts:
            assert ln + 1 <= 256, f"burst of {ln + 1} beats"
            assert a % self.b == 0, f"burst at {a:#x} not aligned"
            assert a // 4096 == (a + (ln + 1) * self.b - 1) // 4096, f"burst {a:#x}+{ln + 1} crosses 4 KiB"
        self.bursts.clear()


def random_cmds(env: Env, n: int, max_len: int) -> list[tuple[int, int, int, int]]:
    """Non-overlapping destinations (congruent to src mod B)."""
    cmds, used = [], np.zeros(ONCHIP, dtype=bool)
    for _ in range(n):
        for _ in range(50):
            ln = int(env.gen.integers(1, max_len + 1))
            src = int(env.gen.integers(0, DDR_SIZE - ln))
            if env.gen.random() < 0.3:   # around a 4 KiB boundary
                src = max(0, min(DDR_SIZE - ln, (src // 4096) * 4096 + int(env.gen.integers(-80, 16))))
            dst = int(env.gen.integers(0, (ONCHIP - ln - env.b) // env.b)) * env.b + src % env.b
            if not used[dst:dst + ln].any():
                used[dst:dst + ln] = True
                cmds.append((src, dst, ln, 0))
                break
    return cmds


async def run_windows(env: Env, cmds: list[tuple[int, int, int, int]], what: str) -> None:
    env.onchip[:] = SENTINEL
    expect = env.onchip.copy()
    for src, dst, n, _ in cmds:
        expect[dst:dst + n] = env.ddr[src:src + n]
    await env.send(cmds)
    await env.wait_idle()
    await RisingEdge(env.dut.clk)
    bad = np.flatnonzero(expect != env.onchip)
    assert bad.size == 0, f"{what}: {bad.size} bytes differ, first at {bad[0]:#x}: got {env.onchip[bad[0]]:#x} " \
                          f"expected {expect[bad[0]]:#x}"
    assert int(env.dut.err.value) == 0, f"{what}: err without an error response"
    env.check_bursts()


@cocotb.test()
async def stream_windows(dut):
    gen = tbutil.rng()
    c = tbutil.cfg()
    dut.cmd_valid.value = 0
    dut.raw_ready.value = 0
    env = Env(dut, gen)
    await tbutil.start(dut)
    cocotb.start_soon(env.monitor())
    # corner cases: single bytes, one beat, beat edges, exactly 4 KiB crossings, empty command
    b = env.b
    corner = [(0, 0, 1, 0), (4095, 4095 % b + 64, 1, 0), (4096 - b, 256, 2 * b, 0), (4096 - 3, 1024 + (4096 - 3) % b, 7, 0),
              (8192 - 17, 2048 + (8192 - 17) % b, 4096 + 40, 0), (5, 6144 + 5 % b, 0, 0), (b - 1, 12288 + b - 1, 2, 0)]
    await run_windows(env, corner, "corner")
    for mode, (p_ar, p_r) in enumerate([(0.0, 0.0), (0.3, 0.4), (0.1, 0.8)]):
        env.stalls(p_ar, p_r)
        for rnd in range(int(c.get("rounds", 2))):
            await run_windows(env, random_cmds(env, int(gen.integers(1, 9)), int(c.get("max_len", 600))),
                              f"mode {mode} round {rnd}")
            # many short rows back to back (strided LOAD)
            rows = [(s, d, n, 0) for s, d, n, _ in random_cmds(env, 12, 48)]
            await run_windows(env, rows, f"mode {mode} rows {rnd}")
        dut._log.info("mode %d: window commands bit-exact, bursts legal", mode)


@cocotb.test()
async def stream_raw_and_errors(dut):
    gen = tbutil.rng()
    dut.cmd_valid.value = 0
    dut.raw_ready.value = 0
    env = Env(dut, gen)
    await tbutil.start(dut)
    cocotb.start_soon(env.monitor())
    b = env.b
    env.stalls(0.2, 0.3)
    for p_raw in (1.0, 0.3):
        env.p_raw = p_raw
        for _ in range(4):
            n = int(gen.integers(1, 700))
            src = int(gen.integers(0, DDR_SIZE - n))
            env.raw.clear()
            await env.send([(src, src % b, n, 1)])
            await env.wait_idle()
            a0, a1 = src // b * b, -(-(src + n) // b) * b
            exp = [int.from_bytes(env.ddr[a:a + b].tobytes(), "little") for a in range(a0, a1, b)]
            assert env.raw == exp, f"raw ({src:#x}, {n}): {len(env.raw)} beats, expected {len(exp)}"
    env.check_bursts()
    # window command after raw ones
    await run_windows(env, random_cmds(env, 3, 300), "after raw")
    # error response: err with done, every other byte still written, next command clears err
    for ram in env.rams:
        ram.err_lo, ram.err_hi = 0x3000, 0x3000 + 4 * b
    env.onchip[:] = SENTINEL
    await env.send([(0x3000 - 40, 0x100 + (0x3000 - 40) % b, 200, 0)])
    await env.wait_idle()
    assert int(dut.err.value) == 1, "SLVERR not reported"
    got = env.onchip[0x100 + (0x3000 - 40) % b:][:200]
    exp = env.ddr[0x3000 - 40:0x3000 - 40 + 200].copy()
    exp[40:40 + 4 * b] = 0
    assert (got == exp).all(), "bytes around an error response"
    for ram in env.rams:
        ram.err_lo = ram.err_hi = 0
    await run_windows(env, random_cmds(env, 2, 100), "after error")
    dut._log.info("raw commands in order, error response reported and cleared")


@cocotb.test()
async def stream_rate(dut):
    gen = tbutil.rng()
    c = tbutil.cfg()
    dut.cmd_valid.value = 0
    dut.raw_ready.value = 0
    env = Env(dut, gen)
    await tbutil.start(dut)
    cocotb.start_soon(env.monitor())
    cocotb.start_soon(env.count())
    n = int(c.get("rate_bytes", 8192))
    env.onchip[:] = SENTINEL
    await env.send([(0, 0, n, 0)])
    clocks = await env.wait_idle()
    expect = env.onchip.copy()
    expect[:n] = env.ddr[:n]
    assert (expect == env.onchip).all(), "rate transfer data"
    peak = min(env.nports * env.b, env.ob)
    rate = n / clocks
    dut._log.info("RATE %d bytes in %d clocks: %.2f bytes/clock (peak %d)", n, clocks, rate, peak)
    # rows of 64 bytes back to back (one command each)
    rows = [(i * 256, 4096 + i * 64, 64, 0) for i in range(int(c.get("rate_rows", 64)))]
    await env.send(rows)
    clocks_r = await env.wait_idle()
    dut._log.info("RATE %d rows of 64 bytes in %d clocks: %.2f bytes/clock", len(rows), clocks_r,
                  64 * len(rows) / clocks_r)
    min_rate = float(c.get("min_rate", 0.0))
    assert rate >= min_rate * peak, f"{rate:.2f} bytes/clock < {min_rate} x peak {peak}"
    env.check_bursts()
