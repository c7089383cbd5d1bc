"""The Verilator harness of vitaccel_top (vitaccel.rtlgen.rtlsim, backend "rtlsim") against the ISA simulator.

Random LOAD / STORE / IM2COL / GEMM-REQ8 / NOP / SYNC programs (about half with one corrupted instruction) on a
small configuration: STATUS code and ERROR_PC (SimError code / index) and the OUTPUT bytes must equal the ISA
simulator's (for an error program: its output of the instructions before the failing one). Plus BAD_IMAGE, the
DDR model's bandwidth (token bucket) and latency measured from CYCLES, and the max-cycles timeout.
The first test builds the model (~20-40 s, cached in build/rtlsim/ for later runs).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from vitaccel import isa, toolchain
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.isa import ErrorCode
from vitaccel.isa.image import ImageHeader
from vitaccel.sim.machine import IsaSimulator, SimError

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(not toolchain.verilator().found, reason=f"verilator unavailable: {toolchain.verilator().reason}"),
]

ACT, WBUF = 4096, 1024


def small_config(board: str = "zcu102") -> Any:
    return derive_accelerator_config(board, {"act_buffer_bytes": ACT, "weight_buffer_bytes": WBUF,
                                             "array_rows": 4, "array_cols": 16})


@pytest.fixture(scope="module")
def backend() -> Any:
    from vitaccel.rtlgen.backend import RtlsimBackend

    return RtlsimBackend(small_config())


def header(cfg: Any, image_bytes: int, input_bytes: int, output_bytes: int, n_instr: int) -> bytes:
    return ImageHeader(config_hash=cfg.config_hash(), image_bytes=image_bytes, const_offset=64, const_bytes=0,
                       weights_offset=64, weights_bytes=0, input_bytes=input_bytes, output_bytes=output_bytes,
                       instr_count=n_instr, program_crc32=0, axi_data_bits=cfg.axi_data_bits, payload_crc32=0).pack()


class Program:
    """A random program with its image (header + random payload + a zero area), input and OUTPUT size."""

    def __init__(self, cfg: Any, g: np.random.Generator, n: int, p_error: float):
        self.cfg, self.g = cfg, g
        self.payload = int(g.integers(256, 2500))
        self.zero_at = 64 + self.payload
        self.image_bytes = self.zero_at + ACT
        self.input_bytes = int(g.integers(1, 2000))
        self.output_bytes = int(g.integers(64, 2500))
        self.full = [False, False]
        bad_at = int(g.integers(0, n)) if g.random() < p_error else -1
        words = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=self.zero_at, dst=0,
                          row_bytes=ACT, rows=1)]
        for i in range(n):
            words += self.instr(i == bad_at)
        if g.random() < 0.95:
            words.append(isa.make("END"))
        self.program = isa.encode_program(words)
        self.image = (header(cfg, self.image_bytes, self.input_bytes, self.output_bytes, len(words))
                      + g.integers(0, 256, self.payload, dtype=np.uint8).tobytes() + bytes(ACT))
        self.input = g.integers(0, 256, self.input_bytes, dtype=np.uint8)

    def fit(self, size: int, need: int) -> int:
        return int(self.g.integers(0, size - need + 1)) if need <= size else 0

    def size(self, base: int) -> int:
        return {isa.DdrBase.IMAGE: self.image_bytes, isa.DdrBase.INPUT: self.input_bytes,
                isa.DdrBase.OUTPUT: self.output_bytes}[isa.DdrBase(base)]

    def instr(self, bad: bool) -> list[isa.Instruction]:
        g = self.g
        kind = str(g.choice(["load", "wload", "store", "im2col", "gemm", "nop"], p=[0.25, 0.1, 0.25, 0.1, 0.25, 0.05]))
        if kind == "nop":
            return [isa.make(str(g.choice(["NOP", "SYNC"])))]
        if kind == "gemm":
            return self.gemm(bad)
        if kind == "im2col":
            return self.im2col(bad)
        rows, rb = int(g.integers(1, 5)), int(g.integers(1, 130))
        pitch = (-(-rb // 16) + int(g.integers(0, 3))) * 16
        stride = rb + int(g.integers(0, 40))
        span = (rows - 1) * pitch + rb
        if kind == "wload":
            half = int(g.integers(0, 2))
            base = int(g.choice([isa.DdrBase.IMAGE, isa.DdrBase.INPUT]))
            rb = min(4 * rb, WBUF, self.size(base))
            self.full[half] = True
            f = dict(ddr_base=base, space=isa.Space.WBUF, wbuf=half, ddr_off=self.fit(self.size(base), rb),
                     dst=16 * int(g.integers(0, (WBUF - rb) // 16 + 1)), row_bytes=rb, rows=1)
            op = "LOAD"
        elif kind == "load":
            base = int(g.choice([isa.DdrBase.IMAGE, isa.DdrBase.INPUT, isa.DdrBase.OUTPUT]))
            f = dict(ddr_base=base, space=isa.Space.ACT, ddr_off=self.fit(self.size(base), (rows - 1) * stride + rb),
                     dst=16 * int(g.integers(0, (ACT - span) // 16 + 1)), row_bytes=rb, rows=rows, dst_pitch=pitch,
                     src_stride=stride)
            op = "LOAD"
        else:
            f = dict(ddr_base=isa.DdrBase.OUTPUT, ddr_off=self.fit(self.output_bytes, (rows - 1) * stride + rb),
                     src=16 * int(g.integers(0, (ACT - span) // 16 + 1)), row_bytes=rb, rows=rows, src_pitch=pitch,
                     dst_stride=stride)
            op = "STORE"
        if bad:
            mem = "dst" if op == "LOAD" else "src"
            k = str(g.choice(["off", "mem", "misalign", "rows0", "rb0", "base3", "cond", "pitch"]))
            if k == "off":
                f["ddr_off"] = int(g.integers(1 << 12, 1 << 32))
            elif k == "mem":
                f[mem] = ACT + 16 * int(g.integers(0, 100))
            elif k == "misalign":
                f[mem] += int(g.integers(1, 16))
            elif k in ("rows0", "rb0"):
                f["rows" if k == "rows0" else "row_bytes"] = 0
            elif k == "base3":
                f["ddr_base"] = 3
            elif k == "cond" and op == "LOAD":
                f["cond"] = 1
            else:
                f["rows"], f["row_bytes"], f["dst_pitch" if op == "LOAD" else "src_pitch"] = 2, 48, 32
        return [isa.make(op, **f)]

    def im2col(self, bad: bool) -> list[isa.Instruction]:
        g = self.g
        p, gh, gw, c = int(g.choice([1, 2, 4])), int(g.integers(1, 4)), int(g.integers(1, 4)), int(g.integers(1, 4))
        h, w = gh * p, gw * p
        rows, rb = gh * gw, c * p * p
        pitch = (-(-rb // 16) + int(g.integers(0, 2))) * 16
        f = dict(ddr_base=isa.DdrBase.INPUT, ddr_off=self.fit(self.input_bytes, c * h * w),
                 dst=16 * int(g.integers(0, (ACT - (rows - 1) * pitch - rb) // 16 + 1)), height=h, width=w, chans=c,
                 patch=p, dst_pitch=pitch)
        if bad:
            k = str(g.choice(["p0", "indiv", "misalign", "range"]))
            if k == "p0":
                f["patch"] = 0
            elif k == "indiv":
                f["patch"], f["height"], f["width"] = 3, 7, 6
            elif k == "misalign":
                f["dst"] += int(g.integers(1, 16))
            else:
                f["ddr_off"] = self.input_bytes
        out = [isa.make("IM2COL", **f)]
        if rows * rb <= self.output_bytes:
            out.append(isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT, ddr_off=self.fit(self.output_bytes, rows * rb),
                                src=f["dst"], row_bytes=rb, rows=rows, src_pitch=pitch, dst_stride=rb))
        return out

    def gemm(self, bad: bool) -> list[isa.Instruction]:
        g = self.g
        m, n, k = int(g.integers(1, 9)), int(g.integers(1, 20)), int(g.integers(1, 12))
        trans, a_u8 = int(g.random() < 0.4), int(g.random() < 0.3)
        ap, bp = (-(-k // 16) + int(g.integers(0, 2))) * 16, (-(-n // 16) + int(g.integers(0, 2))) * 16
        orows, ocols = (n, m) if trans else (m, n)
        dp = (-(-ocols // 16) + int(g.integers(0, 2))) * 16
        q = ACT // 4
        f = dict(epi=isa.Epilogue.REQ8, pimm=1, bsrc=isa.BSrc.ACT, trans=trans, a_u8=a_u8,
                 a=16 * int(g.integers(0, (q - ((m - 1) * ap + k)) // 16 + 1)),
                 b=q + 16 * int(g.integers(0, (q - ((k - 1) * bp + n)) // 16 + 1)),
                 dst=2 * q + 16 * int(g.integers(0, (2 * q - ((orows - 1) * dp + ocols)) // 16 + 1)),
                 mult=int(g.integers(0, 1 << 16)), shift=int(g.integers(8, 28)), m=m, n=n, k=k, a_pitch=ap,
                 b_pitch=bp, dst_pitch=dp)
        pre = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=64, dst=0,
                        row_bytes=min(self.payload, 2 * q), rows=1)]
        half = int(g.integers(0, 2))
        if g.random() < 0.4:  # B as packed column tiles in a weight-buffer half
            nbytes = isa.b_tiles_bytes(k, n, self.cfg.array_cols)
            f.update(bsrc=isa.BSrc.WBUF, wbuf=half, b=16 * int(g.integers(0, (WBUF - nbytes) // 16 + 1)), b_pitch=0)
            if not self.full[half]:
                pre.append(isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=half, ddr_off=64,
                                    dst=0, row_bytes=min(self.payload, WBUF), rows=1))
                self.full[half] = True
            if g.random() < 0.3:
                f["release"] = 1
                self.full[half] = False
        if bad:
            kk = str(g.choice(["m0", "k0", "a_misalign", "a_range", "dst_overflow", "epi_undef"]))
            if kk in ("m0", "k0"):
                f[kk[0]] = 0
            elif kk == "a_misalign":
                f["a"] += int(g.integers(1, 16))
            elif kk == "a_range":
                f["a"] = ACT + 16 * int(g.integers(0, 50))
            elif kk == "dst_overflow":
                f["dst"] = ((ACT - int(g.integers(1, ocols + 1))) // 16) * 16
            else:
                f["epi"] = int(g.integers(6, 16))
        out = [*pre, isa.make("GEMM", **f)]
        if orows * ocols <= self.output_bytes:
            out.append(isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT,
                                ddr_off=self.fit(self.output_bytes, orows * ocols), src=f["dst"], row_bytes=ocols,
                                rows=orows, src_pitch=dp, dst_stride=ocols))
        return out

    def expected(self) -> tuple[ErrorCode, int, bytes]:
        """(code, instruction index, OUTPUT bytes) from the ISA simulator."""
        sim = IsaSimulator(self.cfg)
        try:
            return ErrorCode.NONE, 0, bytes(sim.run(self.program, self.image, self.input, timing=False).output)
        except SimError as exc:
            code, pc = exc.code, exc.index
        if pc < 0:
            return code, pc, bytes(self.output_bytes)
        cut = self.program[:pc * isa.INSTR_BYTES] + isa.encode(isa.make("END"))
        return code, pc, bytes(sim.run(cut, self.image, self.input, timing=False).output)


def check_random(backend: Any, seed: int, n_programs: int) -> dict[str, int]:
    g = np.random.default_rng(seed)
    seen: dict[str, int] = {}
    for i in range(n_programs):
        prog = Program(backend.cfg, g, int(g.integers(1, 10)), p_error=0.45)
        code, pc, out = prog.expected()
        try:
            got, cycles = backend.run(prog.program, prog.image, prog.input)
            got_code, got_pc = ErrorCode.NONE, 0
            assert cycles and cycles > 0 and bytes(got) == bytes(backend.last_output)
        except SimError as exc:
            got_code, got_pc = exc.code, exc.index
        assert (got_code, got_pc) == (code, pc), f"program {i}: rtlsim {got_code.name} at {got_pc}, ISA {code.name} at {pc}"
        got_out = bytes(backend.last_output)
        if got_out != out:
            diff = [j for j in range(len(out)) if got_out[j] != out[j]]
            raise AssertionError(f"program {i} ({code.name}): OUTPUT differs at {len(diff)} bytes, first {diff[:8]}")
        seen[code.name] = seen.get(code.name, 0) + 1
    return seen


def test_random_programs_quick(backend: Any) -> None:
    """LOAD / STORE / IM2COL / GEMM-REQ8 programs, some with an operand error, bit-exact vs the ISA simulator."""
    seen = check_random(backend, seed=5, n_programs=50)
    assert seen.get("NONE", 0) >= 5 and len(seen) >= 3, seen


@pytest.mark.slow
def test_random_programs_long(backend: Any) -> None:
    seen = check_random(backend, seed=6, n_programs=300)
    assert len(seen) >= 5, seen


@pytest.mark.slow
def test_random_programs_axi64() -> None:
    """The 64-bit AXI data width of the Zynq-7000 boards (pynq-z2), DSP48E1 packing."""
    from vitaccel.rtlgen.backend import RtlsimBackend

    seen = check_random(RtlsimBackend(small_config("pynq-z2")), seed=7, n_programs=200)
    assert len(seen) >= 4, seen


def _load_program(cfg: Any, n: int) -> tuple[bytes, bytes]:
    prog = isa.encode_program([isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.ACT, ddr_off=64, dst=0,
                                        row_bytes=n, rows=1), isa.make("END")])
    return prog, header(cfg, 64 + n, 0, 0, 2) + bytes(range(256)) * (n // 256)


def test_bad_image_and_no_end(backend: Any) -> None:
    cfg = backend.cfg
    prog, img = _load_program(cfg, 256)
    inp = np.zeros(1, np.uint8)
    for bad in (img[:8] + bytes([img[8] ^ 1]) + img[9:],  # a header byte flipped (magic / version / hash)
                header(replace(cfg, array_rows=5), 64 + 256, 0, 0, 2) + img[64:]):  # another config's hash
        for ref in (IsaSimulator(cfg), backend):
            with pytest.raises(SimError) as ei:
                ref.run(prog, bad, inp)
            assert (ei.value.code, ei.value.index) == (ErrorCode.BAD_IMAGE, -1)
    with pytest.raises(SimError) as ei:  # the header promises more image bytes than given (host-side check)
        backend.run(prog, img[:200], inp)
    assert (ei.value.code, ei.value.index) == (ErrorCode.BAD_IMAGE, -1)
    with pytest.raises(SimError) as ei:
        backend.run(prog[:isa.INSTR_BYTES], img, inp)
    assert (ei.value.code, ei.value.index) == (ErrorCode.NO_END, 1)


def test_ddr_bandwidth_and_latency(backend: Any) -> None:
    """A long LOAD costs bytes / min(bytes per clock, bus bytes per beat) clocks more than a short one, and the
    first-data latency adds to every run, measured from the CYCLES register."""
    from vitaccel.rtlgen.rtlsim import DdrTiming

    cfg = backend.cfg
    beat = cfg.axi_data_bits // 8
    inp = np.zeros(1, np.uint8)

    def cycles(n: int, timing: DdrTiming | None) -> int:
        return int(backend.run(*_load_program(cfg, n), inp, timing=timing)[1])

    for timing in (None, DdrTiming(40, 40, 4.0), DdrTiming(40, 40, 2.5)):
        bpc = min((timing or backend.model.timing).bytes_per_cycle, beat)
        extra = cycles(4096, timing) - cycles(1024, timing)
        assert abs(extra - 3072 / bpc) <= 0.05 * 3072 / bpc + 4, (timing, extra, 3072 / bpc)
    # latency: every dependent read round trip (header, instruction fetch, the LOAD's data) waits it once more
    lat = [cycles(1024, DdrTiming(L, L, 4.0)) for L in (40, 140)]
    assert (lat[1] - lat[0]) % 100 == 0 and lat[1] - lat[0] >= 300, lat


def test_timeout(backend: Any) -> None:
    from vitaccel.rtlgen.rtlsim import RtlsimTimeout

    prog, img = _load_program(backend.cfg, 4096)
    with pytest.raises(RtlsimTimeout, match="no ap_done within 50 clocks") as ei:
        backend.run(prog, img, np.zeros(1, np.uint8), max_cycles=50)
    assert ei.value.result.timed_out
    _, cyc = backend.run(prog, img, np.zeros(1, np.uint8))  # the next run starts from a fresh model
    assert cyc and cyc > 50


def test_runtime_rtlsim_device() -> None:
    """The runtime's rtlsim device (the emulated register file over this backend): a GEMM program through the
    s_axilite protocol gives the isa device's STATUS and OUTPUT; an error program its STATUS / ERROR_PC."""
    from vitaccel.isa.regmap import REGISTERS as R
    from vitaccel.runtime.device import open_device

    cfg = small_config()
    g = np.random.default_rng(11)
    progs = []
    while len(progs) < 2:  # one program that completes, one that stops with an error
        p = Program(cfg, g, 4, p_error=0.5 if progs else 0.0)
        code = p.expected()[0]
        if (code == ErrorCode.NONE) == (not progs):
            progs.append(p)
    results = {}
    for name in ("isa", "rtlsim"):
        dev = open_device(name, cfg=cfg)
        got = []
        for p in progs:
            bufs = {}
            for key, data in (("image", p.image), ("program", p.program), ("input", p.input.tobytes()),
                              ("output", bytes(p.output_bytes))):
                bufs[key] = dev.allocate(len(data))
                bufs[key].write(data)
                bufs[key].flush()
            for reg, key in (("PROGRAM_ADDR", "program"), ("IMAGE_ADDR", "image"), ("INPUT_ADDR", "input"),
                             ("OUTPUT_ADDR", "output")):
                dev.write32(R[f"{reg}_LO"], bufs[key].device_address & 0xFFFFFFFF)
                dev.write32(R[f"{reg}_HI"], bufs[key].device_address >> 32)
            dev.write32(R["INSTR_COUNT_LO"], len(p.program) // isa.INSTR_BYTES)
            dev.write32(R["AP_CTRL"], 1)
            assert dev.wait_interrupt_or_poll(120.0)
            bufs["output"].invalidate()
            got.append((dev.read32(R["STATUS"]), dev.read32(R["ERROR_PC"]), bytes(bufs["output"].array)))
            for b in bufs.values():
                b.free()
        dev.close()
        results[name] = got
    assert results["rtlsim"][0] == results["isa"][0]
    assert results["rtlsim"][1][:2] == results["isa"][1][:2]


def test_bench_rtlsim_json(backend: Any, capsys: Any) -> None:
    """`vitaccel bench rtlsim --json` on the small configuration: the representative program is bit-exact vs the
    ISA simulator, with build time, CYCLES, model cycles and simulated clocks per second."""
    import json

    from vitaccel.cli import main

    sets = ["--set", f"act_buffer_bytes={ACT}", "--set", f"weight_buffer_bytes={WBUF}", "--set", "array_rows=4",
            "--set", "array_cols=16"]
    assert main(["bench", "rtlsim", "--board", "zcu102", *sets, "--repeat", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["bit_exact_vs_isa"] and r["cycles"] > 0 and r["model_cycles"] > 0 and r["sim_cycles_per_s"] > 0
    assert r["build_s"] >= 0 and isinstance(r["build_cached"], bool) and r["array"] == "4x16"


def test_bench_model_program_runs_on_the_isa_simulator() -> None:
    """`bench rtlsim --model M`'s program is M's compiled first task; the ISA simulator runs it to the end and its
    output equals QuantizedModel.forward (so the bench's bit-exact flag compares a real inference)."""
    from vitaccel.compiler.source import load_qmodel
    from vitaccel.rtlgen.rtlsim.bench import model_program
    from vitaccel.sim import IsaSimulator

    cfg = derive_accelerator_config("zcu102", {"array_rows": 4, "array_cols": 16, "max_topk": 2})
    prog, image, inp = model_program(cfg, "m3vit-micro")
    res = IsaSimulator(cfg).run(prog, image, inp)
    ref = load_qmodel("m3vit-micro", synthetic=True, seed=0).forward(inp[None], 0)["int32"][0]
    assert np.array_equal(np.frombuffer(bytes(res.output), "<i4")[: ref.size], ref.reshape(-1))


@pytest.mark.slow
def test_bench_rtlsim_model_json(capsys: Any) -> None:
    """`vitaccel bench rtlsim --model m3vit-micro --json` on a 4 x 16 array: one whole inference, bit-exact vs
    the ISA simulator, with its clocks per second."""
    import json

    from vitaccel.cli import main

    sets = ["--set", "act_buffer_bytes=65536", "--set", "weight_buffer_bytes=32768", "--set", "array_rows=4",
            "--set", "array_cols=16", "--set", "max_topk=2"]
    assert main(["bench", "rtlsim", "--board", "zcu102", *sets, "--repeat", "1", "--model", "m3vit-micro",
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["bit_exact_vs_isa"] and r["program"].startswith("m3vit-micro") and r["sim_cycles_per_s"] > 0
    assert abs(r["cycles"] - r["model_cycles"]) <= 0.1 * r["model_cycles"]


@pytest.mark.slow
def test_verify_rtlsim_whole_model(capsys: Any) -> None:
    """`vitaccel verify --backend rtlsim` on m3vit-micro (full zcu102 array: the build takes minutes): bit-exact on
    both tasks, and the RTL's CYCLES within 10 % of the performance model on the executed instructions."""
    import json

    from vitaccel.cli import main

    assert main(["verify", "--backend", "rtlsim", "--model", "m3vit-micro", "--board", "zcu102", "--synthetic",
                 "--json"]) == 0
    for r in json.loads(capsys.readouterr().out):
        assert r["bit_exact"] and r["cycles"] > 0 and r["model_cycles"] > 0
        assert abs(r["cycles"] - r["model_cycles"]) <= 0.10 * r["model_cycles"], r
