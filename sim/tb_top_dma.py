"""cocotb system testbench: vitaccel_top executing LOAD / STORE / IM2COL (with SYNC / NOP / END) against the ISA
simulator.

Each case is a program plus a memory image (header + random payload with a zero area), a random input region
and an OUTPUT region; the same bytes go to cocotbext-axi's AxiRam (every m_axi_gmem<p>, optional random stalls on every
AXI channel) and to vitaccel.sim.IsaSimulator. Checked per case: STATUS and ERROR_PC equal the simulator's
(SimError code / index, or NONE), and the OUTPUT region bytes equal the simulator's output. For a program that
stops with an error the expected OUTPUT is the simulator's output of the instructions before the failing one
(the same program cut there and ended). Guard bytes around OUTPUT must stay untouched (STORE byte strobes).
The simulator's ACT and weight buffers start at zero, the hardware's are not reset: before each case a cleaning
program (LOADs of zeros over ACT and both weight halves, END) runs, and every program also starts with a LOAD
that zeroes ACT from its image's zero area. ap_start makes both halves EMPTY again.

Programs are random: LOADs to ACT (any DDR region, any byte offset / row bytes / stride), LOADs to either
weight-buffer half, STOREs (any byte offset / stride in OUTPUT), IM2COLs of small random images (each followed
by a STORE of its patch rows), SYNC / NOP, and with some probability one corrupted instruction (out-of-range or
overflowing offsets, misalignment, zero sizes, pitch < row bytes, undefined ddr_base / space, STORE outside
OUTPUT, cond before ROUTE, WBUF rows != 1, a patch that does not divide the image), plus the WBUF_STATE error
that a second LOAD to a FULL half raises (no instruction releases a half yet).
"""

from __future__ import annotations

import itertools

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

import tbutil
from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.isa.image import ImageHeader
from vitaccel.isa.regmap import ErrorCode
from vitaccel.sim.machine import IsaSimulator, SimError

R = isa.REGISTERS
RAM_SIZE = 1 << 18
IMAGE_AT, PROGRAM_AT, INPUT_AT, OUTPUT_AT = 0x1000, 0x8000, 0x10000, 0x20000
CLEAN_IMAGE_AT, CLEAN_PROGRAM_AT = 0x30000, 0x3F000
GUARD = 64


def accel_config(c: dict):
    return derive_accelerator_config(c["board"], {
        "act_buffer_bytes": int(c["act_bytes"]), "weight_buffer_bytes": int(c["wbuf_bytes"]),
        "array_rows": int(c["array_rows"]), "array_cols": int(c["array_cols"])})


