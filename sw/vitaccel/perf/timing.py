"""Cycle model of the accelerator (docs/isa.md "Micro-architecture and timing").

Two engines fed in program order by one dispatcher through FIFOs of DISPATCH_QUEUE_DEPTH instructions:
  DMA engine  LOADs into the weight-buffer halves (runs ahead of compute; double buffering);
  compute     everything else: GEMM (MAC array + epilogue), LAYERNORM, ROUTE, and the blocking DMAs (LOAD to
              ACT, IM2COL, STORE), which also hold the DMA engine (they share the DDR).
A LOAD into half h starts when the last instruction releasing h has finished; a compute instruction reading
half h starts when the LOAD into h has finished (the wait is counted as a stall); a conditional instruction
waits for the ROUTE that decides it. Per-instruction costs are closed-form (instr_cost) so an RTL
implementation can match them; `schedule` composes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vitaccel.boards.accel import AcceleratorConfig
from vitaccel.isa import BSrc, Epilogue, Instruction, Opcode, Space, uarch


@dataclass(frozen=True)
class Cost:
    """Cost of one instruction: engine ('dma', 'exec', 'xdma' = blocking DMA, 'ctrl'), cycles, MACs (useful and
    array slots incl. padding), DDR bytes."""

    engine: str
    cycles: int
    macs: int = 0
    slots: int = 0
    dma_bytes: int = 0


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def dma_cycles(cfg: AcceleratorConfig, nbytes: int, rows: int = 1) -> int:
    """DMA transfer: setup + DDR first-data latency + max(bytes / sustained bytes per clock, one clock per row)."""
    bpc = uarch.dma_bytes_per_cycle(cfg.axi_ports, cfg.axi_data_bits, cfg.ddr_peak_gbps, cfg.clock_mhz)
    return uarch.DMA_SETUP + uarch.ddr_latency_cycles(cfg.clock_mhz) + max(math.ceil(nbytes / bpc), rows)


def gemm_cycles(cfg: AcceleratorConfig, m: int, n: int, k: int, epi: Epilogue, bsrc: int, *, pimm: bool = False,
                trans: bool = False, gather: bool = False) -> int:
    """GEMM on vitaccel_gemm_seq: R x C array, output stationary, loop for column tile (C outputs) for row tile
    (R rows) for k. m = rows after queue resolution.

    Phases before the tiles: the queue copy (gather / MOE_COMBINE: one entry per clock), the record's shift check
    (one C-byte weight-buffer window per clock), the GELU table, and for B in ACT the copy into the B-operand
    buffer (K * ceil(N / W) ACT windows). Per tile max(K, R * beat, R * ceil(K / W), transposed writes): K k-steps,
    the drain (one row per clock, two for int32), the A-tile fill (one W-byte ACT window per clock, overlapped),
    for trans outputs the drain into the tile transposer then one window per output column (ACC32 + trans: four
    clocks per drained row, per column four plane reads and four R-byte chunks of one window each: 4R + 8 min(C, N)
    on zcu102, unused by compiled models). Per column tile the record's bias / mult / shift windows
    (7, or 4 for ACC32's bias) share the weight-buffer port with B. SOFTMAX: two softmax contexts alternate per
    column tile, so a tile's second pass (M rows, then ceil(M / W) P windows per column) runs under the next tile's
    k-steps; the last tile's tail is exposed. With F = C / cfg.softmax_lanes > 1 lane groups sharing the softmax's
    pass-1 datapath a score row takes F clocks in (the drain: beat F; pass 2 still emits one row per clock)."""
    r, c = cfg.array_rows, cfg.array_cols
    if m == 0:
        return uarch.SKIP_CYCLES
    w = uarch.act_word_bytes(c)
    mt, nt = _cdiv(m, r), _cdiv(n, c)
    softmax = epi == Epilogue.SOFTMAX
    groups = c // cfg.softmax_lanes if softmax else 1  # softmax: clocks per score row in and out
    transposed = trans and not softmax
    # clocks per drained row: the epilogue's H = C / epilogue_lanes lane slices, the softmax's F lane groups, ACC32's
    # two windows; a row the sequencer holds for h > 1 clocks (ACC32) costs h + H - 1 (its successor's slices
    # only move on once it has left)
    slices = c // cfg.epilogue_lanes
    beat = max(groups, 2 + slices - 1 if epi == Epilogue.ACC32 and not transposed else slices)
    has_rec = not pimm
    has_shift = has_rec and epi != Epilogue.ACC32
    setup = (uarch.GEMM_SETUP
             + (m + 3 if gather or epi == Epilogue.MOE_COMBINE else 0)
             + (_cdiv(n, c) + 1 if has_shift else 0)
             + (uarch.GEMM_TABLE_LOAD if epi == Epilogue.GELU8 else 0)
             + (k * _cdiv(n, w) + 1 if bsrc == BSrc.ACT else 0))
    # trans outputs: the tile transposer moves byte planes (int8: plane 0; ACC32: the drain holds each row 4 clocks
    # for planes 0-3, each column is 4 plane reads then 4 chunks of R bytes), each column / chunk 1-2 windows
    planes = 4 if epi == Epilogue.ACC32 else 1
    t_trans = r * (planes + slices - 1 if planes > 1 else slices) + min(c, n) * (
        (planes if planes > 1 else 0) + planes * _cdiv(15 + r, w))
    t_tile = max(k, r * beat, r * _cdiv(k, w), t_trans if transposed else 0)
    params = ((4 if epi == Epilogue.ACC32 else 7) if has_rec and bsrc == BSrc.WBUF else 0)
    if softmax and groups > 1:  # a column tile's last row tile drains its rv valid rows in F clocks each
        rv = m - (mt - 1) * r
        t_last = max(k, groups * rv + r - rv, r * _cdiv(k, w))
        total = setup + r + nt * ((mt - 1) * t_tile + t_last) + nt * params
    else:
        total = setup + r + nt * mt * t_tile + nt * params
    if not softmax:
        return total + r * beat + uarch.GEMM_PIPE
    # two softmax contexts and P transposers used alternately: the second pass of column tile ct (its M rows, then
    # one P window per column per W rows) runs under tile ct + 1's k-steps; only the last tile's tail shows,
    # unless the P windows outrun the k-steps (small M and K)
    # F = groups > 1 lane groups share the softmax's pass-1 datapath: a score row takes F clocks (the drain's beat,
    # in t_tile; a column tile's last row tile takes max(K, F * rv + R - rv)), the last tile's valid rows F clocks
    # each, then F - 1 clocks while stage A holds the last row and F - 1 while the groups' sums enter the dividers;
    # pass 2 still emits a row per clock. Measured (sim/tb_gemm_seq.py, Verilator, 33 x 64, F = 2): model - RTL =
    # +3 clocks on (129, 129, 64) (1176 vs 1173) and the other m3vit-like shapes, +26 on (256, 80, 32); F = 1 exact
    cm, last_cols = _cdiv(m, w), n - (nt - 1) * c
    last = w * (cm - 1) + max(m - w * (cm - 1), last_cols if cm > 1 else 0) + last_cols
    chain = min(m, w) + cm * n - (nt - 1) * mt * t_tile
    return total + 1 + groups * ((m - 1) % r) + uarch.SOFTMAX_DRAIN + 2 * (groups - 1) + max(last, chain)


def layernorm_cycles(cfg: AcceleratorConfig, rows: int, cols: int) -> int:
    """LAYERNORM (vitaccel_ln_seq): L = cfg.ln_lanes int16 per clock, P = ceil(cols / L) beats per row, rows back
    to back through a pipelined statistics path (isqrt + reciprocal: LN_PIPE clocks of latency, one row per
    clock). The gamma / beta arrays stream from the weight buffer (COLS bytes per clock: min(L, COLS/2) gammas or
    min(L, COLS/4) betas) while the first row is read; they only show for wide rows (cols > 31 L for L <= COLS/4:
    496 at 16 lanes; cols > 384 at 64 lanes on a 64-column array)."""
    lanes = cfg.ln_lanes
    p = _cdiv(cols, lanes)
    gc, bc = min(lanes, cfg.array_cols // 2), min(lanes, cfg.array_cols // 4)
    head = max(p + uarch.LN_PIPE - 1, _cdiv(cols, gc) + _cdiv(cols, bc) + uarch.LN_PARAM_SETUP)
    return rows * p + head


def route_cycles(cfg: AcceleratorConfig, tokens: int, experts: int) -> int:
    """ROUTE (vitaccel_route_seq): read the route record (mult, shift: COLS-byte windows), then groups of
    ROUTE_LANES tokens: a token's E int32 logits are ceil(4E / W) ACT windows, read while the router takes the
    previous group's E beats. The router's gate softmax has two contexts, so two groups are in flight: group g
    ends (queues written) 2 E + ROUTE_GROUP_TAIL after its first beat, but not before ROUTE_DIV_INTERVAL after
    group g - 1 (one divider); group g + 2 reuses g's context and starts at most ROUTE_CTX_LEAD before g ends.
    top-k costs nothing extra (a streaming insertion per beat)."""
    c = cfg.array_cols
    nw = _cdiv(4 * experts, uarch.act_word_bytes(c))
    rec = _cdiv(2 * experts, c) + _cdiv(experts, c)
    groups = [min(uarch.ROUTE_LANES, tokens - g) for g in range(0, tokens, uarch.ROUTE_LANES)]
    start = rec + uarch.ROUTE_SETUP + groups[0] * nw  # first router beat of group 0
    ends: list[int] = []
    for g, n in enumerate(groups):
        if g:
            start += experts + n * nw + 1  # the previous group's E beats, this group's windows
            if g >= 2:
                start = max(start, ends[g - 2] - uarch.ROUTE_CTX_LEAD)
        end = start + 2 * experts + uarch.ROUTE_GROUP_TAIL
        ends.append(max(end, ends[-1] + uarch.ROUTE_DIV_INTERVAL) if ends else end)
    return ends[-1]


def instr_cost(ins: Instruction, m_eff: int | None, cfg: AcceleratorConfig, skipped: bool = False) -> Cost:
    """Closed-form cost of one instruction (m_eff: rows after queue resolution for qrows GEMMs)."""
    op = ins.op
    if op == Opcode.LOAD:
        nbytes = ins.get("row_bytes") * max(ins.get("rows"), 1)
        eng = "dma" if ins.get("space") == Space.WBUF else "xdma"
        if skipped:
            return Cost(eng, uarch.SKIP_CYCLES)
        return Cost(eng, dma_cycles(cfg, nbytes, ins.get("rows")), dma_bytes=nbytes)
    if skipped:
        return Cost("exec", uarch.SKIP_CYCLES)
    beat = cfg.axi_data_bits // 8
    if op == Opcode.STORE:  # groups of beats cut from ACT windows, bursts round-robin over the write ports
        rows = max(ins.get("rows"), 1)
        rb = ins.get("row_bytes")
        nbytes = rb * rows
        # OUTPUT is assumed beat-aligned: a row starts s = ddr_off % beat bytes into its first beat (the same s on
        # every row when dst_stride is a multiple of the beat; otherwise one beat more per row is assumed).
        # A clock moves a group of <= g beats of one burst: the group and its byte offset in a 16-byte chunk
        # ((-s) % 16: groups of whole 16-byte multiples keep it) fit in one ACT window of W bytes. Bursts are
        # STORE_BURST_BEATS beats; the last one drains at one beat per clock on its port.
        w = uarch.act_word_bytes(cfg.array_cols)
        same = rows == 1 or ins.get("dst_stride") % beat == 0
        s = ins.get("ddr_off") % beat
        nb = _cdiv(s + rb, beat) if same else _cdiv(rb, beat) + 1
        slack = (-s) % 16 if same else 15
        g = max(1, min(cfg.axi_ports, (w - slack) // beat))
        bb = uarch.STORE_BURST_BEATS
        row = (nb // bb) * _cdiv(bb, g) + _cdiv(nb % bb, g)
        stream = max(rows * row, _cdiv(rows * nb, cfg.axi_ports))
        # drain after the last group: the last burst's beats beyond its own push clocks, or the burst before it
        # (a full one of the same row, else the previous row's last) on its port, pushed just before
        ll = nb % bb or min(bb, nb)
        prev = bb if nb > bb else (ll if rows > 1 else 0)
        last = max(ll - _cdiv(ll, g), prev - _cdiv(prev, g) - _cdiv(ll, g))
        # bursts go to the ports in turn, so rows of k bursts with a short last one can load some ports more
        # (one beat per clock each): the busiest port's beats (+ up to 3 clocks when it holds several bursts)
        # bound the time as well
        k = _cdiv(nb, bb)
        load, bursts = [0] * cfg.axi_ports, [0] * cfg.axi_ports
        for i in range(rows * k):
            load[i % cfg.axi_ports] += ll if i % k == k - 1 else bb
            bursts[i % cfg.axi_ports] += 1
        port = max(n + min(3, c - 1) for n, c in zip(load, bursts) if c)
        cyc = uarch.DMA_SETUP + uarch.ddr_latency_cycles(cfg.clock_mhz) + max(stream + last, port)
        return Cost("sdma", cyc, dma_bytes=nbytes)
    if op == Opcode.IM2COL:  # image rows stream in on one port; one patch-row segment (<= 16 B) written per clock
        c, h, w, p = ins.get("chans"), ins.get("height"), ins.get("width"), ins.get("patch")
        nbytes = c * h * w
        segments = c * h * (w // max(p, 1)) * _cdiv(p, 16)
        cyc = uarch.DMA_SETUP + uarch.ddr_latency_cycles(cfg.clock_mhz) + max(segments, _cdiv(nbytes, beat))
        return Cost("xdma", cyc, dma_bytes=nbytes)
    if op == Opcode.LAYERNORM:
        return Cost("exec", layernorm_cycles(cfg, ins.get("rows"), ins.get("cols")))
    if op == Opcode.ROUTE:
        return Cost("exec", route_cycles(cfg, ins.get("tokens"), ins.get("experts")))
    if op == Opcode.GEMM:
        m = ins.get("m") if m_eff is None else m_eff
        n, k = ins.get("n"), ins.get("k")
        epi = Epilogue(ins.get("epi"))
        cyc = gemm_cycles(cfg, m, n, k, epi, ins.get("bsrc"), pimm=bool(ins.get("pimm")),
                          trans=bool(ins.get("trans")), gather=bool(ins.get("gather")))
        slots = _cdiv(m, cfg.array_rows) * cfg.array_rows * _cdiv(n, cfg.array_cols) * cfg.array_cols * k
        return Cost("exec", cyc, macs=m * n * k, slots=slots)
    return Cost("ctrl", 1)


@dataclass
class InstrTiming:
    index: int
    op: str
    layer: str
    engine: str
    dispatch: int
    start: int
    end: int
    stall: int
    cost: Cost


@dataclass
class Timing:
    """Schedule of one program run: total cycles, compute stalls, per-instruction times."""

    total_cycles: int
    stall_cycles: int
    instrs: list[InstrTiming] = field(default_factory=list)

    def layers(self, group_experts: bool = True) -> list[dict[str, Any]]:
        """Per-layer breakdown: cycles on the compute timeline (incl. stalls), busy, stall, MACs, DDR bytes."""
        out: dict[str, dict[str, Any]] = {}
        first: dict[str, int] = {}
        prev_end = 0
        for it in self.instrs:
            name = _group(it.layer, group_experts)
            d = out.setdefault(name, {"layer": name, "cycles": 0, "compute_cycles": 0, "stall_cycles": 0,
                                      "macs": 0, "array_slots": 0, "bytes": 0, "dma_cycles": 0})
            if it.engine == "dma":
                d["bytes"] += it.cost.dma_bytes
                d["dma_cycles"] += it.end - it.start
                continue
            first.setdefault(name, it.index)
            d["cycles"] += max(it.end - prev_end, 0)
            d["compute_cycles"] += it.end - it.start
            d["stall_cycles"] += it.stall
            d["macs"] += it.cost.macs
            d["array_slots"] += it.cost.slots
            d["bytes"] += it.cost.dma_bytes
            prev_end = max(prev_end, it.end)
        for d in out.values():
            d["bound"] = "memory" if d["dma_cycles"] > d["compute_cycles"] else "compute"
        return sorted(out.values(), key=lambda d: first.get(d["layer"], 1 << 30))


def _group(name: str, group_experts: bool) -> str:
    if group_experts and ".experts." in name:
        return name.partition(".experts.")[0] + ".experts"
    return name or "program"


def schedule(executed: list[Any], cfg: AcceleratorConfig, layer_of: list[str] | None = None) -> Timing:
    """Compose instruction costs into a schedule. executed: objects with .index, .ins, .m, .skipped (the ISA
    simulator's trace or `resolve_static`). layer_of: layer name per instruction index (else the note)."""
    qd = uarch.DISPATCH_QUEUE_DEPTH
    t0 = uarch.DMA_SETUP + uarch.ddr_latency_cycles(cfg.clock_mhz)  # header + first program fetch
    disp_prev = t0
    exec_free = dma_free = t0
    ready = [0, 0]  # end of the last LOAD into each half
    free = [0, 0]  # end of the last release of each half
    route_end = 0
    pending_stores: list[tuple[int, int, int]] = []
    last_dma_was_load = False
    starts: dict[str, list[int]] = {"dma": [], "exec": []}
    stall_total = 0
    out: list[InstrTiming] = []
    for rec in executed:
        ins: Instruction = rec.ins
        cost = instr_cost(ins, rec.m if ins.op == Opcode.GEMM and ins.get("qrows") else None, cfg,
                          bool(getattr(rec, "skipped", False)))
        eng = cost.engine
        qname = "dma" if eng in ("dma", "sdma") else "exec"
        disp = disp_prev + 1
        q = starts[qname]
        if len(q) >= qd:
            disp = max(disp, q[-qd])
        disp_prev = disp
        layer = (layer_of[rec.index] if layer_of is not None and rec.index < len(layer_of) else ins.note) or ""
        stall = 0
        h = ins.get("wbuf")
        if ins.op == Opcode.END:
            start = max(disp, exec_free, dma_free)
            end = start + 1
            out.append(InstrTiming(rec.index, ins.op.name, layer, "ctrl", disp, start, end, 0, cost))
            exec_free = end
            break
        if eng == "dma":
            start = max(disp, dma_free, free[h])
            if ins.get("cond"):
                start = max(start, route_end)
            cyc = cost.cycles
            if start == dma_free and last_dma_was_load and not rec.skipped:
                # back to back: the engine issued this transfer's first bursts while the previous one's data
                # were still arriving (outstanding reads), so the DDR latency is paid once per stream
                cyc -= uarch.ddr_latency_cycles(cfg.clock_mhz)
            end = start + cyc
            last_dma_was_load = not rec.skipped
            dma_free = end
            if not rec.skipped:
                ready[h] = end
        elif eng == "xdma":
            start = max(disp, exec_free, dma_free)
            end = start + cost.cycles
            exec_free = dma_free = end
            last_dma_was_load = False
        elif eng == "sdma":  # STORE: after every earlier compute instruction, on the DMA engine
            start = max(disp, exec_free, dma_free)
            end = start + cost.cycles
            dma_free = end
            last_dma_was_load = False
            lo = ins.get("src")
            hi = lo + max(ins.get("rows") - 1, 0) * ins.get("src_pitch") + ins.get("row_bytes")
            pending_stores.append((lo, hi, end))
        elif ins.op == Opcode.SYNC:
            start = max(disp, exec_free, dma_free)
            end = start + 1
            exec_free = end
        else:
            base = max(disp, exec_free)
            need = base
            if pending_stores:
                lo, hi = _dst_range(ins)
                for slo, shi, send in pending_stores:
                    if lo < shi and slo < hi:
                        need = max(need, send)
            if _reads_wbuf(ins) and not rec.skipped:
                need = max(need, ready[h])
            if ins.get("cond"):
                need = max(need, route_end)
            stall = need - base
            start = need
            end = start + cost.cycles
            exec_free = end
            if ins.get("release") and not rec.skipped:
                free[h] = end
            if ins.op == Opcode.ROUTE:
                route_end = end
        stall_total += stall if eng != "dma" else 0
        q.append(start)
        out.append(InstrTiming(rec.index, ins.op.name, layer, eng, disp, start, end, stall, cost))
    total = max(exec_free, dma_free)
    return Timing(total_cycles=int(total), stall_cycles=int(stall_total), instrs=out)


def _dst_range(ins: Instruction) -> tuple[int, int]:
    """ACT byte range an instruction may write (for the STORE hazard check)."""
    op = ins.op
    if op == Opcode.GEMM:
        epi = Epilogue(ins.get("epi"))
        es = {Epilogue.ACC32: 4, Epilogue.RESADD: 2, Epilogue.MOE_COMBINE: 2}.get(epi, 1)
        rows, width = (ins.get("n"), ins.get("m") * es) if ins.get("trans") else (ins.get("m"), ins.get("n") * es)
        return ins.get("dst"), ins.get("dst") + max(rows - 1, 0) * ins.get("dst_pitch") + width
    if op == Opcode.LAYERNORM:
        return ins.get("dst"), ins.get("dst") + ins.get("rows") * max(ins.get("dst_pitch"), ins.get("cols"))
    return 0, 0


def _reads_wbuf(ins: Instruction) -> bool:
    if ins.op in (Opcode.LAYERNORM, Opcode.ROUTE):
        return True
    if ins.op == Opcode.GEMM:
        return ins.get("bsrc") == BSrc.WBUF or not ins.get("pimm")
    return False


@dataclass
class _Rec:
    index: int
    ins: Instruction
    m: int = 0
    skipped: bool = False


def balanced_queues(tokens: int, experts: int, topk: int) -> list[int]:
    """Assumed routing for static estimates: tokens*topk assignments spread evenly (lower experts get the
    remainder), every expert active -- the load-balanced case MoE training aims for."""
    total = tokens * topk
    base, extra = divmod(total, experts)
    return [min(tokens, base + (1 if e < extra else 0)) for e in range(experts)]


def resolve_static(instrs: list[Instruction], queue_lengths: list[list[int]] | None = None) -> list[_Rec]:
    """Walk a program without data: ROUTE i takes queue_lengths[i] (default balanced_queues), conditional
    instructions are skipped on empty queues and qrows GEMMs take the queue length."""
    recs: list[_Rec] = []
    cur: list[int] | None = None
    n_route = 0
    for i, ins in enumerate(instrs):
        if ins.op == Opcode.ROUTE:
            if queue_lengths is not None and n_route < len(queue_lengths):
                cur = list(queue_lengths[n_route])
            else:
                cur = balanced_queues(ins.get("tokens"), ins.get("experts"), ins.get("topk"))
            n_route += 1
        r = _Rec(i, ins)
        if ins.get("cond") and cur is not None and cur[ins.get("expert")] == 0:
            r.skipped = True
        if ins.op == Opcode.GEMM:
            r.m = cur[ins.get("expert")] if ins.get("qrows") and cur is not None else ins.get("m")
        recs.append(r)
        if ins.op == Opcode.END:
            break
    return recs


__all__ = [
    "Cost",
    "Timing",
    "balanced_queues",
    "dma_cycles",
    "gemm_cycles",
    "instr_cost",
    "layernorm_cycles",
    "resolve_static",
    "route_cycles",
    "schedule",
]
