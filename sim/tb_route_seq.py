"""cocotb testbench: vitaccel_route_seq (ROUTE engine + expert queues) vs IsaSimulator._route.

ACT and the two weight-buffer halves are Python arrays behind the engine's ports (read data the cycle after the
request, bytes past the end of a memory random). Each case sets an IsaSimulator's act / wbuf / loaded / queues to
the same state and calls its _route: decode-time errors must appear on chk_code (the engine is then not started),
the run-time shift check on err_code with done; afterwards every queue is read back through q_len / q_rd_* and
compared (on an error: the previous ROUTE's queues, unchanged). q_clear is checked to empty them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

import tbutil
from tbutil import val
from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.isa import ErrorCode, Opcode, uarch
from vitaccel.perf.timing import route_cycles
from vitaccel.sim.machine import IsaSimulator, SimError

LANES = uarch.ROUTE_LANES  # the source of vitaccel_isa_pkg::UA_ROUTE_LANES, the engine's router lanes


def _al(n: int) -> int:
    return (n + 15) // 16 * 16


class Mem:
    """ACT + weight halves behind the engine's read ports; records the cycles between start and done."""

    def __init__(self, dut: Any, act_bytes: int, wbuf_bytes: int, w: int, wb: int, gen: np.random.Generator):
        self.dut, self.w, self.wb, self.gen = dut, w, wb, gen
        self.act = np.zeros(act_bytes, dtype=np.uint8)
        self.wbuf = [np.zeros(wbuf_bytes, dtype=np.uint8) for _ in range(2)]
        self.pend_act: int | None = None
        self.pend_wb: tuple[int, int] | None = None
        self.act_reads = 0
        self.wb_reads = 0

    @staticmethod
    def _window(mem: np.ndarray, addr: int, n: int, gen: np.random.Generator) -> int:
        raw = gen.integers(0, 256, n, dtype=np.uint8)
        lo = min(addr, mem.size)
        hi = min(addr + n, mem.size)
        raw[:hi - lo] = mem[lo:hi]
        return int.from_bytes(raw.tobytes(), "little")

    async def run(self) -> None:
        d = self.dut
        while True:
            await FallingEdge(d.clk)
            if self.pend_act is not None:
                d.act_rd_data.value = self._window(self.act, self.pend_act, self.w, self.gen)
            if self.pend_wb is not None:
                h, a = self.pend_wb
                d.wb_rd_data.value = self._window(self.wbuf[h], a, self.wb, self.gen)
            await ReadOnly()
            assert int(d.act_wr_en.value) == 0, "the ROUTE engine wrote ACT"
            self.pend_act = self.pend_wb = None
            if int(d.act_rd_en.value):
                a = val(d.act_rd_addr)
                assert a % 16 == 0, f"ACT read at unaligned 0x{a:x}"
                self.pend_act = a
                self.act_reads += 1
            if int(d.wb_rd_en.value):
                a = val(d.wb_rd_addr)
                assert a % 16 == 0, f"weight read at unaligned 0x{a:x}"
                self.pend_wb = (val(d.wb_rd_half), a)
                self.wb_reads += 1


