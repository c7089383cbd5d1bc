"""cocotb system testbench: AXI SLVERR responses reach STATUS / ERROR_PC of vitaccel_top (ErrorCode.AXI_ERROR).

The DDR model is tbutil.TopMemory with injected errors (SLVERR for every beat that touches a given byte range,
reads or writes, on every port). The ISA simulator has no bus, so the expected (code, ERROR_PC) of an error
case is given by construction: the index of the instruction whose access hits the range (LOAD aligned and
realigned, weight LOAD on a port other than 0, IM2COL, STORE aligned and unaligned), the instruction whose
fetch hits it, 0xFFFFFFFF for the header read. Independent checks: every error case must also be clean for the
IsaSimulator (or, for the ordering case, fail LATER in program order there), the injected range must really
have been hit, ap_done must come (no hang), a STORE with a write error still writes every other byte as the
simulator does, and the program without errors (run between and after the error cases) matches the simulator.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

import tbutil
from tb_top_dma import accel_config, cleaning
from vitaccel import isa
from vitaccel.isa.image import ImageHeader
from vitaccel.isa.regmap import FIELDS, ErrorCode
from vitaccel.sim.machine import IsaSimulator, SimError

R = isa.REGISTERS
RAM_SIZE = 1 << 17
IMAGE_AT, PROGRAM_AT, INPUT_AT, OUTPUT_AT = 0x1000, 0x8000, 0x10000, 0x18000
CLEAN_IMAGE_AT, CLEAN_PROGRAM_AT = 0x1C000, 0x1F000
PAYLOAD, INPUT_BYTES, OUTPUT_BYTES = 2048, 256, 2048


@dataclass
class Case:
    name: str
    program: bytes
    code: ErrorCode
    pc: int
    read: list[tuple[int, int]] = field(default_factory=list)
    write: list[tuple[int, int]] = field(default_factory=list)
    stalls: bool = False
    sim_says: tuple[ErrorCode, int] = (ErrorCode.NONE, 0)  # the ISA simulator's outcome (no bus errors)


def main_program() -> list[isa.Instruction]:
    """Every DMA path: aligned LOAD, weight LOAD, realigned LOAD, IM2COL, aligned and unaligned STORE."""
    return [
        isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=64, dst=0, row_bytes=512, rows=1),
        isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=0, ddr_off=576, dst=0,
                 row_bytes=512, rows=1),
        isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=1091, dst=512, row_bytes=200,
                 rows=1),
        isa.make("IM2COL", ddr_base=isa.DdrBase.INPUT, ddr_off=0, dst=1024, height=16, width=16, chans=1, patch=4,
                 dst_pitch=16),
        isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT, ddr_off=0, src=0, row_bytes=1024, rows=1),
        isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT, ddr_off=1029, src=1024, row_bytes=256, rows=1),
        isa.make("END"),
    ]


def order_program() -> bytes:
    """A weight LOAD (non-blocking: dispatch goes on) followed by an illegal opcode: with a bus error on the
    LOAD, AXI_ERROR at 1 must beat the decode error at 2 that the dispatcher sees first."""
    words = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=64, dst=0, row_bytes=64,
                      rows=1),
             isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=1, ddr_off=64, dst=0,
                      row_bytes=1024, rows=1),
             isa.make("NOP"), isa.make("END")]
    prog = bytearray(isa.encode_program(words))
    prog[2 * isa.INSTR_BYTES] = 0xFF  # opcode byte of instruction 2
    return bytes(prog)


def cases() -> list[Case]:
    main = isa.encode_program(main_program())
    past_end = isa.encode_program([*main_program(), isa.make("NOP"), isa.make("NOP")])
    img = IMAGE_AT
    return [
        Case("clean", main, ErrorCode.NONE, 0),
        Case("load-aligned", main, ErrorCode.AXI_ERROR, 0, read=[(img + 64 + 100, img + 64 + 101)]),
        Case("load-wbuf-port1", main, ErrorCode.AXI_ERROR, 1, read=[(img + 576 + 300, img + 576 + 301)]),
        Case("load-realigned", main, ErrorCode.AXI_ERROR, 2, read=[(img + 1091 + 50, img + 1091 + 51)]),
        Case("im2col", main, ErrorCode.AXI_ERROR, 3, read=[(INPUT_AT + 100, INPUT_AT + 101)]),
        Case("store-aligned", main, ErrorCode.AXI_ERROR, 4, write=[(OUTPUT_AT + 500, OUTPUT_AT + 516)]),
        Case("store-unaligned", main, ErrorCode.AXI_ERROR, 5, write=[(OUTPUT_AT + 1129, OUTPUT_AT + 1130)],
             stalls=True),
        Case("load-stalls", main, ErrorCode.AXI_ERROR, 2, read=[(img + 1091 + 190, img + 1091 + 191)], stalls=True),
        Case("fetch", main, ErrorCode.AXI_ERROR, 3, read=[(PROGRAM_AT + 3 * 32 + 5, PROGRAM_AT + 3 * 32 + 6)]),
        Case("fetch-first", main, ErrorCode.AXI_ERROR, 0, read=[(PROGRAM_AT, PROGRAM_AT + 1)]),
        Case("header", main, ErrorCode.AXI_ERROR, 0xFFFFFFFF, read=[(img + 8, img + 9)]),
        Case("fetch-past-end", past_end, ErrorCode.NONE, 0, read=[(PROGRAM_AT + 8 * 32, PROGRAM_AT + 9 * 32)]),
        Case("order-clean", order_program(), ErrorCode.ILLEGAL_OPCODE, 2, sim_says=(ErrorCode.ILLEGAL_OPCODE, 2)),
        Case("order-wbuf-load", order_program(), ErrorCode.AXI_ERROR, 1, read=[(img + 64 + 1000, img + 64 + 1001)],
             sim_says=(ErrorCode.ILLEGAL_OPCODE, 2)),
        Case("clean-again", main, ErrorCode.NONE, 0, stalls=True),
    ]


@cocotb.test()
async def top_axi_errors(dut):
    c = tbutil.cfg()
    gen = tbutil.rng()
    cfg = accel_config(c)
    top = await tbutil.TopHarness.start(dut, RAM_SIZE)
    ram, rd, wr = top.ram, top.rd, top.wr

    await wr(R["GIE"], 1)
    await wr(R["IER"], FIELDS["IER_AP_DONE"].mask)
    header = ImageHeader(config_hash=cfg.config_hash(), image_bytes=64 + PAYLOAD, const_offset=64, const_bytes=0,
                         weights_offset=64, weights_bytes=0, input_bytes=INPUT_BYTES, output_bytes=OUTPUT_BYTES,
                         instr_count=0, program_crc32=0, axi_data_bits=cfg.axi_data_bits, payload_crc32=0).pack()
    image = header + gen.integers(0, 256, PAYLOAD, dtype=np.uint8).tobytes()
    inp = gen.integers(0, 256, INPUT_BYTES, dtype=np.uint8)
    ram.write(IMAGE_AT, image)
    ram.write(INPUT_AT, inp.tobytes())
    clean_prog, clean_img = cleaning(cfg)  # the simulator's buffers start at zero, the hardware's are not reset
    ram.write(CLEAN_IMAGE_AT, clean_img)
    ram.write(CLEAN_PROGRAM_AT, clean_prog)

    async def start_and_wait(name: str, prog_at: int, n_instr: int, image_at: int) -> None:
        for reg, value in (("PROGRAM_ADDR", prog_at), ("IMAGE_ADDR", image_at), ("INPUT_ADDR", INPUT_AT),
                           ("OUTPUT_ADDR", OUTPUT_AT), ("INSTR_COUNT", n_instr)):
            await wr(R[f"{reg}_LO"], value)
            await wr(R[f"{reg}_HI"], 0)
        await wr(R["AP_CTRL"], isa.regmap.AP_CTRL_START)
        for _ in range(5000):
            await ClockCycles(dut.ap_clk, 8)
            if int(dut.interrupt.value):
                break
        else:
            raise AssertionError(f"{name}: no ap_done (hang)")
        ctrl = await rd(R["AP_CTRL"])
        assert FIELDS["AP_CTRL_DONE"].get(ctrl) and FIELDS["AP_CTRL_IDLE"].get(ctrl), f"{name}: AP_CTRL {ctrl:#x}"
        await wr(R["ISR"], FIELDS["ISR_AP_DONE"].mask)

    for case in cases():
        # the ISA simulator: the same program without a bus
        try:
            sim_out = bytes(IsaSimulator(cfg).run(case.program, image, inp, timing=False).output)
            sim_code, sim_pc = ErrorCode.NONE, 0
        except SimError as exc:
            sim_out, sim_code, sim_pc = None, exc.code, exc.index
        assert (sim_code, sim_pc) == case.sim_says, f"{case.name}: ISA simulator says {sim_code.name} at {sim_pc}"
        for j, ch in enumerate(ram.channels):
            if case.stalls:
                ch.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(53 + 2 * j) < 0.4]))
            else:
                ch.set_pause_generator(None)
                ch.pause = False
        ram.inject_errors()  # OKAY for the cleaning program
        ram.write(PROGRAM_AT, case.program)
        ram.write(OUTPUT_AT, bytes(OUTPUT_BYTES))
        await start_and_wait("cleaning", CLEAN_PROGRAM_AT, len(clean_prog) // isa.INSTR_BYTES, CLEAN_IMAGE_AT)
        assert await rd(R["STATUS"]) == isa.status_word(ErrorCode.NONE), "cleaning program failed"
        ram.inject_errors(read=case.read, write=case.write)
        before = dict(ram.error_beats)
        await start_and_wait(case.name, PROGRAM_AT, len(case.program) // isa.INSTR_BYTES, IMAGE_AT)
        status, epc = await rd(R["STATUS"]), await rd(R["ERROR_PC"])
        code, err, done = isa.decode_status(status)
        assert (code, epc) == (case.code, case.pc if case.code != ErrorCode.NONE else 0), (
            f"{case.name}: STATUS {status:#x} ({code.name}) ERROR_PC {epc:#x}, expected {case.code.name} at "
            f"{case.pc:#x}")
        assert done and err == (case.code != ErrorCode.NONE), f"{case.name}: STATUS {status:#x}"
        hits = {k: ram.error_beats[k] - before[k] for k in before}
        if case.code == ErrorCode.AXI_ERROR:
            assert hits["read" if case.read else "write"] > 0, f"{case.name}: the injected range was never accessed"
        ram.inject_errors()
        got = ram.read(OUTPUT_AT, OUTPUT_BYTES)
        if case.code == ErrorCode.NONE:
            assert got == sim_out, f"{case.name}: OUTPUT differs from the ISA simulator"
        elif case.write:
            # a STORE with a write error still moves every other byte (the earlier STOREs complete too)
            keep = np.ones(OUTPUT_BYTES, dtype=bool)
            beat = cfg.axi_data_bits // 8  # the model drops the whole beat that touches the range
            for lo, hi in case.write:
                keep[(lo - OUTPUT_AT) // beat * beat:-(-(hi - OUTPUT_AT) // beat) * beat] = False
            # the simulator's output of the program cut after the failing STORE
            cut = case.program[:(case.pc + 1) * isa.INSTR_BYTES] + isa.encode(isa.make("END"))
            exp = np.frombuffer(bytes(IsaSimulator(cfg).run(cut, image, inp, timing=False).output), np.uint8)
            g = np.frombuffer(got, np.uint8)
            bad = np.flatnonzero((g != exp) & keep)
            assert bad.size == 0, f"{case.name}: {bad.size} bytes outside the error range differ, first {bad[:8]}"
        dut._log.info("%-16s %-14s ERROR_PC=%#x  injected beats %s  stalls=%s", case.name, code.name, epc, hits,
                      case.stalls)
