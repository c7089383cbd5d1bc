"""Shared cocotb testbench helpers: configuration, lane packing, valid/ready drivers with random backpressure.

Handshake sampling: every driver and monitor acts on the falling clock edge. It first updates its outputs
(valid + data, or ready), then waits for ReadOnly and reads the settled handshake; a beat transfers at the
following rising edge exactly when valid and ready are both 1 in that ReadOnly phase (nothing changes between
it and the rising edge). This is race-free on Icarus and Verilator alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def cfg() -> dict[str, Any]:
    """The configuration the pytest side passed in VITACCEL_TB_CFG (JSON)."""
    return json.loads(os.environ.get("VITACCEL_TB_CFG", "{}"))


def rng() -> np.random.Generator:
    return np.random.default_rng(int(cfg().get("seed", 1)))


def pack(values: Sequence[int] | np.ndarray, width: int) -> int:
    """Pack lanes (lane 0 in the least significant bits) as two's complement `width`-bit fields."""
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(np.asarray(values).ravel().tolist()):
        out |= (int(v) & mask) << (i * width)
    return out


def unpack(word: int, n: int, width: int, signed: bool = True) -> np.ndarray:
    """Inverse of pack: n lanes of `width` bits, as int64."""
    mask = (1 << width) - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out[i] = v
    return out


def val(sig: Any) -> int:
    """Unsigned integer value of a signal (raises if it holds X/Z)."""
    v = sig.value
    try:
        return int(v.to_unsigned()) if hasattr(v, "to_unsigned") else int(v)
    except ValueError:
        raise AssertionError(f"{sig._name} holds X/Z: {v}") from None


async def start(dut: Any, clock_ns: float | None = None, reset_cycles: int = 3) -> None:
    """Start the clock on dut.clk and pulse the active-low reset dut.rst_n."""
    period = float(clock_ns or cfg().get("clock_ns", 10.0))
    for name in ("in_valid", "out_ready", "tbl_we"):  # idle handshakes (Icarus: undriven inputs are Z)
        if hasattr(dut, name):
            getattr(dut, name).value = 0
    cocotb.start_soon(Clock(dut.clk, period, unit="ns").start())
    dut.rst_n.value = 0
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst_n.value = 1


class Source:
    """Drives beats (dicts signal-name -> int) into a valid/ready input with random idle cycles."""

    def __init__(self, dut: Any, valid: str, ready: str, p_valid: float, gen: np.random.Generator):
        self.dut, self.valid, self.ready = dut, getattr(dut, valid), getattr(dut, ready)
        self.p_valid, self.gen = p_valid, gen
        self.valid.value = 0

    async def send(self, beats: Sequence[Mapping[str, int]]) -> None:
        i = 0
        while i < len(beats):
            await FallingEdge(self.dut.clk)
            show = self.gen.random() < self.p_valid
            if show:
                for name, v in beats[i].items():
                    getattr(self.dut, name).value = int(v)
            self.valid.value = int(show)
            await ReadOnly()
            if show and int(self.ready.value):
                i += 1
        await FallingEdge(self.dut.clk)
        self.valid.value = 0


class Sink:
    """Collects beats from a valid/ready output, asserting ready with probability p_ready each cycle."""

    def __init__(self, dut: Any, valid: str, ready: str, p_ready: float, gen: np.random.Generator):
        self.dut, self.valid, self.ready = dut, getattr(dut, valid), getattr(dut, ready)
        self.p_ready, self.gen = p_ready, gen
        self.ready.value = 0

    async def collect(self, n: int, fields: Sequence[str], timeout_cycles: int = 1_000_000) -> list[dict[str, int]]:
        got: list[dict[str, int]] = []
        idle = 0
        while len(got) < n:
            await FallingEdge(self.dut.clk)
            rdy = self.gen.random() < self.p_ready
            self.ready.value = int(rdy)
            await ReadOnly()
            if rdy and int(self.valid.value):
                try:
                    got.append({f: val(getattr(self.dut, f)) for f in fields})
                except AssertionError as exc:
                    raise AssertionError(f"output beat {len(got)}: {exc}") from None
                idle = 0
            else:
                idle += 1
                if idle > timeout_cycles:
                    raise AssertionError(f"timeout: {len(got)} of {n} output beats after {timeout_cycles} idle cycles")
        await FallingEdge(self.dut.clk)
        self.ready.value = 0
        return got