def make_case(gen: np.random.Generator, mem: Mem, max_t: int, max_e: int, max_k: int, kind: str) -> dict[str, Any]:
    """Fill mem with a random ROUTE operand set; returns the instruction fields and the full flags.

    kind: "random" or a corner ("tie", "sat", "neg", "single", "big", "shift_edge", "kmax": topk = max_k,
    "full": T = max_t with k = E so that every queue holds every token) or an error to inject ("e_kunsup":
    topk = max_k + 1 <= E, UNSUPPORTED)."""
    act_bytes, wbuf_bytes = mem.act.size, mem.wbuf[0].size
    mem.act[:] = gen.integers(0, 256, act_bytes, dtype=np.uint8)
    for h in range(2):
        mem.wbuf[h][:] = gen.integers(0, 256, wbuf_bytes, dtype=np.uint8)
    e = int(gen.integers(1, max_e + 1))
    if kind in ("big",):
        e = max_e
    t = int(gen.integers(1, max_t + 1))
    if kind == "big":
        t = max_t
    if kind == "single":
        e, t = 1, int(gen.integers(1, max_t + 1))
    if kind in ("kmax", "e_kunsup"):
        e = int(gen.integers(min(max_k + (kind == "e_kunsup"), max_e), max_e + 1))
    if kind == "full":
        e, t = int(gen.integers(1, min(max_k, max_e) + 1)), max_t
    k = int(gen.integers(1, min(e, max_k) + 1)) if gen.random() < 0.7 else min(e, max_k)
    if kind == "full":
        k = e
    if kind == "kmax":
        k = min(e, max_k)
    rb = 4 * e
    pitch = _al(rb) + 16 * int(gen.integers(0, 3))
    while t > 1 and (t - 1) * pitch + rb > act_bytes:
        t = max(1, t // 2)
    if t == 1 and gen.random() < 0.5:
        pitch = int(gen.integers(0, 1 << 16))  # ignored for one row
    span = (t - 1) * pitch + rb if t > 1 else rb
    src = 16 * int(gen.integers(0, (act_bytes - span) // 16 + 1))
    # logits
    mode = kind if kind in ("tie", "sat", "neg") else str(gen.choice(["wide", "narrow", "small", "tie"]))
    if mode == "wide":
        lg = gen.integers(-(1 << 31), 1 << 31, (t, e), dtype=np.int64)
    elif mode == "narrow":
        lg = gen.integers(-(1 << 15), 1 << 15, (t, e), dtype=np.int64)
    elif mode == "small":
        lg = gen.integers(-3, 4, (t, e), dtype=np.int64) * 1000
    elif mode == "tie":
        lg = np.full((t, e), int(gen.integers(-(1 << 20), 1 << 20)), dtype=np.int64)
    elif mode == "neg":
        lg = np.full((t, e), -(1 << 31), dtype=np.int64)
        lg[gen.random((t, e)) < 0.3] = (1 << 31) - 1
    else:  # sat
        lg = gen.choice(np.array([-(1 << 31), (1 << 31) - 1, 0, 1, -1], dtype=np.int64), (t, e))
    for i in range(t):
        a = src + i * pitch
        mem.act[a:a + rb] = lg[i].astype("<i4").view(np.uint8)
    # record
    if mode == "tie":
        mult = np.full(e, int(gen.integers(0, 1 << 16)), dtype=np.int64)
        shift = np.full(e, int(gen.integers(0, 64)), dtype=np.int64)
    else:
        mult = gen.integers(0, 1 << 16, e, dtype=np.int64)
        shift = gen.integers(0, 64, e, dtype=np.int64)
        if mode in ("sat", "neg"):
            mult[gen.random(e) < 0.5] = 65535
            shift[gen.random(e) < 0.5] = 0
        pick = gen.random(e)
        shift[pick < 0.15] = 0
        shift[pick > 0.85] = 63
    if kind == "shift_edge":
        shift[:] = 63
    rbytes = isa.record_bytes("route", e)
    half = int(gen.integers(0, 2))
    param = 16 * int(gen.integers(0, (wbuf_bytes - rbytes) // 16 + 1))
    rec = np.frombuffer(isa.pack_record("route", e, mult=mult, shift=shift), dtype=np.uint8)
    mem.wbuf[half][param:param + rbytes] = rec
    if kind == "shift_edge" and e % 16:
        # the padding after the E shift bytes: > 63 there must be ignored
        mem.wbuf[half][param + _al(2 * e) + e:param + rbytes] = 200
    full = [bool(gen.integers(0, 2)), bool(gen.integers(0, 2))]
    full[half] = True
    f = dict(src=src, src_pitch=pitch, tokens=t, experts=e, topk=k, param=param, wbuf=half,
             release=int(gen.integers(0, 2)))
    # ---- injected errors ----
    if kind == "e_tok0":
        f["tokens"] = 0
    elif kind == "e_exp0":
        f["experts"] = 0
    elif kind == "e_k0":
        f["topk"] = 0
    elif kind == "e_kbig":
        f["topk"] = e + int(gen.integers(1, 256 - e))
    elif kind == "e_kunsup":
        f["topk"] = min(max_k + 1, e) if max_k < max_e else e + 1  # UNSUPPORTED (BAD_FIELD when max_k = max_e)
    elif kind == "e_tbig":
        f["tokens"] = int(gen.integers(max_t + 1, 1 << 16))
    elif kind == "e_ebig":
        f["experts"] = int(gen.integers(max_e + 1, 256))
        f["topk"] = int(gen.integers(1, f["experts"] + 1))
    elif kind == "e_pitch":
        f["tokens"] = max(2, t)
        f["src_pitch"] = int(gen.integers(0, rb)) // 16 * 16
    elif kind == "e_srcal":
        f["src"] = src | int(gen.integers(1, 16))
    elif kind == "e_pitchal":
        f["tokens"] = max(2, t)
        f["src_pitch"] = pitch + int(gen.integers(1, 16))
    elif kind == "e_srcrange":
        f["src"] = act_bytes + 16 * int(gen.integers(0, 100))
    elif kind == "e_srcover":
        f["src"] = (act_bytes - 16 * int(gen.integers(1, 4)))
    elif kind == "e_half":
        full[half] = False
    elif kind == "e_paramal":
        f["param"] = param | int(gen.integers(1, 16))
    elif kind == "e_paramrange":
        f["param"] = wbuf_bytes + 16 * int(gen.integers(0, 1000))
    elif kind == "e_paramover":
        f["param"] = wbuf_bytes - 16  # every route record is >= 32 bytes
    elif kind == "e_shift":
        bad = int(gen.integers(0, e))
        so = _al(2 * e)
        mem.wbuf[half][param + so + bad] = int(gen.integers(64, 256))
    return {"fields": f, "full": full}


def reference(cfg: Any, mem: Mem, ins: isa.Instruction, full: list[bool],
              prev: list[tuple[np.ndarray, np.ndarray]] | None) -> tuple[ErrorCode, str, Any]:
    """(error code, reason, queues after) from IsaSimulator._route."""
    sim = IsaSimulator(cfg)
    sim.act = mem.act.copy()
    sim.wbuf = [mem.wbuf[0].copy(), mem.wbuf[1].copy()]
    sim.loaded = list(full)
    sim.queues = prev
    sim.queue_lengths = []
    try:
        sim._route(0, ins)
    except SimError as exc:
        return exc.code, exc.reason, prev
    return ErrorCode.NONE, "", sim.queues


async def read_queues(dut: Any, n_check: int) -> tuple[int, int, list[tuple[list[int], list[int]]]]:
    """(q_routed, q_experts, [(tokens, weights)] for experts 0..n_check-1) read through the queue ports."""
    await FallingEdge(dut.clk)
    routed, experts = val(dut.q_routed), val(dut.q_experts)
    out = []
    lens2 = [0] * n_check
    for ex in range(n_check):
        await FallingEdge(dut.clk)
        dut.q_len_expert.value = ex
        dut.q_len2_expert.value = n_check - 1 - ex  # the second length port reads another queue meanwhile
        await ReadOnly()
        n = val(dut.q_len)
        lens2[n_check - 1 - ex] = val(dut.q_len2)
        toks: list[int] = []
        ws: list[int] = []
        for i in range(n + 1):
            await FallingEdge(dut.clk)
            if i > 0:
                toks.append(val(dut.q_rd_token))
                ws.append(val(dut.q_rd_weight))
            if i < n:
                dut.q_rd_en.value, dut.q_rd_expert.value, dut.q_rd_index.value = 1, ex, i
            else:
                dut.q_rd_en.value = 0
        out.append((toks, ws))
    for ex, (toks, _) in enumerate(out):
        assert lens2[ex] == len(toks), f"second length port: expert {ex} length {lens2[ex]}, queue holds {len(toks)}"
    return routed, experts, out


def expected_queues(queues: Any, n_check: int) -> tuple[int, int, list[tuple[list[int], list[int]]]]:
    if queues is None:
        return 0, 0, [([], [])] * n_check
    out = []
    for ex in range(n_check):
        if ex < len(queues):
            tok, w = queues[ex]
            out.append(([int(x) for x in tok], [int(x) for x in w]))
        else:
            out.append(([], []))
    return 1, len(queues), out


def cycle_formula(t: int, e: int, k: int, cols: int) -> int:
    """The engine's start->done cycle count (start-sampling edge to the done cycle, done included).

    rec record windows + 4, the first group's n0*nw ACT windows; group g's first router beat follows group g-1's
    E beats and its own n*nw windows (+ 1), and, with two softmax contexts, comes at most ROUTE_CTX_LEAD clocks
    before group g-2 ends; a group ends 2E + 23 after its first beat (E beats in, softmax tail + division, E beats
    out writing the queues) but ROUTE_DIV_INTERVAL after the previous group at the earliest. k does not enter."""
    w, wb = 2 * cols, cols
    nw = -(-4 * e // w)
    rec = -(-2 * e // wb) + -(-e // wb)
    n = [min(LANES, t - g) for g in range(0, t, LANES)]
    first, end = [rec + 4 + n[0] * nw], [rec + 4 + n[0] * nw + 2 * e + 23]
    for g in range(1, len(n)):
        f = first[g - 1] + e + n[g] * nw + 1
        if g >= 2:
            f = max(f, end[g - 2] - uarch.ROUTE_CTX_LEAD)
        first.append(f)
        end.append(max(f + 2 * e + 23, end[g - 1] + uarch.ROUTE_DIV_INTERVAL))
    return end[-1]


@cocotb.test()
async def route_seq(dut):
    c = tbutil.cfg()
    gen = tbutil.rng()
    cols = int(dut.COLS.value)
    max_t, max_e, max_k = int(dut.MAX_TOKENS.value), int(dut.MAX_EXPERTS.value), int(dut.MAX_TOPK.value)
    act_bytes, wbuf_bytes = int(dut.ACT_BYTES.value), int(dut.WBUF_BYTES.value)
    w = 2 * cols
    cfg = replace(derive_accelerator_config("zcu102"), act_buffer_bytes=act_bytes, weight_buffer_bytes=wbuf_bytes,
                  max_tokens=max_t, max_experts=max_e, max_topk=max_k, array_cols=cols)
    mem = Mem(dut, act_bytes, wbuf_bytes, w, cols, gen)
    for name in ("start", "q_clear", "q_rd_en", "q_len_expert", "q_len2_expert", "q_rd_expert", "q_rd_index"):
        getattr(dut, name).value = 0
    dut.instr.value = 0
    dut.wbuf_full.value = 0
    dut.act_rd_data.value = 0
    dut.wb_rd_data.value = 0
    await tbutil.start(dut)
    cocotb.start_soon(mem.run())
    n_check = min(64, max_e + 2)
    errors = ["e_tok0", "e_exp0", "e_k0", "e_kbig", "e_kunsup", "e_tbig", "e_ebig", "e_pitch", "e_srcal", "e_pitchal",
              "e_srcrange", "e_srcover", "e_half", "e_paramal", "e_paramrange", "e_paramover", "e_shift"]
    kinds = ["tie", "sat", "neg", "single", "big", "shift_edge", "kmax", "full", *errors]
    kinds += [str(x) for x in gen.choice(["random"] * 20 + errors, int(c.get("n_random", 10)))]
    kinds.insert(8, "clear")   # q_clear in the middle (errors after it keep "no queues")
    prev: Any = None
    seen = {"run_err": 0, "chk_err": 0, "ok": 0}
    for ci, kind in enumerate(kinds):
        if kind == "clear":
            await FallingEdge(dut.clk)
            dut.q_clear.value = 1
            await FallingEdge(dut.clk)
            dut.q_clear.value = 0
            prev = None
            got = await read_queues(dut, n_check)
            assert got == expected_queues(None, n_check), f"case {ci}: q_clear left queues {got[:2]}"
            continue
        case = make_case(gen, mem, max_t, max_e, max_k, kind)
        ins = isa.make(Opcode.ROUTE, **case["fields"])
        code, reason, after = reference(cfg, mem, ins, case["full"], prev)
        if kind == "e_kunsup" and max_k < max_e:  # the capacity case the contract names
            assert case["fields"]["topk"] == max_k + 1 and code == ErrorCode.UNSUPPORTED, (kind, code, reason)
        if kind == "kmax":
            assert case["fields"]["topk"] == min(max_k, case["fields"]["experts"]) and code == ErrorCode.NONE
        await FallingEdge(dut.clk)
        dut.instr.value = int.from_bytes(isa.encode(ins), "little")
        dut.wbuf_full.value = int(case["full"][0]) | (int(case["full"][1]) << 1)
        await ReadOnly()
        chk = val(dut.chk_code)
        f = case["fields"]
        desc = f"case {ci} ({kind}) T={f['tokens']} E={f['experts']} k={f['topk']} fields {f}"
        run_time = code == ErrorCode.BAD_FIELD and "shift" in reason
        if code != ErrorCode.NONE and not run_time:
            assert chk == int(code), f"{desc}: chk_code {chk}, expected {code.name} ({reason})"
            seen["chk_err"] += 1
        else:
            assert chk == int(ErrorCode.NONE), f"{desc}: chk_code {chk}, expected NONE (then {code.name})"
            await FallingEdge(dut.clk)
            dut.start.value = 1
            await FallingEdge(dut.clk)
            dut.start.value = 0
            cycles = 1
            while True:
                await ReadOnly()
                assert int(dut.busy.value) == 1, f"{desc}: busy low before done"
                if int(dut.done.value):
                    break
                await FallingEdge(dut.clk)
                cycles += 1
                assert cycles < 200000, f"{desc}: no done"
            err = val(dut.err_code)
            assert err == int(code), f"{desc}: err_code {err}, expected {code.name} ({reason})"
            await FallingEdge(dut.clk)
            await ReadOnly()
            assert int(dut.busy.value) == 0, f"{desc}: busy after done"
            if code == ErrorCode.NONE:
                t, e, k = f["tokens"], f["experts"], f["topk"]
                model = cycle_formula(t, e, k, cols)
                dut._log.info("%s: %d cycles start->done (formula %d)", desc, cycles, model)
                if c.get("check_cycles", True):
                    assert cycles == model, f"{desc}: {cycles} cycles, formula says {model}"
                    perf = route_cycles(cfg, t, e)
                    assert cycles == perf, f"{desc}: {cycles} cycles, vitaccel.perf.timing.route_cycles says {perf}"
                seen["ok"] += 1
            else:
                e = f["experts"]
                rec = -(-2 * e // cols) + -(-e // cols)
                assert cycles == rec + 3, f"{desc}: shift error after {cycles} cycles, expected {rec + 3}"
                seen["run_err"] += 1
        got = await read_queues(dut, n_check)
        exp = expected_queues(after, n_check)
        assert got[:2] == exp[:2], f"{desc}: q_routed/q_experts {got[:2]}, expected {exp[:2]}"
        for ex in range(n_check):
            assert got[2][ex] == exp[2][ex], (f"{desc}: expert {ex} queue (tokens, weights) {got[2][ex]}, "
                                              f"expected {exp[2][ex]}")
        prev = after
        dut._log.info("%s -> %s, queue lengths %s", desc, code.name, [len(q[0]) for q in got[2]])
    dut._log.info("cases: %s", seen)
    assert seen["ok"] >= 5 and seen["run_err"] >= 1 and seen["chk_err"] >= 10
