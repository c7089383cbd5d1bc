"""cocotb system testbench: vitaccel_top runs whole programs (compiled models, random programs, illegal programs)
against the ISA simulator.

The pytest side (sim/test_top_programs.py) writes each case as files into a directory (program.bin, image.bin,
input.bin, expected.bin = the ISA simulator's OUTPUT bytes, case.json = expected STATUS code / ERROR_PC, the
performance model's cycles, whether to zero the on-chip memories first). Here every case is loaded into
cocotbext-axi's AxiRam behind every m_axi_gmem<p> (random stalls on every AXI channel for some cases), started through the
AXI4-Lite control slave, and checked: STATUS, ERROR_PC and every OUTPUT byte equal the simulator's; the CYCLES
register is reported next to the model's cycles (written to result.json for the pytest side).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

import tbutil
from vitaccel import isa
from vitaccel.isa.regmap import FIELDS, ErrorCode, error_name

R = isa.REGISTERS
GUARD = 64


@cocotb.test()
async def top_programs(dut):
    c = tbutil.cfg()
    gen = tbutil.rng()
    case_dirs = [Path(p) for p in c["cases"]]
    layout = c["layout"]  # DDR addresses: image, program, input, output, clean_image, clean_program; ram size
    top = await tbutil.TopHarness.start(dut, int(layout["ram_size"]))
    ram, rd, wr = top.ram, top.rd, top.wr

    chans = ram.channels

    async def start_and_wait(name: str, prog_at: int, n_instr: int, image_at: int, in_at: int, out_at: int,
                             max_cycles: int) -> None:
        for reg, val in (("PROGRAM_ADDR", prog_at), ("IMAGE_ADDR", image_at), ("INPUT_ADDR", in_at),
                         ("OUTPUT_ADDR", out_at), ("INSTR_COUNT", n_instr)):
            await wr(R[f"{reg}_LO"], val)
            await wr(R[f"{reg}_HI"], 0)
        await wr(R["AP_CTRL"], 1)
        for _ in range(max_cycles // 64 + 1):
            await ClockCycles(dut.ap_clk, 64)
            if int(dut.interrupt.value):
                break
        else:
            raise AssertionError(f"{name}: no ap_done within {max_cycles} cycles (hang)")
        assert (await rd(R["AP_CTRL"])) & 0b110 == 0b110, f"{name}: AP_CTRL lacks done|idle"
        await wr(R["ISR"], 1)

    await wr(R["GIE"], 1)
    await wr(R["IER"], 1)
    clean_loaded = False
    results = []
    for n, d in enumerate(case_dirs):
        meta = json.loads((d / "case.json").read_text())
        name = meta["name"]
        stall = bool(meta.get("stall", n % 3 == 1))
        for j, ch in enumerate(chans):
            if stall:
                ch.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(61 + 2 * j) < 0.3]))
            else:
                ch.set_pause_generator(None)
                ch.pause = False
        if meta.get("clean"):
            if not clean_loaded:
                ram.write(layout["clean_image"], (d.parent / "clean_image.bin").read_bytes())
                ram.write(layout["clean_program"], (d.parent / "clean_program.bin").read_bytes())
                clean_loaded = True
            n_clean = len((d.parent / "clean_program.bin").read_bytes()) // isa.INSTR_BYTES
            await start_and_wait("cleaning", layout["clean_program"], n_clean, layout["clean_image"], 0, 0,
                                 int(meta["clean_cycles"]))
            assert await rd(R["STATUS"]) == isa.status_word(ErrorCode.NONE, True), "cleaning program failed"
        program = (d / "program.bin").read_bytes()
        out_bytes = int(meta["output_bytes"])
        out_at = layout["output"] + int(meta.get("out_phase", 0))
        ram.write(layout["image"], (d / "image.bin").read_bytes())
        ram.write(layout["program"], program)
        ram.write(layout["input"], (d / "input.bin").read_bytes())
        guard = gen.integers(0, 256, GUARD, dtype=np.uint8).tobytes()
        ram.write(out_at - GUARD, guard + bytes(out_bytes) + guard)
        await start_and_wait(name, layout["program"], int(meta.get("instr_count", len(program) // isa.INSTR_BYTES)),
                             layout["image"], layout["input"], out_at, int(meta["max_cycles"]))
        status, epc = await rd(R["STATUS"]), await rd(R["ERROR_PC"])
        cycles = await rd(R["CYCLES_LO"]) | (await rd(R["CYCLES_HI"])) << 32
        code = error_name(FIELDS["STATUS_CODE"].get(status))
        exp_code = ErrorCode(int(meta["code"]))
        assert status == isa.status_word(exp_code, True), (
            f"{name}: STATUS {status:#x} ({code}), ISA simulator says {exp_code.name} at {meta['pc']}")
        assert epc == int(meta["pc"]) & 0xFFFFFFFF, f"{name}: ERROR_PC {epc}, ISA simulator says {meta['pc']}"
        got = ram.read(out_at, out_bytes)
        exp = (d / "expected.bin").read_bytes()
        if got != exp:
            diff = [i for i in range(out_bytes) if got[i] != exp[i]]
            raise AssertionError(f"{name}: OUTPUT differs at {len(diff)} of {out_bytes} bytes, first {diff[:8]} "
                                 f"(got {got[diff[0]]:#x}, expected {exp[diff[0]]:#x})")
        assert ram.read(out_at - GUARD, GUARD) == guard and ram.read(out_at + out_bytes, GUARD) == guard, (
            f"{name}: a STORE wrote outside the OUTPUT region")
        results.append({"name": name, "code": code, "pc": epc, "cycles": cycles,
                        "model_cycles": meta.get("model_cycles"), "stall": stall})
        dut._log.info("%-28s %-13s pc=%-4d cycles=%-8d model=%-8s stalls=%s (matches the ISA simulator)", name,
                      code, epc, cycles, meta.get("model_cycles"), stall)
    Path(c["result"]).write_text(json.dumps(results, indent=1))
