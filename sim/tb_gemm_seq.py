"""cocotb testbench: vitaccel_gemm_seq alone, every GEMM form, vs vitaccel.sim.machine.IsaSimulator._gemm.

Python models sit behind the engine's ports: ACT (W-byte windows), both weight-buffer halves (COLS-byte
windows), the expert queues (length port + data port), all with a 1-cycle read latency. Each random
instruction (valid, or corrupted for one of the simulator's checks) is run on a reference IsaSimulator set to
the same state; chk_code / err_code must equal the SimError code and the whole ACT must be equal afterwards
(unchanged on error). Cycles from start to done are compared with `cycle_formula` when the config asks for it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

import tbutil
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.isa import BSrc, Epilogue, Opcode, uarch
from vitaccel.isa import spec as isa
from vitaccel.isa.regmap import ErrorCode
from vitaccel.isa.uarch import b_operand_fits
from vitaccel.sim.machine import IsaSimulator, SimError

EPIS = [Epilogue.ACC32, Epilogue.REQ8, Epilogue.GELU8, Epilogue.RESADD, Epilogue.SOFTMAX, Epilogue.MOE_COMBINE]
RECORD = {Epilogue.ACC32: "bias", Epilogue.REQ8: "req", Epilogue.GELU8: "gelu", Epilogue.RESADD: "req",
          Epilogue.MOE_COMBINE: "combine"}


class RefSim(IsaSimulator):
    """IsaSimulator plus the B-operand buffer rule (bsrc = ACT, k * ceil(n / W) > max_tokens: UNSUPPORTED),
    checked right after operand B (idempotent if the simulator already has it)."""

    cur: Any = None

    def _act_tensor(self, pc: int, what: str, addr: int, rows: int, cols: int, pitch: int, dtype: str,
                    row_index: np.ndarray | None = None) -> np.ndarray:
        out = super()._act_tensor(pc, what, addr, rows, cols, pitch, dtype, row_index)
        ins = self.cur
        if what == "GEMM operand B" and not b_operand_fits(ins.get("k"), ins.get("n"), self.cols,
                                                            self.cfg.max_tokens):
            raise self._err(ErrorCode.UNSUPPORTED, pc, "B operand does not fit the B-operand buffer")
        return out


def trans_tile_cycles(cfg: Any, ins: Any, m: int, ct: int, rt: int) -> int:
    """Drain + emission clocks of one trans-output tile (column tile ct, row tile rt) from its real addresses:
    the drain writes one byte plane per clock (ACC32: each row four clocks; a row takes at least its COLS /
    EPI_LANES epilogue slices), then per output column (int8) its
    1-2 windows, or (ACC32) four plane reads and chunks of R bytes of its rows * 4, each 1-2 windows."""
    r, c, w = cfg.array_rows, cfg.array_cols, 2 * cfg.array_cols
    acc = Epilogue(ins.get("epi")) == Epilogue.ACC32
    es = 4 if acc else 1
    nval, nrows = min(c, ins.get("n") - ct * c), min(r, m - rt * r)
    h = c // cfg.epilogue_lanes  # a drained row: its epilogue slices; held for its planes: planes + h - 1
    total = r * (es + h - 1 if es > 1 else h)
    for col in range(nval):
        base = ins.get("dst") + (ct * c + col) * ins.get("dst_pitch") + rt * r * es
        chunks = [(q, min(r, nrows * es - q)) for q in range(0, nrows * es, r)] if acc else [(0, nrows)]
        total += (4 if acc else 0) + sum(-(-((base + q) % 16 + ln) // w) for q, ln in chunks)
    return total


def cycle_formula(cfg: Any, ins: Any, m: int) -> int:
    """start -> done cycles of vitaccel_gemm_seq for a GEMM that completes (m: rows after queue resolution).

    Within ~15 cycles of the RTL for every form except SOFTMAX (within ~20): the log prints both. Trans outputs
    (REQ8 / GELU8 / ACC32, B in WBUF) with one column tile are exact: tests with `check_cycles` assert it."""
    r, c = cfg.array_rows, cfg.array_cols
    w = 2 * c
    n, k = ins.get("n"), ins.get("k")
    epi = Epilogue(ins.get("epi"))
    if m == 0:
        return 1
    cd = lambda a, b: -(-a // b)  # noqa: E731
    mt, nt, nwk = cd(m, r), cd(n, c), cd(k, w)
    has_rec = not ins.get("pimm") and epi != Epilogue.SOFTMAX
    has_shift = has_rec and epi != Epilogue.ACC32
    trans = ins.get("trans") and epi != Epilogue.SOFTMAX
    f = c // cfg.softmax_lanes if epi == Epilogue.SOFTMAX else 1  # lane groups sharing the softmax's pass 1
    h = c // cfg.epilogue_lanes  # epilogue slices per row; ACC32 holds a row 2 clocks: 2 + h - 1
    beat = max(f, 2 + h - 1 if epi == Epilogue.ACC32 and not trans else h)
    setup = ((m + 3) if ins.get("gather") or epi == Epilogue.MOE_COMBINE else 0) \
        + ((cd(n, c) + 2) if has_shift else 1) + 1 + (18 if epi == Epilogue.GELU8 else 0) \
        + ((k * cd(n, w) + 2) if ins.get("bsrc") == BSrc.ACT else 1)
    t_tile = max(k, r * beat, r * nwk)
    par = (4 if epi == Epilogue.ACC32 else 7) if has_rec and ins.get("bsrc") == BSrc.WBUF else 0
    body = r + 1 + nt * mt * t_tile + nt * par
    if trans:
        # tile by tile: the k-steps of a tile end max(K, R * ceil(K / W)) after the previous one's (the first one's
        # K after the first A fill; the first column tile's record windows overlap that fill); its rows are out
        # GEMM_PIPE later, its drain + emission start then or when the previous tile's emission ends. Exact for one
        # column tile (each further column tile's record windows are charged in full here)
        kend = setup + r + 1 + max(0, par - r - 1) + (nt - 1) * par
        end = 0
        for i, (ct, rt) in enumerate((ct, rt) for ct in range(nt) for rt in range(mt)):
            kend += k if i == 0 else max(k, r * nwk)
            end = max(kend + uarch.GEMM_PIPE, end) + trans_tile_cycles(cfg, ins, m, ct, rt)
        return end
    if f > 1:  # a column tile's last row tile: its rv valid rows drain in f clocks each
        rv = m - (mt - 1) * r
        body = r + 1 + nt * ((mt - 1) * t_tile + max(k, f * rv + r - rv, r * nwk)) + nt * par
    tail = r * beat + uarch.GEMM_PIPE - 1
    if epi == Epilogue.SOFTMAX:
        # two-context softmax + double-buffered P transposer: pass 2 of column tile ct is hidden behind
        # the k-steps of ct + 1. After the last score row (row (m - 1) % r of the last row tile) + divider and
        # pipeline (33): either the last tile's tail shows (its M pass-2 rows in W-row chunks, each emitted as nl
        # windows while the next chunk fills, then the last chunk's nl windows; nl = columns of the last column
        # tile) or, when the P windows (cm per output column) outrun the k-steps (cm * COLS > mt * t_tile), the
        # chain of all cm * n P windows from the first tile's first chunk on
        cm, nl = cd(m, w), n - (nt - 1) * c
        rem = m - w * (cm - 1)
        last = w * (cm - 1) + max(rem, nl if cm > 1 else 0) + nl
        chain = min(m, w) + cm * n - (nt - 1) * mt * t_tile
        tail = f * ((m - 1) % r) + uarch.SOFTMAX_DRAIN + 2 * (f - 1) + max(last, chain)
    return setup + body + tail


class Mem:
    """ACT, weight halves and queues behind the engine's ports (sampled on the falling edge)."""

    def __init__(self, dut: Any, cfg: Any):
        self.dut, self.cfg = dut, cfg
        self.w = 2 * cfg.array_cols
        self.act = np.zeros(cfg.act_buffer_bytes, dtype=np.uint8)
        self.wbuf = [np.zeros(cfg.weight_buffer_bytes, dtype=np.uint8) for _ in range(2)]
        self.queues: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.cycles = 0

    def window(self, mem: np.ndarray, addr: int, nbytes: int) -> int:
        out = np.zeros(nbytes, dtype=np.uint8)
        if addr < mem.size:
            seg = mem[addr:addr + nbytes]
            out[:seg.size] = seg
        return int.from_bytes(out.tobytes(), "little")

    async def serve(self) -> None:
        dut, cols = self.dut, self.cfg.array_cols
        while True:
            await FallingEdge(dut.clk)
            self.cycles += 1
            act_rd = int(dut.act_rd_en.value)
            wb_rd = int(dut.wb_rd_en.value)
            q_rd = int(dut.q_rd_en.value)
            drive: list[tuple[Any, int]] = []
            if act_rd:
                a = tbutil.val(dut.act_rd_addr)
                assert a % 16 == 0, f"ACT read address 0x{a:x} not 16-byte aligned"
                assert a < self.act.size, f"ACT read address 0x{a:x} outside ACT"
                drive.append((dut.act_rd_data, self.window(self.act, a, self.w)))
            if wb_rd:
                a = tbutil.val(dut.wb_rd_addr)
                h = tbutil.val(dut.wb_rd_half)
                assert a % 16 == 0, f"WBUF read address 0x{a:x} not aligned"
                drive.append((dut.wb_rd_data, self.window(self.wbuf[h], a, cols)))
            if q_rd:
                e, i = tbutil.val(dut.q_rd_expert), tbutil.val(dut.q_rd_index)
                assert self.queues is not None and e < len(self.queues) and i < self.queues[e][0].size, \
                    f"queue read e={e} i={i} outside the queue"
                drive.append((dut.q_rd_token, int(self.queues[e][0][i])))
                drive.append((dut.q_rd_weight, int(self.queues[e][1][i])))
            if int(dut.act_wr_en.value):
                a = tbutil.val(dut.act_wr_addr)
                be = tbutil.val(dut.act_wr_be)
                bits = str(dut.act_wr_data.value)
                assert a % 16 == 0, f"ACT write address 0x{a:x} not aligned"
                for i in range(self.w):
                    if (be >> i) & 1:
                        byte = bits[len(bits) - 8 * (i + 1):len(bits) - 8 * i]
                        assert all(ch in "01" for ch in byte), f"X written at 0x{a + i:x}"
                        assert a + i < self.act.size, f"write outside ACT at 0x{a + i:x}"
                        self.act[a + i] = int(byte, 2)
            if drive:  # 1-cycle read latency: the data appears after the rising edge
                await RisingEdge(dut.clk)
                for sig, v in drive:
                    sig.value = v


