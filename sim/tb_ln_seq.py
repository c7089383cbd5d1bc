"""cocotb testbench: vitaccel_ln_seq (the LAYERNORM engine) vs IsaSimulator._layernorm, bit-exact.

Python models of ACT (1-cycle read port of W-byte windows, byte-enabled write port) and the two weight-buffer
halves (COLS-byte windows) sit behind the engine's ports; bytes of a read window past the end of a memory are
random (the engine must never use them). Each case: random memory contents, a LAYERNORM instruction (valid, or
corrupted for one of the checks), the same state in an IsaSimulator instance whose _layernorm is the reference.
Checked: the error code (chk_code at decode, else err_code with done) equals the simulator's SimError code, the
whole ACT equals the simulator's afterwards (nothing written on an error), busy / done timing, and for valid
instructions the cycles from start to done against the engine's closed-form count (cycles()) and the performance
model (vitaccel.perf.timing.layernorm_cycles with ln_lanes = LANES).
"""

from __future__ import annotations

from dataclasses import replace

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, Timer

import tbutil
from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.golden.ops import layernorm_params
from vitaccel.isa import uarch
from vitaccel.isa.regmap import ErrorCode
from vitaccel.perf.timing import layernorm_cycles
from vitaccel.sim.machine import IsaSimulator, SimError

ALIGN = isa.ACT_ALIGN


