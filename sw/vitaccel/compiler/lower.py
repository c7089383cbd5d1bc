"""Lowering a QuantizedModel to a program + memory image for one AcceleratorConfig and one task.

Schedule (docs/isa.md "Compiler"):
- Activations live in the ACT buffer for the whole inference: the int16 residual X, the LayerNorm output LN and
  one scratch region reused by phase (patches | Q^T, K|V, P, context | MLP hidden | gate logits + expert hidden
  | head output chunk). The peak of X + LN + the largest phase must fit act_buffer_bytes (FitError otherwise).
- Weights stream through the two weight-buffer halves in program order: segment j (a LayerNorm record and/or
  GEMM operand tiles with their epilogue records) goes to half j % 2. Its LOAD is issued right after the
  instruction that releases segment j - 2, so the DMA fetches the next segment while the array computes;
  expert segments are conditional on their queue (skipped, never fetched, when no token routes to the expert),
  and their LOADs are placed after the ROUTE that decides them. Every byte of the image is read once.
- A GEMM whose operand + records exceed a half is split into column chunks (multiples of the array width);
  one chunk that still does not fit gives FitError naming the layer, the bytes needed and the half's size.
- Attention, per head: Q.K^T as GEMM(A = K_h rows, B = Q_h^T) with the SOFTMAX epilogue (online over keys)
  written transposed into P (queries x keys, uint8), then A.V as GEMM(A = P uint8, B = V_h) -> context columns.
  Q is written transposed (Q^T, dim x tokens) by the qkv GEMM so both run from ACT with plain row reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vitaccel import isa
from vitaccel.boards.accel import AcceleratorConfig
from vitaccel.errors import FitError
from vitaccel.golden.ops import check_acc_bound
from vitaccel.isa import BSrc, DdrBase, Epilogue, Instruction, Space, make
from vitaccel.isa.image import ImageBuilder, align

PITCH_ALIGN = 16  # = isa.ACT_ALIGN
HEAD_CHUNK_TILES = 4  # head output columns per GEMM/STORE chunk, in array-column tiles


def _pitch(nbytes: int) -> int:
    return align(nbytes, PITCH_ALIGN)


@dataclass
class Region:
    """An ACT allocation: byte address, rows, row pitch (bytes)."""

    name: str
    addr: int
    rows: int
    pitch: int

    @property
    def nbytes(self) -> int:
        return self.rows * self.pitch

    def row(self, i: int) -> int:
        return self.addr + i * self.pitch


@dataclass
class Segment:
    """Bytes loaded into one weight-buffer half by one LOAD (cond: only if queue `expert` is non-empty)."""

    name: str
    data: bytearray = field(default_factory=bytearray)
    cond_expert: int | None = None
    route_id: int | None = None  # the ROUTE whose queues decide a conditional segment
    half: int = 0
    layer: str = ""  # layer of the first GEMM (else instruction) that reads it (per-layer DDR bytes)
    layer_has_gemm: bool = False
    image_offset: int = 0
    image_bytes: int = 0

    def add(self, blob: bytes) -> int:
        off = align(len(self.data), isa.WBUF_ALIGN)
        self.data.extend(b"\0" * (off - len(self.data)))
        self.data.extend(blob)
        return off


@dataclass
class CompiledProgram:
    """Result of compile_model: instructions, memory image, manifest (JSON-able), per-instruction layer."""

    instructions: list[Instruction]
    image: bytes
    manifest: dict[str, Any]
    layer_of: list[str]

    @property
    def program(self) -> bytes:
        return isa.encode_program(self.instructions)


class _Emitter:
    """Collects instructions and weight segments, then places each segment's LOAD as early as the double
    buffer allows (see module docstring): right after the instruction releasing segment j - 2 (and after the
    ROUTE deciding a conditional segment), in segment order."""

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self.ins: list[Instruction] = []
        self.layer_of: list[str] = []
        self.segments: list[Segment] = []
        self.layer = ""
        self.route_pos: dict[int, int] = {}
        self.release_pos: dict[int, int] = {}
        self.first_use: dict[int, int] = {}
        self.last_read: dict[int, int] = {}
        self.prologue_end = -1  # segment 1 is loaded after the blocking prologue (X init, IM2COL)

    def emit(self, ins: Instruction) -> None:
        if not ins.note:
            ins.note = self.layer
        self.ins.append(ins)
        self.layer_of.append(self.layer)

    def new_segment(self, name: str, cond_expert: int | None = None, route_id: int | None = None) -> Segment:
        seg = Segment(name=name, cond_expert=cond_expert, route_id=route_id, half=len(self.segments) % 2)
        self.segments.append(seg)
        return seg

    def check_fit(self, seg: Segment) -> None:
        if len(seg.data) > self.cfg.weight_buffer_bytes:
            raise FitError(f"layer {seg.name}: weight segment needs {len(seg.data)} bytes but one weight-buffer "
                           f"half holds {self.cfg.weight_buffer_bytes} bytes (weight_buffer_bytes)")

    def seg_index(self, seg: Segment) -> int:
        return self.segments.index(seg)

    def compute(self, seg: Segment, ins: Instruction, release: bool = False) -> None:
        """Emit a compute instruction reading `seg`'s half (release: it is the segment's last reader)."""
        j = self.seg_index(seg)
        if not seg.layer or (ins.op == isa.Opcode.GEMM and not seg.layer_has_gemm):
            seg.layer = self.layer  # DDR bytes are attributed to the first GEMM reading the segment
            seg.layer_has_gemm = ins.op == isa.Opcode.GEMM
        ins.fields["wbuf"] = seg.half
        if seg.cond_expert is not None:
            ins.fields["cond"] = 1
            ins.fields["expert"] = seg.cond_expert
        self.first_use.setdefault(j, len(self.ins))
        self.last_read[j] = len(self.ins)
        self.emit(ins)
        if release:
            self.mark_release(j, len(self.ins) - 1)

    def mark_release(self, j: int, pos: int) -> None:
        self.ins[pos].fields["release"] = 1
        self.release_pos[j] = pos

    def route_done(self, route_id: int) -> None:
        self.route_pos[route_id] = len(self.ins) - 1

    def finalize(self) -> None:
        """Insert the LOADs. Raises AssertionError on an internal scheduling inconsistency."""
        after: list[int] = []
        for j, seg in enumerate(self.segments):
            if j not in self.release_pos:
                raise AssertionError(f"segment {j} ({seg.name}) is never released")
            pos = self.release_pos[j - 2] if j >= 2 else (-1 if j == 0 else self.prologue_end)
            if seg.cond_expert is not None:
                pos = max(pos, self.route_pos[seg.route_id])  # type: ignore[index]
            if after:
                pos = max(pos, after[-1])
            if pos >= self.first_use.get(j, len(self.ins)):
                raise AssertionError(f"segment {j} ({seg.name}) is read before its LOAD can be issued")
            after.append(pos)
        loads_at: dict[int, list[int]] = {}
        for j, pos in enumerate(after):
            loads_at.setdefault(pos, []).append(j)
        ins, lay = [], []

        def put_loads(pos: int) -> None:
            for j in loads_at.get(pos, []):
                seg = self.segments[j]
                f: dict[str, int] = dict(ddr_base=int(DdrBase.IMAGE), space=int(Space.WBUF), wbuf=seg.half, rows=1)
                if seg.cond_expert is not None:
                    f.update(cond=1, expert=seg.cond_expert)
                load = make("LOAD", note=f"segment {j}: {seg.name}", **f)
                load.fields["_segment"] = j
                ins.append(load)
                lay.append(seg.layer or seg.name)

        put_loads(-1)
        for p, (x, name) in enumerate(zip(self.ins, self.layer_of)):
            ins.append(x)
            lay.append(name)
            put_loads(p)
        self.ins, self.layer_of = ins, lay


def _act_alloc(cfg_m: Any, acc: AcceleratorConfig, task_kind: str, n_out: int, head_chunk: int) -> dict[str, Any]:
    """Static ACT layout: X, LN, then the scratch phases overlaid at one base. FitError if it does not fit."""
    t, d = cfg_m.tokens, cfg_m.dim
    np_ = cfg_m.num_patches
    regions: dict[str, Region] = {}
    x = Region("X", 0, t, _pitch(2 * d))
    ln = Region("LN", x.addr + x.nbytes, t, _pitch(d))
    base = align(ln.addr + ln.nbytes, 64)
    regions.update(X=x, LN=ln)
    phases: dict[str, list[Region]] = {}

    def phase(name: str, specs: list[tuple[str, int, int]]) -> None:
        addr = base
        lst = []
        for rname, rows, pitch in specs:
            r = Region(rname, addr, rows, pitch)
            addr = align(addr + r.nbytes, 64)
            lst.append(r)
            regions[rname] = r
        phases[name] = lst

    phase("patch_embed", [("PATCHES", np_, _pitch(cfg_m.patch_dim))])
    phase("attention", [("QT", d, _pitch(t)), ("KV", t, _pitch(2 * d)), ("P", t, _pitch(t))])
    regions["CTX"] = Region("CTX", ln.addr, t, ln.pitch)  # LN is dead once Q^T, K, V exist
    if len(cfg_m.moe_blocks) < cfg_m.depth:
        phase("mlp", [("HID", t, _pitch(cfg_m.mlp_hidden))])
    if cfg_m.moe_blocks:
        phase("moe", [("LOGITS", t, _pitch(4 * cfg_m.num_experts)), ("EH", t, _pitch(cfg_m.expert_hidden))])
    out_rows = 1 if task_kind == "classify" else np_
    phase("head", [("OUT", out_rows, _pitch(4 * head_chunk)), ("OUT1", out_rows, _pitch(4 * head_chunk))])
    need = {k: (v[-1].addr + v[-1].nbytes) for k, v in phases.items()}
    worst = max(need, key=lambda k: need[k])
    if need[worst] > acc.act_buffer_bytes:
        detail = ", ".join(f"{r.name} {r.nbytes}" for r in [x, ln, *phases[worst]])
        raise FitError(f"layer {worst}: activations need {need[worst]} bytes on chip ({detail}) but the "
                       f"activation buffer holds {acc.act_buffer_bytes} bytes (act_buffer_bytes)")
    return {"regions": regions, "peak_bytes": need[worst], "peak_phase": worst, "n_out": n_out}


def _req_record(p: Any, kind: str = "req", table: np.ndarray | None = None) -> bytes:
    n = int(np.asarray(p.bias).size)
    if kind == "bias":
        return isa.pack_record("bias", n, bias=p.bias)
    if kind == "gelu":
        return isa.pack_record("gelu", n, bias=p.bias, mult=p.mult, shift=p.shift, table=table)
    return isa.pack_record("req", n, bias=p.bias, mult=p.mult, shift=p.shift)


def _ln_record(p: Any) -> bytes:
    n = int(np.asarray(p.gamma_mult).size)
    return isa.pack_record("layernorm", n, eps=[p.eps], out_shift=[p.out_shift], gamma=p.gamma_mult, beta=p.beta)


def _col_chunks(n: int, k: int, rec_per_col: int, cols: int, budget: int, fixed: int, name: str) -> list[int]:
    """Column-chunk widths (multiples of `cols`, last may be partial) so K*chunk + records + fixed <= budget."""
    per_tile = k * cols + rec_per_col * cols
    avail = budget - fixed - 64 * 4  # alignment slack of the records
    tiles = avail // per_tile if per_tile else 0
    total_tiles = -(-n // cols)
    if tiles < 1:
        raise FitError(f"layer {name}: one {cols}-column operand tile of K = {k} needs {per_tile + fixed} bytes "
                       f"but one weight-buffer half holds {budget} bytes (weight_buffer_bytes)")
    if tiles >= total_tiles:
        return [n]
    # balance the chunks
    nchunks = -(-total_tiles // tiles)
    per = -(-total_tiles // nchunks) * cols
    out = []
    left = n
    while left > 0:
        out.append(min(per, left))
        left -= per
    return out


def compile_model(qm: Any, acc: AcceleratorConfig, task: int | str = 0) -> CompiledProgram:
    """Lower QuantizedModel `qm` for `acc` and one task. FitError if a layer does not fit the buffers."""
    m = qm.config
    ti = m.task_index(task)
    spec = m.tasks[ti]
    _rows_r, cols = acc.array_rows, acc.array_cols
    t, d, hd, heads = m.tokens, m.dim, m.head_dim, m.heads
    npch = m.num_patches
    if t > acc.max_tokens:
        raise FitError(f"model {m.name}: {t} tokens but the accelerator supports max_tokens = {acc.max_tokens}")
    if m.moe_blocks and m.num_experts > acc.max_experts:
        raise FitError(f"model {m.name}: {m.num_experts} experts per MoE layer but max_experts = {acc.max_experts}")
    if m.moe_blocks and m.top_k > acc.max_topk:
        raise FitError(f"model {m.name}: top_k = {m.top_k} experts per token but the accelerator's router keeps "
                       f"max_topk = {acc.max_topk}")
    if m.moe_blocks and m.num_experts > 64:
        raise FitError(f"model {m.name}: {m.num_experts} experts exceed the ISA's 6-bit expert field (64)")
    if hd % isa.ACT_ALIGN or d % isa.ACT_ALIGN:
        raise FitError(f"model {m.name}: dim {d} / head dim {hd} must be multiples of {isa.ACT_ALIGN} (ACT_ALIGN: "
                       "each head's Q, K, V columns start on a 16-byte boundary)")
    half = acc.weight_buffer_bytes
    head_rec = qm.layer(f"heads.{ti}")
    n_out = int(head_rec.params.weight.shape[0])
    # Head output columns in chunks of at most HEAD_CHUNK_TILES array columns, alternating between two OUT
    # buffers, so the STORE of chunk j (DMA engine) overlaps the GEMM of chunk j + 1.
    out_rows = 1 if spec.kind == "classify" else npch
    x_ln = t * _pitch(2 * d) + t * _pitch(d) + 128
    act_tiles = max((acc.act_buffer_bytes - x_ln) // (2 * out_rows * 4 * cols), 1)
    tiles = max(min(HEAD_CHUNK_TILES, act_tiles), 1)
    head_chunks = _col_chunks(n_out, d, 4, cols, min(half, d * cols * tiles + 4 * cols * tiles + 320), 0,
                              f"heads.{ti}")
    alloc = _act_alloc(m, acc, spec.kind, n_out, max(head_chunks))
    R = alloc["regions"]
    X, LN = R["X"], R["LN"]
    em = _Emitter(acc)
    builder = ImageBuilder(acc.axi_data_bits)

    # ---- constants: X initialisation (CLS + position embedding) ----
    pe = qm.layer("patch_embed").params
    x0 = np.zeros((t, d), dtype="<i2")
    x0[0] = np.asarray(pe.cls)
    x0[1:] = np.asarray(pe.pos)
    c_off, _c_len = builder.add(x0.tobytes())
    builder.begin_weights()
    em.layer = "patch_embed"
    em.emit(make("LOAD", ddr_base=DdrBase.IMAGE, space=Space.ACT, ddr_off=c_off, dst=X.addr, row_bytes=2 * d,
                 rows=t, dst_pitch=X.pitch, src_stride=2 * d))
    P = R["PATCHES"]
    em.emit(make("IM2COL", ddr_base=DdrBase.INPUT, ddr_off=0, dst=P.addr, height=m.img_size[0],
                 width=m.img_size[1], chans=m.in_chans, patch=m.patch, dst_pitch=P.pitch))
    em.prologue_end = len(em.ins) - 1

    def gemm_weights(name: str, a: Region | int, a_pitch: int, mrows: int, w: np.ndarray, recs: list[bytes],
                     rec_kind: str, epi: Epilogue, dst: int, dst_pitch: int, trans: bool = False,
                     first_seg: Segment | None = None, release_last: bool = True, cond: int | None = None,
                     route_id: int | None = None, gather: bool = False, qrows: bool = False,
                     rec_arrays: dict[str, np.ndarray] | None = None, dst_esize: int = 1) -> Segment:
        """GEMM(s) of A (mrows x K) with weights w (N, K) from the weight buffer; column-chunked to fit."""
        w = np.asarray(w)
        n, k = w.shape
        assert rec_arrays is not None
        check_acc_bound(k, 128, rec_arrays.get("bias"), name)  # the int32 accumulator can never overflow
        rec_per_col = {"bias": 4, "req": 7, "gelu": 7, "combine": 7}[rec_kind]
        fixed = len(first_seg.data) if first_seg is not None else 0
        fixed += 256 if rec_kind == "gelu" else 0
        try:
            chunks = _col_chunks(n, k, rec_per_col, cols, half, fixed, name)
        except FitError:
            if first_seg is None:
                raise
            # no room left in the current segment: close it (its last reader releases) and start a new one
            j0 = em.seg_index(first_seg)
            em.mark_release(j0, em.last_read[j0])
            first_seg = None
            chunks = _col_chunks(n, k, rec_per_col, cols, half, 256 if rec_kind == "gelu" else 0, name)
        a_addr = a.addr if isinstance(a, Region) else a
        seg = first_seg
        c0 = 0
        for ci, cw in enumerate(chunks):
            if seg is None or ci > 0:
                seg = em.new_segment(name if len(chunks) == 1 else f"{name}[{ci}]", cond, route_id)
            b_off = seg.add(isa.pack_b_tiles(w[c0:c0 + cw], cols).tobytes())
            sl = {kk: (np.asarray(v)[c0:c0 + cw] if np.ndim(v) == 1 and np.size(v) == n else v)
                  for kk, v in rec_arrays.items()}
            p_off = seg.add(isa.pack_record(rec_kind, cw, **sl))
            em.check_fit(seg)
            f = dict(epi=int(epi), bsrc=int(BSrc.WBUF), a=a_addr, b=b_off, param=p_off, m=mrows, n=cw, k=k,
                     a_pitch=a_pitch, dst_pitch=dst_pitch, trans=int(trans), gather=int(gather), qrows=int(qrows))
            f["dst"] = dst + (c0 * dst_pitch if trans else c0 * dst_esize)
            em.compute(seg, make("GEMM", **f), release=release_last or ci < len(chunks) - 1)
            c0 += cw
        assert seg is not None
        return seg

    # ---- patch embedding: RESADD into X rows 1.. ----
    gemm_weights("patch_embed", P, P.pitch, npch, pe.weight, [], "req", Epilogue.RESADD, X.row(1), X.pitch,
                 rec_arrays=dict(bias=pe.bias, mult=pe.mult, shift=pe.shift), dst_esize=2)

    QT, KV, PR, CTX = R["QT"], R["KV"], R["P"], R["CTX"]
    route_id = 0
    for i in range(m.depth):
        b = f"blocks.{i}"
        # norm1 + qkv (Q transposed into Q^T, K|V row-major)
        em.layer = f"{b}.norm1"
        seg = em.new_segment(f"{b}.norm1+attn.qkv")
        ln_off = seg.add(_ln_record(qm.layer(f"{b}.norm1").params))
        em.compute(seg, make("LAYERNORM", src=X.addr, dst=LN.addr, rows=t, cols=d, src_pitch=X.pitch,
                             dst_pitch=LN.pitch, param=ln_off))
        em.layer = f"{b}.attn.qkv"
        qp = qm.layer(f"{b}.attn.qkv").params
        ra = dict(bias=qp.bias[:d], mult=qp.mult[:d], shift=qp.shift[:d])
        last = gemm_weights(f"{b}.attn.qkv", LN, LN.pitch, t, qp.weight[:d], [], "req", Epilogue.REQ8, QT.addr,
                            QT.pitch, trans=True, first_seg=seg, release_last=False, rec_arrays=ra)
        ra = dict(bias=qp.bias[d:], mult=qp.mult[d:], shift=qp.shift[d:])
        gemm_weights(f"{b}.attn.qkv", LN, LN.pitch, t, qp.weight[d:], [], "req", Epilogue.REQ8, KV.addr, KV.pitch,
                     first_seg=last, rec_arrays=ra)
        # attention core, per head, operands from ACT
        em.layer = f"{b}.attn"
        ap = qm.layer(f"{b}.attn").params
        check_acc_bound(hd, 128, None, f"{b}.attn.qk")
        check_acc_bound(t, 255, None, f"{b}.attn.av")
        for h in range(heads):
            em.emit(make("GEMM", epi=Epilogue.SOFTMAX, bsrc=BSrc.ACT, trans=1, pimm=1, mult=ap.score_mult,
                         shift=ap.score_shift, a=KV.addr + h * hd, a_pitch=KV.pitch, m=t, k=hd,
                         b=QT.row(h * hd), b_pitch=QT.pitch, n=t, dst=PR.addr, dst_pitch=PR.pitch))
            em.emit(make("GEMM", epi=Epilogue.REQ8, bsrc=BSrc.ACT, pimm=1, a_u8=1, mult=ap.out_mult,
                         shift=ap.out_shift, a=PR.addr, a_pitch=PR.pitch, m=t, k=t, b=KV.addr + d + h * hd,
                         b_pitch=KV.pitch, n=hd, dst=CTX.addr + h * hd, dst_pitch=CTX.pitch))
        em.layer = f"{b}.attn.proj"
        pp = qm.layer(f"{b}.attn.proj").params
        gemm_weights(f"{b}.attn.proj", CTX, CTX.pitch, t, pp.weight, [], "req", Epilogue.RESADD, X.addr, X.pitch,
                     rec_arrays=dict(bias=pp.bias, mult=pp.mult, shift=pp.shift), dst_esize=2)
        em.layer = f"{b}.norm2"
        n2 = qm.layer(f"{b}.norm2").params
        if i in m.moe_blocks:
            mp = qm.layer(f"{b}.moe").params
            e_n = mp.num_experts
            seg = em.new_segment(f"{b}.norm2+moe.gate")
            ln_off = seg.add(_ln_record(n2))
            em.compute(seg, make("LAYERNORM", src=X.addr, dst=LN.addr, rows=t, cols=d, src_pitch=X.pitch,
                                 dst_pitch=LN.pitch, param=ln_off))
            em.layer = f"{b}.moe.gate"
            LG, EH = R["LOGITS"], R["EH"]
            gw = np.asarray(mp.gate_weight[ti])
            b_off = seg.add(isa.pack_b_tiles(gw, cols).tobytes())
            p_off = seg.add(isa.pack_record("bias", e_n, bias=np.zeros(e_n, dtype=np.int64)))
            r_off = seg.add(isa.pack_record("route", e_n, mult=mp.gate_mult[ti], shift=mp.gate_shift[ti]))
            em.check_fit(seg)
            em.compute(seg, make("GEMM", epi=Epilogue.ACC32, bsrc=BSrc.WBUF, a=LN.addr, a_pitch=LN.pitch, m=t,
                                 k=d, b=b_off, n=e_n, param=p_off, dst=LG.addr, dst_pitch=LG.pitch))
            em.compute(seg, make("ROUTE", src=LG.addr, src_pitch=LG.pitch, tokens=t, experts=e_n, topk=mp.top_k,
                                 param=r_off), release=True)
            em.route_done(route_id)
            for e in range(e_n):
                en = f"{b}.moe.experts.{e}"
                em.layer = en
                gseg = gemm_weights(f"{en}.fc1", LN, LN.pitch, t, mp.fc1_weight[e], [], "gelu", Epilogue.GELU8,
                                    EH.addr, EH.pitch, release_last=False, cond=e, route_id=route_id,
                                    gather=True, qrows=True,
                                    rec_arrays=dict(bias=mp.fc1_bias[e], mult=mp.fc1_mult[e],
                                                    shift=mp.fc1_shift[e], table=mp.gelu_table[e]))
                # fc2 + combine continue in the same segment when it fits, else new chunks
                w2 = np.asarray(mp.fc2_weight[e])
                need = len(gseg.data) + isa.b_tiles_bytes(w2.shape[1], w2.shape[0], cols) + isa.record_bytes(
                    "combine", w2.shape[0]) + 64
                first = gseg if need <= half else None
                if first is None:  # fc2 gets its own segment(s): the last fc1 GEMM releases the fc1 segment
                    em.mark_release(em.seg_index(gseg), em.last_read[em.seg_index(gseg)])
                gemm_weights(f"{en}.fc2", EH, EH.pitch, t, w2, [], "combine", Epilogue.MOE_COMBINE, X.addr,
                             X.pitch, first_seg=first, cond=e, route_id=route_id, qrows=True,
                             rec_arrays=dict(bias=mp.fc2_bias[e], cmult=mp.comb_mult[e], cshift=mp.comb_shift[e]),
                             dst_esize=2)
            route_id += 1
        else:
            HID = R["HID"]
            seg = em.new_segment(f"{b}.norm2+mlp.fc1")
            ln_off = seg.add(_ln_record(n2))
            em.compute(seg, make("LAYERNORM", src=X.addr, dst=LN.addr, rows=t, cols=d, src_pitch=X.pitch,
                                 dst_pitch=LN.pitch, param=ln_off))
            em.layer = f"{b}.mlp.fc1"
            f1 = qm.layer(f"{b}.mlp.fc1").params
            table = qm.layer(f"{b}.mlp.act").params.table
            gemm_weights(f"{b}.mlp.fc1", LN, LN.pitch, t, f1.weight, [], "gelu", Epilogue.GELU8, HID.addr,
                         HID.pitch, first_seg=seg,
                         rec_arrays=dict(bias=f1.bias, mult=f1.mult, shift=f1.shift, table=table))
            em.layer = f"{b}.mlp.fc2"
            f2 = qm.layer(f"{b}.mlp.fc2").params
            gemm_weights(f"{b}.mlp.fc2", HID, HID.pitch, t, f2.weight, [], "req", Epilogue.RESADD, X.addr,
                         X.pitch, rec_arrays=dict(bias=f2.bias, mult=f2.mult, shift=f2.shift), dst_esize=2)

    # ---- final norm + head ----
    em.layer = "norm"
    src_row = 0 if spec.kind == "classify" else 1
    seg = em.new_segment("norm")
    ln_off = seg.add(_ln_record(qm.layer("norm").params))
    em.compute(seg, make("LAYERNORM", src=X.row(src_row), dst=LN.addr, rows=out_rows, cols=d, src_pitch=X.pitch,
                         dst_pitch=LN.pitch, param=ln_off), release=True)
    em.layer = f"heads.{ti}"
    hp = head_rec.params
    outs = [R["OUT"], R["OUT1"]]
    c0 = 0
    for ci, cw in enumerate(head_chunks):
        OUT = outs[ci % 2]  # the hardware holds this GEMM while the STORE of chunk ci - 2 still reads OUT
        hseg = em.new_segment(f"heads.{ti}" if len(head_chunks) == 1 else f"heads.{ti}[{ci}]")
        b_off = hseg.add(isa.pack_b_tiles(np.asarray(hp.weight)[c0:c0 + cw], cols).tobytes())
        p_off = hseg.add(isa.pack_record("bias", cw, bias=np.asarray(hp.bias)[c0:c0 + cw]))
        em.check_fit(hseg)
        em.compute(hseg, make("GEMM", epi=Epilogue.ACC32, bsrc=BSrc.WBUF, a=LN.addr, a_pitch=LN.pitch, m=out_rows,
                              k=d, b=b_off, n=cw, param=p_off, dst=OUT.addr, dst_pitch=OUT.pitch), release=True)
        em.emit(make("STORE", ddr_base=DdrBase.OUTPUT, ddr_off=4 * c0, src=OUT.addr, row_bytes=4 * cw,
                     rows=out_rows, src_pitch=OUT.pitch, dst_stride=4 * n_out))
        c0 += cw
    em.layer = "end"
    em.emit(make("END"))
    em.finalize()

    # ---- image: segments in LOAD order, then resolve LOAD offsets ----
    load_order = [ins.fields["_segment"] for ins in em.ins if "_segment" in ins.fields]
    for j in load_order:
        seg = em.segments[j]
        seg.image_offset, seg.image_bytes = builder.add(bytes(seg.data))
    for ins in em.ins:
        j = ins.fields.pop("_segment", None)
        if j is not None:
            seg = em.segments[j]
            ins.fields.update(ddr_off=seg.image_offset, row_bytes=seg.image_bytes, rows=1)
    program = isa.encode_program(em.ins)
    input_bytes = m.in_chans * m.img_size[0] * m.img_size[1]
    output_bytes = 4 * out_rows * n_out
    image = builder.finish(acc.config_hash(), input_bytes, output_bytes, program)
    manifest = _manifest(qm, acc, ti, em, alloc, image, program, out_rows, n_out)
    return CompiledProgram(em.ins, image, manifest, em.layer_of)


def _manifest(qm: Any, acc: AcceleratorConfig, ti: int, em: _Emitter, alloc: dict[str, Any], image: bytes,
              program: bytes, out_rows: int, n_out: int) -> dict[str, Any]:
    import zlib

    m = qm.config
    spec = m.tasks[ti]
    ranges: list[dict[str, Any]] = []
    for idx, name in enumerate(em.layer_of):
        if ranges and ranges[-1]["layer"] == name and ranges[-1]["last"] == idx - 1:
            ranges[-1]["last"] = idx
        else:
            ranges.append({"layer": name, "first": idx, "last": idx})
    return {
        "format": "vitaccel-compiled-program",
        "isa_version": f"{isa.ISA_MAJOR}.{isa.ISA_MINOR}",
        "model": m.name,
        "board": acc.board,
        "task": spec.name,
        "task_index": ti,
        "config_hash": f"0x{acc.config_hash():08x}",
        "accelerator": acc.to_dict(),
        "instructions": len(program) // isa.INSTR_BYTES,
        "program_bytes": len(program),
        "program_crc32": f"0x{zlib.crc32(program):08x}",
        "image_bytes": len(image),
        "weight_segments": [{"name": s.name, "half": s.half, "offset": s.image_offset, "bytes": s.image_bytes,
                             "cond_expert": s.cond_expert} for s in em.segments],
        "input": {"dtype": "uint8", "shape": [m.in_chans, m.img_size[0], m.img_size[1]],
                  "bytes": m.in_chans * m.img_size[0] * m.img_size[1]},
        "output": {"dtype": "int32", "shape": [out_rows, n_out], "bytes": 4 * out_rows * n_out,
                   "kind": spec.kind, "rows": "cls" if spec.kind == "classify" else "patches",
                   "layout": "row-major (rows, n); segment/depth: pixel-shuffle each row (ch*p+py)*p+px",
                   # float = int32 * dequant_scale (per output column, or one scalar); exact float64 repr in JSON
                   "dequant_scale": np.asarray(qm.layer(f"heads.{ti}").scales["dequant"],
                                               dtype=np.float64).tolist()},
        "act": {"peak_bytes": alloc["peak_bytes"], "peak_phase": alloc["peak_phase"],
                "capacity": acc.act_buffer_bytes,
                "regions": {k: {"addr": r.addr, "rows": r.rows, "pitch": r.pitch}
                            for k, r in alloc["regions"].items()}},
        "layers": ranges,
        "info": {"quantizer": qm.info},
    }


__all__ = ["CompiledProgram", "Region", "Segment", "compile_model"]