class Gen:
    """Random GEMM instructions (every form) and machine state; corrupted with probability p_err."""

    def __init__(self, cfg: Any, gen: np.random.Generator, p_err: float):
        self.cfg, self.g, self.p_err = cfg, gen, p_err
        self.r, self.c = cfg.array_rows, cfg.array_cols
        self.w = 2 * self.c

    def al(self, x: int) -> int:
        return (x + 15) // 16 * 16

    def instr(self, mem: Mem, shape: tuple[int, int, int] | None = None,
              epi: Epilogue | None = None, force_trans: bool = False) -> tuple[Any, list[bool]]:
        g, cfg = self.g, self.cfg
        mt = cfg.max_tokens
        ab, wbb = cfg.act_buffer_bytes, cfg.weight_buffer_bytes
        mem.act[:] = g.integers(0, 256, ab, dtype=np.uint8)
        for h in range(2):
            mem.wbuf[h][:] = g.integers(0, 256, wbb, dtype=np.uint8)
        loaded = [bool(g.random() < 0.9), bool(g.random() < 0.9)]
        # queues
        if g.random() < 0.9:
            ex = int(g.integers(1, 5))
            toks = int(g.integers(1, mt + 1))
            qs = []
            for _ in range(ex):
                ln = int(g.choice([0, toks, int(g.integers(0, toks + 1))], p=[0.15, 0.2, 0.65]))
                t = np.sort(g.choice(toks, ln, replace=False)).astype(np.int64)
                qs.append((t, g.integers(0, 1 << 16, ln).astype(np.int64)))
            mem.queues = qs
        else:
            mem.queues = None
        epi = EPIS[int(g.integers(0, len(EPIS)))] if epi is None else epi
        f: dict[str, int] = {"epi": int(epi)}
        if shape is not None:
            m, n, k = shape
        else:
            m, n, k = int(g.integers(1, 3 * self.r + 2)), int(g.integers(1, 2 * self.c + 9)), int(g.integers(1, 2 * self.w + 7))
        bsrc = int(g.integers(0, 2))
        if bsrc == BSrc.ACT and not b_operand_fits(k, n, self.c, mt) and g.random() < 0.85:
            k = max(1, mt // -(-n // self.w))
        pimm = 1 if epi == Epilogue.SOFTMAX else 0 if epi in (Epilogue.GELU8, Epilogue.MOE_COMBINE, Epilogue.ACC32) \
            else int(g.integers(0, 2))
        trans = 1 if epi == Epilogue.SOFTMAX else 0 if epi in (Epilogue.RESADD, Epilogue.MOE_COMBINE) \
            else int(g.random() < 0.4)
        qrows = 1 if epi == Epilogue.MOE_COMBINE else int(g.random() < 0.25)
        gather = int(g.random() < 0.3)
        if shape is not None:  # fixed layer shapes: the compiler's forms (B in WBUF, Q.K^T with B in ACT)
            bsrc = int(BSrc.ACT) if epi == Epilogue.SOFTMAX else int(BSrc.WBUF)
            trans = int(epi == Epilogue.SOFTMAX or force_trans)  # (REQ8^T as Q^T, or any ACC32 / GELU8^T)
            qrows = gather = 0
        if epi == Epilogue.SOFTMAX:
            m = min(m, mt)
        expert = int(g.integers(0, len(mem.queues))) if mem.queues else 0
        qlen = mem.queues[expert][0].size if mem.queues else 0
        tmax = int(mem.queues[expert][0].max()) + 1 if mem.queues and qlen else 1
        if qrows:
            m = max(m, qlen)
        if gather and not qrows:
            if qlen == 0 and mem.queues:  # the simulator has no defined result for an empty gather
                gather = 0
            elif epi == Epilogue.RESADD:
                m = min(m, max(qlen, 1))
        rows_a = tmax if gather else (qlen if qrows else m)
        es = 4 if epi == Epilogue.ACC32 else 2 if epi in (Epilogue.RESADD, Epilogue.MOE_COMBINE) else 1
        # ACT layout: A | B | dst, non-overlapping
        a_pitch = self.al(k + int(g.integers(0, 2)) * 16)
        b_pitch = self.al(n + int(g.integers(0, 2)) * 16)
        if trans:
            d_rows, d_rb = n, m * es
        elif epi == Epilogue.MOE_COMBINE:
            d_rows, d_rb = tmax, n * es
        else:
            d_rows, d_rb = m, n * es
        d_pitch = self.al(d_rb + int(g.integers(0, 2)) * 16)
        a_sz = max(rows_a, 1) * a_pitch
        b_sz = k * b_pitch if bsrc == BSrc.ACT else 0
        d_sz = d_rows * d_pitch
        slack = ab - a_sz - b_sz - d_sz
        if slack < 0:
            return None, loaded
        cut = sorted(int(x) // 16 * 16 for x in g.integers(0, slack + 1, 3))
        a_addr = cut[0]
        b_addr = a_addr + a_sz + (cut[1] - cut[0])
        d_addr = b_addr + b_sz + (cut[2] - cut[1])
        wb_half = int(g.integers(0, 2))
        f.update(a=a_addr, dst=d_addr, m=m, n=n, k=k, a_pitch=a_pitch, dst_pitch=d_pitch, bsrc=bsrc, pimm=pimm,
                 trans=trans, qrows=qrows, gather=gather, expert=expert, wbuf=wb_half,
                 a_u8=int(g.random() < 0.3))
        if bsrc == BSrc.ACT:
            f.update(b=b_addr, b_pitch=b_pitch)
        # weight half: packed B, then the record
        off = 0
        if bsrc == BSrc.WBUF:
            wnk = g.integers(-128, 128, (n, k))
            packed = isa.pack_b_tiles(wnk, self.c)
            if packed.size > wbb:
                return None, loaded
            off = int(g.integers(0, (wbb - packed.size) // 16 + 1)) * 16
            mem.wbuf[wb_half][off:off + packed.size] = packed
            f["b"] = off
            off += packed.size
        if pimm:
            f.update(mult=int(g.integers(0, 1 << 16)), shift=int(g.integers(8, 26)))
        else:
            kind = RECORD[epi]
            arrays: dict[str, np.ndarray] = {"bias": g.integers(-(1 << 20), 1 << 20, n)}
            sh = g.integers(8, 30, n)
            if g.random() < 0.1:
                sh[int(g.integers(0, n))] = int(g.integers(64, 256))
            if kind in ("req", "gelu"):
                arrays.update(mult=g.integers(0, 1 << 16, n), shift=sh)
            if kind == "gelu":
                arrays["table"] = g.integers(-128, 128, 256)
            if kind == "combine":
                arrays.update(cmult=g.integers(0, 1 << 16, n), cshift=np.minimum(sh + 8, 255))
            rec = np.frombuffer(isa.pack_record(kind, n, **arrays), dtype=np.uint8)
            if rec.size > wbb - off:
                return None, loaded
            roff = off + int(g.integers(0, (wbb - off - rec.size) // 16 + 1)) * 16
            mem.wbuf[wb_half][roff:roff + rec.size] = rec
            f["param"] = roff
        if g.random() < self.p_err:
            self.corrupt(f, loaded, mem)
        return isa.make(Opcode.GEMM, **f), loaded

    def corrupt(self, f: dict[str, int], loaded: list[bool], mem: Mem) -> None:
        g = self.g
        kind = int(g.integers(0, 16))
        if kind == 0:
            f["epi"] = int(g.integers(6, 16))
        elif kind == 1:
            f[str(g.choice(["n", "k", "m"]))] = 0
        elif kind == 2:
            f["pimm"] ^= 1
        elif kind == 3:
            f["trans"] ^= 1
        elif kind == 4:
            f["qrows"] ^= 1
        elif kind == 5:
            mem.queues = None
            f["gather"] = 1
        elif kind == 6:
            f["expert"] = len(mem.queues) if mem.queues else 5
            f["gather"] = 1
        elif kind == 7:
            f["m"] = max(1, f["m"] // 3)
            f["qrows"] = 1
        elif kind == 8:
            key = str(g.choice(["a", "dst", "b", "a_pitch", "dst_pitch", "b_pitch"]))
            f[key] = f.get(key, 0) + int(g.choice([4, 8]))  # b_pitch is absent when bsrc = WBUF
        elif kind == 9:
            f[str(g.choice(["a", "dst", "b"]))] = self.cfg.act_buffer_bytes + 16 * int(g.integers(0, 4))
        elif kind == 10:
            f[str(g.choice(["a", "dst", "b"]))] += self.cfg.act_buffer_bytes // 2
        elif kind == 11:
            loaded[f["wbuf"]] = False
        elif kind == 12:
            if "param" in f:
                f["param"] += int(g.choice([8, self.cfg.weight_buffer_bytes // 2, self.cfg.weight_buffer_bytes]))
        elif kind == 13:
            f["bsrc"], f["k"] = int(BSrc.ACT), self.cfg.max_tokens + 1
            f.setdefault("b_pitch", self.al(f["n"]))
        elif kind == 14:
            f["m"] = self.cfg.max_tokens + 1
        else:
            f["epi"] = int(EPIS[int(g.integers(0, len(EPIS)))])


@cocotb.test()
async def gemm_seq_random(dut):
    c = tbutil.cfg()
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    cfg = replace(derive_accelerator_config("zcu102"), array_rows=rows, array_cols=cols,
                  act_buffer_bytes=int(dut.ACT_BYTES.value), weight_buffer_bytes=int(dut.WBUF_BYTES.value),
                  max_tokens=int(dut.MAX_TOKENS.value), softmax_lanes=int(dut.SM_LANES.value),
                  epilogue_lanes=int(dut.EPI_LANES.value))
    gen = tbutil.rng()
    mem = Mem(dut, cfg)
    for name in ("start", "q_routed", "q_experts", "q_len", "q_rd_token", "q_rd_weight", "wbuf_full"):
        getattr(dut, name).value = 0
    dut.instr.value = 0
    dut.act_rd_data.value = 0
    dut.wb_rd_data.value = 0
    await tbutil.start(dut)
    cocotb.start_soon(mem.serve())
    gn = Gen(cfg, gen, float(c.get("p_err", 0.3)))
    shapes = [tuple(s) for s in c.get("shapes", [])]
    # shape_trans: trans output for that fixed shape; check_cycles: assert rtl == cycle_formula for fixed shapes
    # with trans outputs (exact when every tile is limited by its drain + emission)
    jobs: list[tuple[Any, Any, bool]] = [
        (s, Epilogue[e], bool(t)) for s, e, t in
        zip(shapes, c.get("shape_epis", ["REQ8"] * len(shapes)), c.get("shape_trans", [0] * len(shapes)),
            strict=False)]
    jobs += [(None, None, False)] * int(c.get("n_random", 20))
    check_cycles = bool(c.get("check_cycles", False))
    stats: dict[str, int] = {}
    ran = 0
    for shape, epi, tr in jobs:
        ins, loaded = gn.instr(mem, shape, epi, tr)
        if ins is None:
            continue
        ref = RefSim(cfg)
        ref.cur = ins
        ref.act = mem.act.copy()
        ref.wbuf = [h.copy() for h in mem.wbuf]
        ref.loaded = list(loaded)
        ref.queues = None if mem.queues is None else [(t.copy(), w.copy()) for t, w in mem.queues]
        m_eff = 0
        try:
            m_eff = ref._gemm(0, ins)
            code = ErrorCode.NONE
        except SimError as exc:
            code = exc.code
        except (ValueError, IndexError):
            continue  # a corruption the simulator has no defined result for
        before = mem.act.copy()
        e = ins.get("expert")
        await FallingEdge(dut.clk)
        dut.instr.value = int.from_bytes(isa.encode(ins), "little")
        dut.wbuf_full.value = int(loaded[0]) | (int(loaded[1]) << 1)
        dut.q_routed.value = int(mem.queues is not None)
        dut.q_experts.value = len(mem.queues) if mem.queues is not None else 0
        dut.q_len.value = int(mem.queues[e][0].size) if mem.queues is not None and e < len(mem.queues) else 0
        await FallingEdge(dut.clk)
        chk = tbutil.val(dut.chk_code)
        desc = (f"{Epilogue(ins.get('epi')).name if ins.get('epi') < 6 else ins.get('epi')} "
                f"{dict(ins.fields)} loaded={loaded} queues="
                f"{None if mem.queues is None else [q[0].tolist() for q in mem.queues]}")
        if chk != ErrorCode.NONE:
            assert chk == code, f"chk_code {ErrorCode(chk).name}, expected {code.name}: {desc}"
            stats[f"chk_{ErrorCode(chk).name}"] = stats.get(f"chk_{ErrorCode(chk).name}", 0) + 1
            continue
        dut._log.info(f"start: {desc}")
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        t0 = mem.cycles
        timeout = int(c.get("timeout", 20000))
        while not int(dut.done.value):
            await FallingEdge(dut.clk)
            timeout -= 1
            assert timeout > 0, f"no done: {desc}"
        cyc = mem.cycles - t0 + 1
        err = tbutil.val(dut.err_code)
        assert err == code, f"err_code {ErrorCode(err).name}, expected {code.name}: {desc}"
        await FallingEdge(dut.clk)
        if code == ErrorCode.NONE:
            if ins.get("gather") and not ins.get("qrows") and mem.queues is not None:
                m_eff = min(m_eff, int(mem.queues[e][0].size))  # rows actually gathered
            diff = np.nonzero(mem.act != ref.act)[0]
            assert diff.size == 0, (f"ACT differs at {diff.size} bytes, first 0x{diff[0]:x} "
                                    f"(got {mem.act[diff[0]]}, want {ref.act[diff[0]]}): {desc}")
            from vitaccel.perf.timing import gemm_cycles

            model = gemm_cycles(cfg, m_eff, ins.get("n"), ins.get("k"), Epilogue(ins.get("epi")), ins.get("bsrc"),
                                pimm=bool(ins.get("pimm")), trans=bool(ins.get("trans")),
                                gather=bool(ins.get("gather")))
            formula = cycle_formula(cfg, ins, m_eff)
            dut._log.info(f"CYCLES {Epilogue(ins.get('epi')).name} m={m_eff} n={ins.get('n')} k={ins.get('k')} "
                          f"bsrc={ins.get('bsrc')} pimm={ins.get('pimm')} trans={ins.get('trans')} "
                          f"gather={ins.get('gather')} qrows={ins.get('qrows')}: rtl {cyc} model {model} "
                          f"formula {formula}")
            if (check_cycles and shape is not None and tr and Epilogue(ins.get("epi")) != Epilogue.SOFTMAX
                    and ins.get("n") <= cfg.array_cols):
                assert cyc == formula, f"{cyc} cycles, cycle_formula says {formula}: {desc}"
            key = f"ok_{Epilogue(ins.get('epi')).name}"
        else:
            assert np.array_equal(mem.act, before), f"ACT changed on error {code.name}: {desc}"
            key = f"err_{code.name}"
        stats[key] = stats.get(key, 0) + 1
        ran += 1
    dut._log.info(f"stats: {sorted(stats.items())}")
    assert ran > 0