def _al(x: int, a: int = ALIGN) -> int:
    return -(-x // a) * a


RUNTIME_ERROR_CYCLES = 4  # start -> done of an out_shift / destination error (record header read and check)
LN_LAT = 33  # unit latency: last input beat of a row -> its first output beat (stats 30 + FIFO 1 + read / y / out)


def cycles(rows: int, cols: int, lanes: int, array_cols: int) -> int:
    """Engine cycles start -> done of a valid LAYERNORM (the closed form reported for vitaccel.perf):

    rows * P + max(P + 39, ceil(cols / GC) + ceil(cols / BC) + 8), P = ceil(cols / L) beats per row (L = LANES),
    GC = min(L, COLS / 2) gammas and BC = min(L, COLS / 4) betas per weight-buffer window. The first term of the max
    is the first row (record header 3, source read 2, P beats, unit latency LN_LAT, write and done), the second the
    gamma / beta load that pass 2 waits for (it overlaps the first row's statistics)."""
    p = -(-cols // lanes)
    gc, bc = min(lanes, array_cols // 2), min(lanes, array_cols // 4)
    return rows * p + max(p + 6 + LN_LAT, -(-cols // gc) + -(-cols // bc) + 8)


class Mem:
    """ACT and weight-buffer models driven on the falling clock edge (requests are functions of DUT registers)."""

    def __init__(self, dut, act_bytes: int, wbuf_bytes: int, w: int, wb: int, gen: np.random.Generator):
        self.dut, self.w, self.wb, self.gen = dut, w, wb, gen
        self.act = np.zeros(act_bytes, dtype=np.uint8)
        self.wbuf = [np.zeros(wbuf_bytes, dtype=np.uint8) for _ in range(2)]
        self.next_act, self.next_wb = 0, 0
        self.writes = 0
        self.reads = 0

    def _window(self, mem: np.ndarray, addr: int, n: int) -> int:
        raw = bytearray(self.gen.integers(0, 256, n, dtype=np.uint8).tobytes())  # past the end: garbage
        if addr < mem.size:
            k = min(n, mem.size - addr)
            raw[:k] = mem[addr:addr + k].tobytes()
        return int.from_bytes(bytes(raw), "little")

    async def run(self) -> None:
        d = self.dut
        while True:
            await FallingEdge(d.clk)
            rd, wr, wbr = int(d.act_rd_en.value), int(d.act_wr_en.value), int(d.wb_rd_en.value)
            d.act_rd_data.value = self.next_act
            d.wb_rd_data.value = self.next_wb
            if rd:
                addr = tbutil.val(d.act_rd_addr)
                assert addr % ALIGN == 0, f"ACT read at unaligned 0x{addr:x}"
                self.next_act = self._window(self.act, addr, self.w)
                self.reads += 1
            if wbr:
                addr, half = tbutil.val(d.wb_rd_addr), tbutil.val(d.wb_rd_half)
                assert addr % ALIGN == 0, f"WBUF read at unaligned 0x{addr:x}"
                self.next_wb = self._window(self.wbuf[half], addr, self.wb)
            if wr:
                addr, be = tbutil.val(d.act_wr_addr), tbutil.val(d.act_wr_be)
                assert addr % ALIGN == 0, f"ACT write at unaligned 0x{addr:x}"
                bits = str(d.act_wr_data.value)  # MSB first; disabled bytes may be X (pad lanes)
                for i in range(self.w):
                    if (be >> i) & 1:
                        assert addr + i < self.act.size, f"ACT write past the end at 0x{addr + i:x}"
                        byte = bits[len(bits) - 8 * (i + 1):len(bits) - 8 * i]
                        assert set(byte) <= {"0", "1"}, f"ACT write byte {i} at 0x{addr:x} enabled but {byte}"
                        self.act[addr + i] = int(byte, 2)
                self.writes += 1


def _record(gen: np.random.Generator, cols: int, extreme: bool) -> dict[str, np.ndarray]:
    if extreme:
        g = gen.choice([-(1 << 15), (1 << 15) - 1, 0, 1, -1], cols) if gen.random() < 0.5 else \
            gen.integers(-(1 << 15), 1 << 15, cols)
        b = gen.choice([-(1 << 31), (1 << 31) - 1, 0], cols) if gen.random() < 0.5 else \
            gen.integers(-(1 << 31), 1 << 31, cols)
        eps = int(gen.choice([1, 1 << 56, int(2.0 ** gen.uniform(0, 56))]))
        return {"eps": [eps], "out_shift": [int(gen.choice([0, 63, int(gen.integers(0, 64))]))],
                "gamma": g, "beta": b}
    p = layernorm_params(gen.uniform(0.5, 1.5, cols), gen.uniform(-0.5, 0.5, cols), 1e-6,
                         in_scale=2.0 ** -8, out_scale=2.0 ** -5)
    return {"eps": [int(p.eps)], "out_shift": [int(p.out_shift)], "gamma": p.gamma_mult, "beta": p.beta}


def _rows(gen: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    x = np.round(gen.normal(0, 10.0 ** gen.uniform(0.5, 4.0), (rows, cols))).clip(-(1 << 15), (1 << 15) - 1)
    x = x.astype(np.int64)
    for r in range(rows):
        k = gen.random()
        if k < 0.1:
            x[r] = int(gen.integers(-(1 << 15), 1 << 15))          # all equal: variance 0, D = eps
        elif k < 0.15:
            x[r] = -(1 << 15)                                      # most negative everywhere
        elif k < 0.2:
            x[r] = np.where(np.arange(cols) % 2 == 0, -(1 << 15), (1 << 15) - 1)
        elif k < 0.3:
            x[r] = gen.integers(-(1 << 15), 1 << 15, cols)
    return x


class Case:
    """One LAYERNORM instruction with the memory state it runs on."""

    def __init__(self, name: str, ins: isa.Instruction, act: np.ndarray, wbuf: list[np.ndarray],
                 loaded: list[bool], valid: bool):
        self.name, self.ins, self.act, self.wbuf, self.loaded, self.valid = name, ins, act, wbuf, loaded, valid


def make_case(gen: np.random.Generator, p: dict, name: str, rows: int | None = None, cols: int | None = None,
              corrupt: str | None = None) -> Case:
    """A random valid LAYERNORM (src / dst regions disjoint, record in a FULL half), optionally corrupted."""
    act_bytes, wbuf_bytes, max_cols, lanes = p["act"], p["wbuf"], p["max_cols"], p["lanes"]
    for _ in range(1000):
        c = cols or int(gen.choice([lanes, 2 * lanes, max_cols, int(gen.integers(1, max_cols + 1)),
                                    int(gen.integers(1, max_cols + 1)), max(1, lanes * int(gen.integers(1, 4)) - 1)]))
        c = min(c, max_cols)
        r = rows or int(gen.integers(1, 41))
        sp = _al(2 * c) + ALIGN * int(gen.choice([0, 0, 1, 2]))
        dp = _al(c) + ALIGN * int(gen.choice([0, 0, 1, 3]))
        if r == 1 and gen.random() < 0.5:
            sp, dp = 0, 0  # a one-row operand ignores its pitch
        s_len = (r - 1) * sp + 2 * c
        d_len = (r - 1) * dp + c
        if s_len + d_len + 2 * ALIGN <= act_bytes:
            break
    else:
        raise RuntimeError(f"no LAYERNORM of the requested shape fits {act_bytes} bytes of ACT")
    # two disjoint regions in random order
    free = act_bytes - _al(s_len) - _al(d_len)
    a0 = ALIGN * int(gen.integers(0, free // ALIGN + 1))
    a1 = a0 + ALIGN * int(gen.integers(0, (free - a0) // ALIGN + 1))
    if gen.random() < 0.5:
        src, dst = a0, a0 + _al(s_len) + (a1 - a0)
    else:
        dst, src = a0, a0 + _al(d_len) + (a1 - a0)
    act = gen.integers(0, 256, act_bytes, dtype=np.uint8)
    x = _rows(gen, r, c)
    xb = x.astype("<i2").view(np.uint8).reshape(r, 2 * c)
    for i in range(r):
        act[src + i * sp:src + i * sp + 2 * c] = xb[i]
    half = int(gen.integers(0, 2))
    wbuf = [gen.integers(0, 256, wbuf_bytes, dtype=np.uint8) for _ in range(2)]
    rec = _record(gen, c, gen.random() < 0.4)
    if corrupt == "out_shift":
        rec["out_shift"] = [int(gen.integers(64, 256))]
    blob = isa.pack_record("layernorm", c, **rec)
    param = ALIGN * int(gen.integers(0, (wbuf_bytes - len(blob)) // ALIGN + 1))
    wbuf[half][param:param + len(blob)] = np.frombuffer(blob, dtype=np.uint8)
    loaded = [bool(gen.integers(0, 2)), bool(gen.integers(0, 2))]
    loaded[half] = True
    f = dict(src=src, dst=dst, rows=r, cols=c, src_pitch=sp, dst_pitch=dp, param=param, wbuf=half)
    if gen.random() < 0.3:
        f["release"] = 1  # allowed flags do not change the engine's work
    if corrupt:
        f, loaded = _corrupt(gen, corrupt, f, loaded, p, len(blob))
    return Case(name, isa.make("LAYERNORM", **f), act, wbuf, loaded, corrupt is None)


CORRUPTIONS = ("cols_unsupported", "rows0", "cols0", "src_align", "src_pitch_align", "src_pitch_small",
               "src_range", "src_overflow", "wbuf_state", "param_align", "param_range", "param_overflow",
               "out_shift", "dst_align", "dst_pitch_small", "dst_pitch_align", "dst_range", "dst_overflow",
               "out_shift+dst", "src+wbuf")


def _corrupt(gen: np.random.Generator, kind: str, f: dict, loaded: list[bool], p: dict,
             rec_len: int) -> tuple[dict, list[bool]]:
    act, wbuf = p["act"], p["wbuf"]
    f = dict(f)
    if kind == "cols_unsupported":
        f["cols"] = int(gen.integers(uarch.LN_MAX_COLS + 1, 1 << 16))
    elif kind == "rows0":
        f["rows"] = 0
    elif kind == "cols0":
        f["cols"] = 0
    elif kind in ("src_align", "src+wbuf"):
        f["src"] += int(gen.integers(1, ALIGN))
        if kind == "src+wbuf":
            loaded[f["wbuf"]] = False
    elif kind == "src_pitch_align":
        f["rows"] = max(f["rows"], 2)
        f["src_pitch"] = max(f["src_pitch"], 2 * f["cols"]) + int(gen.integers(1, ALIGN))
    elif kind == "src_pitch_small":
        f["rows"] = max(f["rows"], 2)
        f["src_pitch"] = ALIGN * int(gen.integers(0, max(1, (2 * f["cols"]) // ALIGN)))
        if f["src_pitch"] >= 2 * f["cols"]:
            f["src_pitch"] = 0
    elif kind == "src_range":
        f["src"] = _al(act) + ALIGN * int(gen.integers(0, 64))
    elif kind == "src_overflow":
        f["src"] = act - ALIGN * int(gen.integers(1, 4))
    elif kind == "wbuf_state":
        loaded[f["wbuf"]] = False
    elif kind == "param_align":
        f["param"] += int(gen.integers(1, ALIGN))
    elif kind == "param_range":
        f["param"] = wbuf + ALIGN * int(gen.integers(0, 64))
    elif kind == "param_overflow":
        f["param"] = _al(wbuf - rec_len + 1)
    elif kind in ("dst_align", "out_shift+dst"):
        f["dst"] += int(gen.integers(1, ALIGN))
    elif kind == "dst_pitch_small":
        f["rows"] = max(f["rows"], 2)
        f["dst_pitch"] = ALIGN * int(gen.integers(0, max(1, f["cols"] // ALIGN)))
        if f["dst_pitch"] >= f["cols"]:
            f["dst_pitch"] = 0
    elif kind == "dst_pitch_align":
        f["rows"] = max(f["rows"], 2)
        f["dst_pitch"] = max(f["dst_pitch"], f["cols"]) + int(gen.integers(1, ALIGN))
    elif kind == "dst_range":
        f["dst"] = _al(act) + ALIGN * int(gen.integers(0, 64))
    elif kind == "dst_overflow":
        f["dst"] = act - ALIGN * int(gen.integers(1, 3))
    return f, loaded


def reference(cfg, case: Case) -> tuple[int, np.ndarray]:
    """(ErrorCode, ACT afterwards) from the ISA simulator's _layernorm on the same state."""
    sim = IsaSimulator(cfg)
    sim.act = case.act.copy()
    sim.wbuf = [w.copy() for w in case.wbuf]
    sim.loaded = list(case.loaded)
    try:
        sim._layernorm(0, case.ins)
    except SimError as exc:
        return int(exc.code), case.act.copy()
    return int(ErrorCode.NONE), sim.act


@cocotb.test()
async def ln_seq_instructions(dut):
    c_ = tbutil.cfg()
    gen = tbutil.rng()
    cols_, lanes = int(dut.COLS.value), int(dut.LANES.value)
    act_bytes, wbuf_bytes, max_cols = int(dut.ACT_BYTES.value), int(dut.WBUF_BYTES.value), int(dut.MAX_COLS.value)
    w = uarch.act_word_bytes(cols_)
    cfg = replace(derive_accelerator_config("zcu102"), array_cols=cols_, ln_lanes=lanes,
                  act_buffer_bytes=act_bytes, weight_buffer_bytes=wbuf_bytes)
    p = {"act": act_bytes, "wbuf": wbuf_bytes, "max_cols": max_cols, "lanes": lanes}
    dut.start.value, dut.instr.value, dut.wbuf_full.value = 0, 0, 0
    dut.act_rd_data.value, dut.wb_rd_data.value = 0, 0
    await tbutil.start(dut)
    mem = Mem(dut, act_bytes, wbuf_bytes, w, cols_, gen)
    cocotb.start_soon(mem.run())

    cases: list[Case] = []
    for shape in c_.get("shapes", []):   # (rows, cols) of valid instructions, e.g. the per-row rate case
        cases.append(make_case(gen, p, f"shape{shape}", rows=shape[0], cols=shape[1]))
    cases += [make_case(gen, p, f"random{i}") for i in range(int(c_.get("n_random", 8)))]
    kinds = list(CORRUPTIONS) * int(c_.get("n_error_rounds", 1))
    cases += [make_case(gen, p, f"error-{k}", corrupt=k) for k in kinds]
    order = gen.permutation(len(cases))
    n_err = 0
    at_edge = False
    for ci in order:
        case = cases[ci]
        exp_code, exp_act = reference(cfg, case)
        mem.act[:] = case.act
        mem.wbuf[0][:], mem.wbuf[1][:] = case.wbuf
        if not at_edge:
            await FallingEdge(dut.clk)
        # (after an executed instruction, the next one starts in the cycle after done, as the top may do)
        dut.instr.value = int.from_bytes(isa.encode(case.ins), "little")
        dut.wbuf_full.value = int(case.loaded[0]) | (int(case.loaded[1]) << 1)
        await Timer(1, "ns")
        chk = tbutil.val(dut.chk_code)
        got_code, cyc = chk, None
        at_edge = False
        if chk == int(ErrorCode.NONE):
            assert not int(dut.busy.value), "busy before start"
            dut.start.value = 1
            await FallingEdge(dut.clk)
            dut.start.value = 0
            n = 1
            while not int(dut.done.value):
                assert int(dut.busy.value), f"{case.name}: busy low at cycle {n} before done"
                await FallingEdge(dut.clk)
                n += 1
                assert n < 200_000, f"{case.name}: no done after {n} cycles"
            assert int(dut.busy.value), "busy low in the done cycle"
            got_code, cyc = tbutil.val(dut.err_code), n
            await FallingEdge(dut.clk)
            assert not int(dut.busy.value) and not int(dut.done.value), "busy / done after the done cycle"
            at_edge = True
        f = case.ins.fields
        desc = (f"{case.name}: rows={f.get('rows')} cols={f.get('cols')} src=0x{f.get('src', 0):x} "
                f"sp={f.get('src_pitch')} dst=0x{f.get('dst', 0):x} dp={f.get('dst_pitch')} "
                f"param=0x{f.get('param', 0):x} half={f.get('wbuf', 0)} loaded={case.loaded}")
        if got_code != exp_code:
            raise AssertionError(f"{desc}: code {ErrorCode(got_code).name} (chk_code {chk}), simulator "
                                 f"{ErrorCode(exp_code).name}")
        if not np.array_equal(mem.act, exp_act):
            bad = np.nonzero(mem.act != exp_act)[0]
            raise AssertionError(f"{desc}: ACT differs at {bad.size} bytes, first 0x{bad[0]:x}: got "
                                 f"{mem.act[bad[0]]} expected {exp_act[bad[0]]} (code {ErrorCode(exp_code).name})")
        if exp_code != int(ErrorCode.NONE):
            if cyc is not None and cyc != RUNTIME_ERROR_CYCLES:
                raise AssertionError(f"{desc}: run-time error after {cyc} cycles, expected {RUNTIME_ERROR_CYCLES}")
            n_err += 1
            dut._log.info("%s -> %s (%s)", case.name, ErrorCode(exp_code).name, "decode" if chk else "run time")
            continue
        model = layernorm_cycles(cfg, f["rows"], f["cols"])
        exp_cyc = cycles(f["rows"], f["cols"], lanes, cols_)
        dut._log.info("%s: rows=%d cols=%d L=%d: %d cycles start->done (closed form %d, perf model %d)",
                      case.name, f["rows"], f["cols"], lanes, cyc, exp_cyc, model)
        if c_.get("check_cycles", True) and cyc != exp_cyc:
            raise AssertionError(f"{desc}: {cyc} cycles, closed form says {exp_cyc}")
        if c_.get("check_cycles", True) and cyc != model:
            raise AssertionError(f"{desc}: {cyc} cycles, vitaccel.perf.timing.layernorm_cycles says {model}")
    dut._log.info("%d instructions bit-exact (%d with errors)", len(cases), n_err)