class Case:
    """One program with its image / input / output sizes."""

    def __init__(self, name: str, cfg, gen: np.random.Generator, n_instr: int, p_error: float,
                 with_gemm: bool = False):
        self.name, self.cfg, self.with_gemm = name, cfg, with_gemm
        self.full = [False, False]  # the generator's guess of the weight-buffer state (the simulator decides)
        self.patches: list[tuple[int, bytes]] = []  # (payload offset, bytes): epilogue records
        self.rec_next = 0
        self.act, self.wb = cfg.act_buffer_bytes, cfg.weight_buffer_bytes
        self.payload = int(gen.integers(256, 3000))
        self.zero_at = 64 + self.payload                  # zero area (ACT_BYTES) at the end of the image
        self.image_bytes = self.zero_at + self.act
        self.input_bytes = int(gen.integers(0, 2500)) if gen.random() < 0.9 else 0
        self.output_bytes = int(gen.integers(1, 3000))
        self.in_phase = int(gen.integers(0, 16)) if gen.random() < 0.5 else 0
        self.out_phase = int(gen.integers(0, 16)) if gen.random() < 0.5 else 0
        self.gen = gen
        words = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=self.zero_at, dst=0,
                          row_bytes=self.act, rows=1)]
        bad_at = int(gen.integers(1, n_instr + 1)) if gen.random() < p_error else -1
        for i in range(1, n_instr + 1):
            words.extend(self.instr(bad=(i == bad_at)))
        if gen.random() < 0.95:
            words.append(isa.make("END"))
        self.program = isa.encode_program(words)
        self.header = ImageHeader(config_hash=cfg.config_hash(), image_bytes=self.image_bytes, const_offset=64,
                                  const_bytes=0, weights_offset=64, weights_bytes=0, input_bytes=self.input_bytes,
                                  output_bytes=self.output_bytes, instr_count=len(words), program_crc32=0,
                                  axi_data_bits=cfg.axi_data_bits, payload_crc32=0).pack()
        payload = bytearray(gen.integers(0, 256, self.payload, dtype=np.uint8).tobytes())
        for off, data in self.patches:
            payload[off:off + len(data)] = data
        self.image = self.header + bytes(payload) + bytes(self.act)
        self.input = gen.integers(0, 256, max(self.input_bytes, 1), dtype=np.uint8)

    def _rows_span(self, size: int, rows: int, rb: int, stride: int) -> int:
        """A random offset at which (rows, rb, stride) fits in `size` bytes (0 when it cannot)."""
        need = (rows - 1) * stride + rb
        return int(self.gen.integers(0, size - need + 1)) if need <= size else 0

    def im2col(self, bad: bool) -> list[isa.Instruction]:
        g = self.gen
        p, gh, gw = int(g.choice([1, 2, 3, 4, 5])), int(g.integers(1, 5)), int(g.integers(1, 5))
        c = int(g.integers(1, 4))
        h, w, n = gh * p, gw * p, c * gh * p * gw * p
        base = int(g.choice([isa.DdrBase.INPUT, isa.DdrBase.IMAGE], p=[0.7, 0.3]))
        size = self.input_bytes if base == isa.DdrBase.INPUT else self.image_bytes
        rows, rb = gh * gw, c * p * p
        pitch = (-(-rb // 16) + int(g.integers(0, 2))) * 16
        span = (rows - 1) * pitch + rb
        f = dict(ddr_base=base, ddr_off=self._rows_span(size, 1, n, n),
                 dst=16 * int(g.integers(0, (self.act - span) // 16 + 1)), height=h, width=w, chans=c, patch=p,
                 dst_pitch=pitch)
        if bad:
            kind = str(g.choice(["p0", "c0", "h0", "indiv", "base3", "off_range", "off_overflow", "misalign",
                                 "pitch_misalign", "dst_range", "dst_overflow", "pitch_small"]))
            if kind == "p0":
                f["patch"] = 0
            elif kind == "c0":
                f["chans"] = 0
            elif kind == "h0":
                f["height"] = 0
            elif kind == "indiv":
                f["patch"], f["height"], f["width"] = 3, 6 + int(g.integers(1, 3)), 6
            elif kind == "base3":
                f["ddr_base"] = 3
            elif kind == "off_range":
                f["ddr_off"] = int(g.integers(1 << 12, 1 << 32))
            elif kind == "off_overflow":
                f["ddr_off"] = max(0, size - int(g.integers(1, n + 1)))
            elif kind == "misalign":
                f["dst"] += int(g.integers(1, 16))
            elif kind == "pitch_misalign":
                f["dst_pitch"] += int(g.integers(1, 16))
            elif kind == "dst_range":
                f["dst"] = self.act + 16 * int(g.integers(0, 100))
            elif kind == "dst_overflow":
                f["dst"] = ((self.act - int(g.integers(1, span + 1))) // 16) * 16
            elif kind == "pitch_small":
                f["dst_pitch"] = 16 * int(g.integers(0, max(1, rb // 16)))
        out = [isa.make("IM2COL", **f)]
        need = (rows - 1) * rb + rb
        if need <= self.output_bytes:
            out.append(isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT,
                                ddr_off=int(g.integers(0, self.output_bytes - need + 1)), src=f["dst"], row_bytes=rb,
                                rows=rows, src_pitch=pitch, dst_stride=rb))
        return out

    def gemm(self, bad: bool) -> list[isa.Instruction]:
        """LOAD random bytes over the operand area, GEMM REQ8 (immediates or a record; B in ACT or WBUF), STORE."""
        g = self.gen
        m, n, k = int(g.integers(1, 11)), int(g.integers(1, 21)), int(g.integers(1, 13))
        trans, a_u8 = int(g.random() < 0.4), int(g.random() < 0.3)
        ap = (-(-k // 16) + int(g.integers(0, 2))) * 16
        bp = (-(-n // 16) + int(g.integers(0, 2))) * 16
        orows, ocols = (n, m) if trans else (m, n)
        dp = (-(-ocols // 16) + int(g.integers(0, 2))) * 16
        third = self.act // 4
        a = 16 * int(g.integers(0, (third - ((m - 1) * ap + k)) // 16 + 1))
        b = third + 16 * int(g.integers(0, (third - ((k - 1) * bp + n)) // 16 + 1))
        dst = 2 * third + 16 * int(g.integers(0, (2 * third - ((orows - 1) * dp + ocols)) // 16 + 1))
        f = dict(epi=isa.Epilogue.REQ8, pimm=1, bsrc=isa.BSrc.ACT, trans=trans, a_u8=a_u8, a=a, b=b, dst=dst,
                 mult=int(g.integers(0, 1 << 16)), shift=int(g.integers(8, 28)), m=m, n=n, k=k, a_pitch=ap,
                 b_pitch=bp, dst_pitch=dp)
        pre = []
        half = int(g.integers(0, 2))
        rec = isa.record_bytes("req", n)
        if g.random() < 0.45 and self.rec_next + rec <= min(self.payload, self.wb):
            # per-channel bias / mult / shift from a "req" record in the half (it is in the image payload that the
            # half is loaded from); now and then a shift above 63 (BAD_FIELD found at run time)
            shift = g.integers(8, 28, n)
            if g.random() < 0.08:
                shift[int(g.integers(0, n))] = int(g.integers(64, 256))
            self.patches.append((self.rec_next, isa.pack_record(
                "req", n, bias=g.integers(-(1 << 16), 1 << 16, n), mult=g.integers(0, 1 << 16, n), shift=shift)))
            del f["mult"], f["shift"]
            f.update(pimm=0, param=self.rec_next, wbuf=half)
            self.rec_next += rec
        if g.random() < 0.5:  # B = packed column tiles in a weight-buffer half (loaded first when EMPTY)
            nbytes = isa.b_tiles_bytes(k, n, self.cfg.array_cols)
            f.update(bsrc=isa.BSrc.WBUF, wbuf=half, b=16 * int(g.integers(0, (self.wb - nbytes) // 16 + 1)),
                     b_pitch=0)
        if (f["bsrc"] == isa.BSrc.WBUF or not f["pimm"]) and not self.full[half] and g.random() < 0.9:
            pre.append(isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=half,
                                ddr_off=64, dst=0, row_bytes=min(self.payload, self.wb), rows=1))
            self.full[half] = True
        if g.random() < 0.25:
            f["release"], f["wbuf"] = 1, half
            self.full[half] = False
        if bad:
            kinds = ["cond", "qrows", "gather", "epi_undef", "m0", "n0", "k0", "a_misalign", "b_pitch_misalign",
                     "dst_misalign", "a_range", "b_overflow", "dst_overflow", "a_pitch_small", "softmax_notrans",
                     "resadd_trans", "moe_pimm"]
            kinds += ["gelu_pimm"] if f["pimm"] else ["param_misalign", "param_range", "param_overflow"]
            kind = str(g.choice(kinds))
            if kind in ("cond", "qrows", "gather"):
                f[kind] = 1
            elif kind == "epi_undef":
                f["epi"] = int(g.integers(6, 16))
            elif kind in ("m0", "n0", "k0"):
                f[kind[0]] = 0
            elif kind == "a_misalign":
                f["a"] += int(g.integers(1, 16))
            elif kind == "b_pitch_misalign":
                f["k"] = max(2, k)
                f["b_pitch"] += int(g.integers(1, 16))
            elif kind == "dst_misalign":
                f["dst"] += int(g.integers(1, 16))
            elif kind == "a_range":
                f["a"] = self.act + 16 * int(g.integers(0, 50))
            elif kind == "b_overflow":
                size = self.wb if f["bsrc"] == isa.BSrc.WBUF else self.act
                f["b"] = ((size - int(g.integers(1, n + 1))) // 16) * 16
            elif kind == "dst_overflow":
                f["dst"] = ((self.act - int(g.integers(1, ocols + 1))) // 16) * 16
            elif kind == "a_pitch_small":
                f["m"], f["k"], f["a_pitch"] = max(2, m), 17, 16
            elif kind == "softmax_notrans":
                f["epi"], f["trans"] = isa.Epilogue.SOFTMAX, 0
            elif kind == "gelu_pimm":
                f["epi"] = isa.Epilogue.GELU8
            elif kind == "resadd_trans":
                f["epi"], f["trans"] = isa.Epilogue.RESADD, 1
            elif kind == "moe_pimm":
                f["epi"] = isa.Epilogue.MOE_COMBINE
            elif kind == "param_misalign":
                f["param"] += int(g.integers(1, 16))
            elif kind == "param_range":
                f["param"] = self.wb + 16 * int(g.integers(0, 100))
            elif kind == "param_overflow":
                f["param"] = ((self.wb - int(g.integers(1, rec))) // 16) * 16
        rb = min(self.payload, 2 * third)
        out = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=64, dst=0, row_bytes=rb,
                        rows=1),
               *pre, isa.make("GEMM", **f)]
        if orows * ocols <= self.output_bytes:
            out.append(isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT,
                                ddr_off=int(g.integers(0, self.output_bytes - orows * ocols + 1)), src=dst,
                                row_bytes=ocols, rows=orows, src_pitch=dp, dst_stride=ocols))
        return out

    def instr(self, bad: bool) -> list[isa.Instruction]:
        g = self.gen
        kinds, probs = ["load_act", "load_wbuf", "store", "im2col", "sync", "nop"], [0.3, 0.1, 0.3, 0.14, 0.08, 0.08]
        if self.with_gemm:
            kinds, probs = [*kinds, "gemm"], [0.22, 0.1, 0.22, 0.1, 0.06, 0.05, 0.25]
        kind = g.choice(kinds, p=probs)
        if kind in ("sync", "nop"):
            return [isa.make(kind.upper())]
        if kind == "gemm":
            return self.gemm(bad)
        if kind == "im2col":
            return self.im2col(bad)
        rows = int(g.integers(1, 5))
        rb = int(g.integers(1, 120))
        pitch = (-(-rb // 16) + int(g.integers(0, 3))) * 16
        stride = rb + int(g.integers(0, 40))
        if kind == "load_wbuf":
            half = int(g.integers(0, 2))
            base = int(g.choice([isa.DdrBase.IMAGE, isa.DdrBase.INPUT]))
            size = self.image_bytes if base == isa.DdrBase.IMAGE else self.input_bytes
            rb = min(rb * 4, self.wb)
            self.full[half] = True
            f = dict(ddr_base=base, space=isa.Space.WBUF, wbuf=half, ddr_off=self._rows_span(size, 1, rb, rb),
                     dst=16 * int(g.integers(0, (self.wb - rb) // 16 + 1)), row_bytes=rb, rows=1)
            op = "LOAD"
        elif kind == "load_act":
            base = int(g.choice([isa.DdrBase.IMAGE, isa.DdrBase.INPUT, isa.DdrBase.OUTPUT], p=[0.5, 0.35, 0.15]))
            size = {isa.DdrBase.IMAGE: self.image_bytes, isa.DdrBase.INPUT: self.input_bytes,
                    isa.DdrBase.OUTPUT: self.output_bytes}[isa.DdrBase(base)]
            span = (rows - 1) * pitch + rb
            f = dict(ddr_base=base, space=isa.Space.ACT, ddr_off=self._rows_span(size, rows, rb, stride),
                     dst=16 * int(g.integers(0, (self.act - span) // 16 + 1)), row_bytes=rb, rows=rows,
                     dst_pitch=pitch, src_stride=stride)
            op = "LOAD"
        else:
            span = (rows - 1) * pitch + rb
            f = dict(ddr_base=isa.DdrBase.OUTPUT, ddr_off=self._rows_span(self.output_bytes, rows, rb, stride),
                     src=16 * int(g.integers(0, (self.act - span) // 16 + 1)), row_bytes=rb, rows=rows,
                     src_pitch=pitch, dst_stride=stride)
            op = "STORE"
        if bad:
            self.corrupt(op, f)
        return [isa.make(op, **f)]

    def corrupt(self, op: str, f: dict) -> None:
        g = self.gen
        mem = "dst" if op == "LOAD" else "src"
        pitch = "dst_pitch" if op == "LOAD" else "src_pitch"
        stride = "src_stride" if op == "LOAD" else "dst_stride"
        choices = ["off_range", "off_overflow", "mem_range", "mem_overflow", "misalign", "pitch_misalign",
                   "rows0", "rb0", "pitch_small", "stride_small", "base3", "huge_rows"]
        choices += ["space", "cond", "wbuf_rows"] if op == "LOAD" else ["store_base"]
        kind = str(g.choice(choices))
        size_mem = self.wb if f.get("space") == isa.Space.WBUF else self.act
        if kind == "off_range":
            f["ddr_off"] = int(g.integers(1 << 12, 1 << 32))
        elif kind == "off_overflow":
            f["ddr_off"] = max(0, 3000 - int(g.integers(0, 40)))
        elif kind == "mem_range":
            f[mem] = size_mem + 16 * int(g.integers(0, 1000))
        elif kind == "mem_overflow":
            f[mem] = ((size_mem - int(g.integers(1, 60))) // 16) * 16
        elif kind == "misalign":
            f[mem] = f[mem] + int(g.integers(1, 16))
        elif kind == "pitch_misalign":
            f["rows"] = max(2, f["rows"])
            f[pitch] = f.get(pitch, 16) + int(g.integers(1, 16))
        elif kind == "rows0":
            f["rows"] = 0
        elif kind == "rb0":
            f["row_bytes"] = 0
        elif kind == "pitch_small":
            f["rows"], f["row_bytes"], f[pitch] = 2, 48, 32
        elif kind == "stride_small":
            f["rows"] = max(2, f["rows"])
            f[stride] = int(g.integers(0, f["row_bytes"]))
        elif kind == "base3":
            f["ddr_base"] = 3
        elif kind == "huge_rows":
            f["rows"], f[pitch], f[stride] = 0xFFFF, 0xFFF0, 0xFFFFFFF0
        elif kind == "space":
            f["space"] = int(g.integers(2, 4))
        elif kind == "cond":
            f["cond"] = 1
        elif kind == "wbuf_rows":
            f["space"], f["rows"] = isa.Space.WBUF, 2
        elif kind == "store_base":
            f["ddr_base"] = int(g.integers(0, 2))

    def expected(self) -> tuple[ErrorCode, int, bytes]:
        sim = IsaSimulator(self.cfg)
        try:
            res = sim.run(self.program, self.image, self.input, timing=False)
            return ErrorCode.NONE, 0, bytes(res.output)
        except SimError as exc:
            code, pc = exc.code, exc.index
        if code in (ErrorCode.NONE, ErrorCode.BAD_IMAGE):
            return code, pc & 0xFFFFFFFF, bytes(self.output_bytes)
        cut = self.program[:pc * isa.INSTR_BYTES] + isa.encode(isa.make("END"))
        res = sim.run(cut, self.image, self.input, timing=False)
        return code, pc, bytes(res.output)


def cleaning(cfg) -> tuple[bytes, bytes]:
    """(program, image): zero ACT and both weight-buffer halves."""
    zeros = max(cfg.act_buffer_bytes, cfg.weight_buffer_bytes)
    prog = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=64, dst=0,
                     row_bytes=cfg.act_buffer_bytes, rows=1)]
    prog += [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=h, ddr_off=64, dst=0,
                      row_bytes=cfg.weight_buffer_bytes, rows=1) for h in (0, 1)]
    prog.append(isa.make("END"))
    hdr = ImageHeader(config_hash=cfg.config_hash(), image_bytes=64 + zeros, const_offset=64, const_bytes=0,
                      weights_offset=64, weights_bytes=0, input_bytes=0, output_bytes=0, instr_count=len(prog),
                      program_crc32=0, axi_data_bits=cfg.axi_data_bits, payload_crc32=0).pack()
    return isa.encode_program(prog), hdr + bytes(zeros)


def cases(cfg, gen: np.random.Generator, n: int, with_gemm: bool = False):
    out = []
    for i in range(n):
        out.append(Case(f"random-{i}", cfg, gen, int(gen.integers(1, 12)), p_error=0.5, with_gemm=with_gemm))
    return out


@cocotb.test()
async def top_load_store(dut):
    c = tbutil.cfg()
    gen = tbutil.rng()
    cfg = accel_config(c)
    assert int(dut.ACT_BYTES.value) == cfg.act_buffer_bytes and int(dut.WBUF_BYTES.value) == cfg.weight_buffer_bytes
    top = await tbutil.TopHarness.start(dut, RAM_SIZE)
    ram, rd, wr = top.ram, top.rd, top.wr

    await wr(R["GIE"], 1)
    await wr(R["IER"], 1)
    chans = ram.channels
    seen: dict[str, int] = {}

    async def start_and_wait(name: str, prog_at: int, n_instr: int, image_at: int, in_at: int, out_at: int) -> None:
        for reg, val in (("PROGRAM_ADDR", prog_at), ("IMAGE_ADDR", image_at), ("INPUT_ADDR", in_at),
                         ("OUTPUT_ADDR", out_at), ("INSTR_COUNT", n_instr)):
            await wr(R[f"{reg}_LO"], val)
            await wr(R[f"{reg}_HI"], 0)
        await wr(R["AP_CTRL"], 1)
        for _ in range(20000):
            await ClockCycles(dut.ap_clk, 8)
            if int(dut.interrupt.value):
                break
        else:
            raise AssertionError(f"{name}: no ap_done (hang)")
        assert (await rd(R["AP_CTRL"])) & 0b110 == 0b110, f"{name}: AP_CTRL lacks done|idle"

    clean_prog, clean_img = cleaning(cfg)
    ram.write(CLEAN_IMAGE_AT, clean_img)
    ram.write(CLEAN_PROGRAM_AT, clean_prog)
    for n, case in enumerate(cases(cfg, gen, int(c.get("n_random", 20)), bool(c.get("gemm", False)))):
        stall = n % 3 == 1
        for j, ch in enumerate(chans):
            if stall:
                ch.set_pause_generator(itertools.cycle([bool(x) for x in gen.random(61 + 2 * j) < 0.4]))
            else:
                ch.set_pause_generator(None)
                ch.pause = False  # killing the generator leaves the last pause state
        exp_code, exp_pc, exp_out = case.expected()
        in_at, out_at = INPUT_AT + case.in_phase, OUTPUT_AT + case.out_phase
        ram.write(IMAGE_AT, case.image)
        ram.write(PROGRAM_AT, case.program)
        ram.write(in_at, case.input.tobytes())
        guard = gen.integers(0, 256, GUARD, dtype=np.uint8).tobytes()
        ram.write(out_at - GUARD, guard + bytes(case.output_bytes) + guard)
        await start_and_wait("cleaning", CLEAN_PROGRAM_AT, len(clean_prog) // isa.INSTR_BYTES, CLEAN_IMAGE_AT, 0, 0)
        assert await rd(R["STATUS"]) == isa.status_word(ErrorCode.NONE, True), "cleaning program failed"
        await wr(R["ISR"], 1)
        await start_and_wait(case.name, PROGRAM_AT, len(case.program) // isa.INSTR_BYTES, IMAGE_AT, in_at, out_at)
        status, epc = await rd(R["STATUS"]), await rd(R["ERROR_PC"])
        code = isa.decode_status(status)[0]
        assert status == isa.status_word(exp_code, True), (
            f"{case.name}: STATUS {status:#x} ({code.name}), ISA simulator says {exp_code.name} at {exp_pc}")
        assert epc == exp_pc, f"{case.name}: ERROR_PC {epc:#x}, ISA simulator says {exp_pc:#x}"
        got = ram.read(out_at, case.output_bytes)
        if got != exp_out:
            diff = [i for i in range(case.output_bytes) if got[i] != exp_out[i]]
            raise AssertionError(f"{case.name}: OUTPUT differs at {len(diff)} bytes, first {diff[:8]} "
                                 f"(got {got[diff[0]]:#x}, expected {exp_out[diff[0]]:#x})")
        assert ram.read(out_at - GUARD, GUARD) == guard and ram.read(out_at + case.output_bytes, GUARD) == guard, (
            f"{case.name}: a STORE wrote outside the OUTPUT region")
        await wr(R["ISR"], 1)
        seen[code.name] = seen.get(code.name, 0) + 1
        dut._log.info("%-10s %-13s pc=%-4d out=%d B  stalls=%s  (matches the ISA simulator)", case.name, code.name,
                      epc, case.output_bytes, stall)
    dut._log.info("outcomes: %s", seen)
