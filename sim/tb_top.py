"""cocotb system testbench: vitaccel_top's control path (register map, image header check, instruction fetch,
decode-time errors) against the ISA simulator on the same program and memory image, with cocotbext-axi's
AxiLiteMaster on s_axi_control and AxiRam on every m_axi_gmem<p>. Programs use NOP / SYNC / END plus corrupted
instructions (the datapath instructions are covered by tb_top_dma / tb_top_program)."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

import tbutil
from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.isa.image import ImageHeader
from vitaccel.isa.regmap import FIELDS, ErrorCode, error_name
from vitaccel.sim.machine import IsaSimulator, SimError

R = isa.REGISTERS
IMAGE_AT, PROGRAM_AT = 0x1000, 0x4000


def corrupt(word: bytearray, kind: str, gen: np.random.Generator) -> None:
    if kind == "opcode":
        legal = {int(o) for o in isa.Opcode}
        word[0] = int(gen.choice([v for v in range(256) if v not in legal]))
    elif kind == "version":
        word[1] = (word[1] & 0xF0) | int(gen.choice([v for v in range(16) if v != isa.ISA_MAJOR]))
    elif kind == "reserved":
        bit = int(gen.integers(12, 256))
        word[bit // 8] |= 1 << (bit % 8)


def programs(gen: np.random.Generator, n_random: int):
    """(name, program bytes, header overrides) cases."""
    nop, sync, end = (isa.encode(isa.make(o)) for o in ("NOP", "SYNC", "END"))
    out = [("nop-sync-end", nop + sync + nop + end, {}), ("end-only", end, {}), ("no-end", nop + nop, {}),
           ("bad-magic", end, {"magic": 0x12345678}), ("bad-hash", end, {"config_hash": 1})]
    gemm = bytearray(isa.encode(isa.make("GEMM", pimm=1, m=1, n=1, k=1)))
    gemm[16 + 3] |= 0x40  # bit 158: above the 22-bit mult/shift overlay of pimm = 1 -> reserved
    out.append(("gemm-pimm1-reserved", nop + bytes(gemm) + end, {}))
    for i in range(n_random):
        n = int(gen.integers(1, 10))
        words = [bytearray(nop if gen.random() < 0.5 else sync) for _ in range(n)]
        if gen.random() < 0.8:
            words.append(bytearray(end))
        if gen.random() < 0.8:
            corrupt(words[int(gen.integers(0, len(words)))], str(gen.choice(["opcode", "version", "reserved"])), gen)
        out.append((f"random-{i}", b"".join(bytes(w) for w in words), {}))
    return out


def header(cfg, program: bytes, over: dict) -> bytes:
    h = ImageHeader(config_hash=over.get("config_hash", cfg.config_hash()), image_bytes=64, const_offset=64,
                    const_bytes=0, weights_offset=64, weights_bytes=0, input_bytes=0, output_bytes=0,
                    instr_count=len(program) // isa.INSTR_BYTES, program_crc32=0, axi_data_bits=cfg.axi_data_bits,
                    payload_crc32=0).pack()
    if "magic" in over:
        h = over["magic"].to_bytes(4, "little") + h[4:]
    return h


@cocotb.test()
async def top_control_path(dut):
    c = tbutil.cfg()
    gen = tbutil.rng()
    cfg = derive_accelerator_config(c["board"], {k: int(c[k]) for k in ("array_rows", "array_cols") if k in c})
    top = await tbutil.TopHarness.start(dut, 1 << 16)
    ram, rd, wr = top.ram, top.rd, top.wr

    assert await rd(R["ID"]) == isa.ACCEL_ID and await rd(R["CONFIG_HASH"]) == cfg.config_hash()
    await wr(R["GIE"], 1)
    await wr(R["IER"], 1)
    for name, prog, over in programs(gen, int(c.get("n_random", 10))):
        img = header(cfg, prog, over)
        try:
            IsaSimulator(cfg).run(prog, img, np.zeros(0, dtype=np.uint8), timing=False)
            exp_code, exp_pc = ErrorCode.NONE, 0
        except SimError as exc:
            exp_code, exp_pc = exc.code, exc.index & 0xFFFFFFFF
        ram.write(IMAGE_AT, img)
        ram.write(PROGRAM_AT, prog)
        for reg, val in (("PROGRAM_ADDR", PROGRAM_AT), ("IMAGE_ADDR", IMAGE_AT),
                         ("INSTR_COUNT", len(prog) // isa.INSTR_BYTES)):
            await wr(R[f"{reg}_LO"], val)
            await wr(R[f"{reg}_HI"], 0)
        await wr(R["AP_CTRL"], 1)
        for _ in range(5000):
            await ClockCycles(dut.ap_clk, 4)
            if int(dut.interrupt.value):
                break
        else:
            raise AssertionError(f"{name}: no ap_done interrupt (hang)")
        done_idle = FIELDS["AP_CTRL_DONE"].mask | FIELDS["AP_CTRL_IDLE"].mask
        assert (await rd(R["AP_CTRL"])) & done_idle == done_idle, f"{name}: AP_CTRL lacks done|idle"
        status, epc = await rd(R["STATUS"]), await rd(R["ERROR_PC"])
        code = error_name(FIELDS["STATUS_CODE"].get(status))
        assert status == isa.status_word(exp_code, True), (
            f"{name}: STATUS {status:#x} ({code}), ISA simulator says {exp_code.name}")
        assert epc == exp_pc, f"{name}: ERROR_PC {epc:#x}, ISA simulator says {exp_pc:#x}"
        cyc = await rd(R["CYCLES_LO"])
        assert cyc > 0
        await wr(R["ISR"], 1)
        dut._log.info("%-22s %-14s pc=%-10s %d cycles  (matches the ISA simulator)", name, code,
                      hex(epc), cyc)