def backpressure_modes() -> list[tuple[float, float]]:
    """(p_valid, p_ready) pairs every block test runs: full rate, random both sides, starved sink."""
    return [(1.0, 1.0), (0.6, 0.5), (1.0, 0.15)]


class TopMemory:
    """DDR behind every AXI4 master of vitaccel_top (m_axi_gmem0 .. m_axi_gmem<n-1>): one cocotbext-axi AxiRam per
    port, all sharing one memory; read / write access the shared bytes. `channels` are every AXI channel of every
    port (for random stalls)."""

    def __init__(self, dut: Any, size: int, ports: int | None = None) -> None:
        from cocotbext.axi import AxiBus, AxiRam

        n = ports if ports is not None else sum(1 for p in range(16) if hasattr(dut, f"m_axi_gmem{p}_ARVALID"))
        self.rams = []
        for p in range(n):
            mem = self.rams[0].mem if self.rams else None
            self.rams.append(AxiRam(AxiBus.from_prefix(dut, f"m_axi_gmem{p}"), dut.ap_clk, dut.ap_rst_n,
                                    reset_active_level=False, size=size, mem=mem))
        self.channels = [ch for r in self.rams for ch in (r.write_if.aw_channel, r.write_if.w_channel,
                                                          r.write_if.b_channel, r.read_if.ar_channel,
                                                          r.read_if.r_channel)]

    def write(self, addr: int, data: bytes) -> None:
        self.rams[0].write(addr, data)

    def read(self, addr: int, n: int) -> bytes:
        return self.rams[0].read(addr, n)

    def inject_errors(self, read: Sequence[tuple[int, int]] = (), write: Sequence[tuple[int, int]] = ()) -> None:
        """From now on, answer SLVERR for every beat that touches [lo, hi) of a `read` range (RRESP, data zero) or
        of a `write` range (BRESP of the burst; those bytes are not written), on every port. Calling it again
        replaces the ranges; no ranges: every access OKAY again. (cocotbext-axi answers SLVERR when its
        _read / _write raise, so both are wrapped once, on the first call.)"""
        self.read_errors, self.write_errors = list(read), list(write)
        self.error_beats = getattr(self, "error_beats", {"read": 0, "write": 0})
        if getattr(self, "_wrapped", False):
            return
        self._wrapped = True

        def hit(ranges: list[tuple[int, int]], addr: int, n: int) -> bool:
            return any(addr < hi and lo < addr + n for lo, hi in ranges)

        for ram in self.rams:
            rd, wr = ram.read_if._read, ram.write_if._write

            async def _read(addr: int, n: int, _rd: Any = rd) -> bytes:
                if hit(self.read_errors, addr, n):
                    self.error_beats["read"] += 1
                    raise OSError(f"injected SLVERR: read 0x{addr:x}")
                return await _rd(addr, n)

            async def _write(addr: int, data: bytes, _wr: Any = wr) -> None:
                if hit(self.write_errors, addr, len(data)):
                    self.error_beats["write"] += 1
                    raise OSError(f"injected SLVERR: write 0x{addr:x}")
                await _wr(addr, data)

            ram.read_if._read = _read
            ram.write_if._write = _write


class TopHarness:
    """vitaccel_top under test: 100 MHz ap_clk started, reset held 5 clocks then released, a cocotbext-axi
    AXI4-Lite master on s_axi_control (`axil`, plus 32-bit `rd` / `wr` at a byte offset) and the DDR behind every
    AXI master (`ram`, a TopMemory of `ram_size` bytes). Build it with `await TopHarness.start(dut, ram_size)`."""

    def __init__(self, dut: Any, ram_size: int) -> None:
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        self.dut = dut
        cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
        dut.ap_rst_n.value = 0
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk, dut.ap_rst_n,
                                  reset_active_level=False)
        self.ram = TopMemory(dut, ram_size)

    @classmethod
    async def start(cls, dut: Any, ram_size: int) -> TopHarness:
        from cocotb.triggers import ClockCycles

        h = cls(dut, ram_size)
        await ClockCycles(dut.ap_clk, 5)
        dut.ap_rst_n.value = 1
        return h

    async def rd(self, off: int) -> int:
        """32-bit register read at byte offset `off`."""
        return int.from_bytes((await self.axil.read(off, 4)).data, "little")

    async def wr(self, off: int, v: int) -> None:
        """32-bit register write at byte offset `off`."""
        await self.axil.write(off, int(v).to_bytes(4, "little"))
