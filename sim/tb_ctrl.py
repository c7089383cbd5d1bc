"""cocotb testbench: vitaccel_ctrl (AXI4-Lite, Vitis HLS s_axilite layout) driven by cocotbext-axi's
AxiLiteMaster; offsets and constants come from vitaccel.isa (register map), never from the RTL."""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

import tbutil
from vitaccel.isa import ACCEL_ID, ISA_VERSION, REGISTERS, register_map

R = REGISTERS


class Core:
    """A model of the accelerator core behind the control slave: takes ap_start, runs `latency` cycles."""

    def __init__(self, dut, latency: int):
        self.dut, self.latency, self.runs = dut, latency, 0
        dut.ap_done.value = 0
        dut.ap_ready.value = 0
        dut.ap_idle.value = 1
        dut.status.value = 0
        dut.error_pc.value = 0
        dut.cycles.value = 0
        dut.stall_cycles.value = 0

    async def run(self):
        d = self.dut
        while True:
            await FallingEdge(d.clk)
            if int(d.ap_start.value) and int(d.ap_idle.value):
                d.ap_ready.value, d.ap_idle.value = 1, 0
                await FallingEdge(d.clk)
                d.ap_ready.value = 0
                await ClockCycles(d.clk, self.latency)
                await FallingEdge(d.clk)
                self.runs += 1
                d.status.value = (1 << 9) | (self.runs & 0xFF)
                d.error_pc.value = 1000 + self.runs
                d.cycles.value = (self.runs << 40) | self.latency
                d.stall_cycles.value = (7 << 33) + self.runs
                d.ap_done.value, d.ap_idle.value = 1, 1
                await FallingEdge(d.clk)
                d.ap_done.value = 0


@cocotb.test()
async def ctrl_register_map(dut):
    c = tbutil.cfg()
    gen = tbutil.rng()
    await tbutil.start(dut)
    core = Core(dut, latency=20)
    cocotb.start_soon(core.run())
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.clk, dut.rst_n, reset_active_level=False)

    async def rd(off: int) -> int:
        return int.from_bytes((await axil.read(off, 4)).data, "little")

    async def wr(off: int, value: int) -> None:
        await axil.write(off, int(value).to_bytes(4, "little"))

    # constants
    assert await rd(R["ID"]) == ACCEL_ID
    assert await rd(R["ISA_VERSION"]) == ISA_VERSION
    assert await rd(R["CONFIG_HASH"]) == int(c["config_hash"])
    # 64-bit arguments: full-word and byte-strobe writes, read back and on the core side
    args = {"PROGRAM_ADDR": dut.program_addr, "INSTR_COUNT": dut.instr_count, "IMAGE_ADDR": dut.image_addr,
            "INPUT_ADDR": dut.input_addr, "OUTPUT_ADDR": dut.output_addr}
    for name, sig in args.items():
        v = int(gen.integers(0, 1 << 62)) * 4 + 3
        await wr(R[f"{name}_LO"], v & 0xFFFFFFFF)
        await wr(R[f"{name}_HI"], v >> 32)
        byte = int(gen.integers(0, 256))
        await axil.write(R[f"{name}_LO"] + 2, bytes([byte]))  # WSTRB = 0100
        v = (v & ~(0xFF << 16)) | (byte << 16)
        assert (await rd(R[f"{name}_HI"]) << 32 | await rd(R[f"{name}_LO"])) == v, name
        assert int(sig.value) == v, f"{name} on the core side"
    # read-only words ignore writes; unmapped offsets read 0
    ro = [r for r in register_map() if r.access in ("ro", "cor")]
    for r in ro:
        before = await rd(r.offset)
        await wr(r.offset, 0xFFFFFFFF)
        after = await rd(r.offset)
        assert after == before or r.access == "cor", f"{r.name} changed on write: {before:#x} -> {after:#x}"
    mapped = {r.offset for r in register_map()}
    for off in range(0, 0x100, 4):
        if off not in mapped:
            assert await rd(off) == 0, f"unmapped offset {off:#x} reads non-zero"
    # start / ready / done handshake with clear-on-read done and ap_vld, interrupts
    await wr(R["GIE"], 1)
    await wr(R["IER"], 1)
    assert (await rd(R["AP_CTRL"])) & 0b0110 == 0b0100  # idle, not done
    for run in range(1, 3):
        await wr(R["AP_CTRL"], 1)
        for _ in range(200):
            await RisingEdge(dut.clk)
            if int(dut.interrupt.value):
                break
        else:
            raise AssertionError("no interrupt after ap_done")
        ctrl = await rd(R["AP_CTRL"])
        assert ctrl & 0b0111 == 0b0110, f"AP_CTRL after done: {ctrl:#x} (expected done | idle, start cleared)"
        assert (await rd(R["AP_CTRL"])) & 0b0010 == 0, "ap_done is clear-on-read"
        assert await rd(R["STATUS_CTRL"]) == 1 and await rd(R["STATUS_CTRL"]) == 0, "ap_vld is clear-on-read"
        assert await rd(R["STATUS"]) == (1 << 9) | run
        assert await rd(R["ERROR_PC"]) == 1000 + run
        assert (await rd(R["CYCLES_HI"]) << 32 | await rd(R["CYCLES_LO"])) == (run << 40) | 20
        assert (await rd(R["STALL_CYCLES_HI"]) << 32 | await rd(R["STALL_CYCLES_LO"])) == (7 << 33) + run
        assert await rd(R["ISR"]) == 1
        await wr(R["ISR"], 1)  # toggle on write clears the done bit
        assert await rd(R["ISR"]) == 0 and int(dut.interrupt.value) == 0
    # auto_restart keeps ap_start set across runs
    await wr(R["AP_CTRL"], 0x81)
    await ClockCycles(dut.clk, 80)
    assert int(dut.ap_start.value) == 1 and core.runs >= 4
    await wr(R["AP_CTRL"], 0x00)  # clear auto_restart; the running start completes
    await ClockCycles(dut.clk, 60)
    runs = core.runs
    await ClockCycles(dut.clk, 60)
    assert core.runs == runs and int(dut.ap_start.value) == 0
    dut._log.info("register map, handshake, clear-on-read, interrupts, auto_restart: ok (%d runs)", core.runs)
