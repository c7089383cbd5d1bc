"""Random valid programs (verification ladder rung 3: HLS / RTL vs the ISA simulator on random programs).

`random_program(cfg, seed)` builds a program + memory image + input that exercises every opcode, epilogue and
flag (WBUF and ACT operand B, transposed writes, uint8 A, per-tensor immediates, LayerNorm, ROUTE with
conditional gathered expert GEMMs and the scatter combine, IM2COL, STORE, double-buffered weight segments with
the compiler's LOAD placement) on small random shapes, together with the expected OUTPUT bytes computed
tensor-by-tensor with the golden ops on a shadow copy of every tensor (independent of the simulator's byte
addressing, tiling and encoding). Any backend must produce `expected` bit-exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vitaccel import isa
from vitaccel.boards.accel import AcceleratorConfig
from vitaccel.golden.fixedpoint import GATE_BITS, PROB_BITS, RESIDUAL_BITS, SM_Z_BITS, requantize, saturate
from vitaccel.golden.moe import combine_terms, expert_queues, topk_lower_index
from vitaccel.golden.ops import gelu, layernorm, layernorm_params, patchify_u8, requant_int8, residual_add
from vitaccel.golden.softmax import SoftmaxParams, scores_to_z, softmax_params, softmax_z
from vitaccel.isa import BSrc, DdrBase, Epilogue, Space, make, uarch
from vitaccel.isa.image import ImageBuilder


@dataclass
class RandomProgram:
    """instructions, image, input (uint8 (C, H, W)), expected OUTPUT bytes, and a description of the ops."""

    instructions: list[isa.Instruction]
    image: bytes
    input: np.ndarray
    expected: bytes
    ops: list[str]

    @property
    def program(self) -> bytes:
        return isa.encode_program(self.instructions)


@dataclass
class _T:
    """A shadow tensor: ACT address, pitch, dtype, values (int64)."""

    addr: int
    pitch: int
    dtype: str
    val: np.ndarray


def random_program(cfg: AcceleratorConfig, seed: int = 0, n_ops: int = 8, max_dim: int = 24) -> RandomProgram:
    """A random valid program for `cfg` (shapes up to max_dim; small buffers are fine). Deterministic in seed."""
    from vitaccel.compiler.lower import _Emitter  # the compiler's LOAD placement (double buffering)

    rng = np.random.default_rng(seed)
    cols = cfg.array_cols
    em = _Emitter(cfg)
    b = ImageBuilder(cfg.axi_data_bits)
    consts: list[tuple[bytes, _T]] = []
    top = [0]
    ops: list[str] = []

    def alloc(rows: int, width_bytes: int) -> tuple[int, int]:
        pitch = -(-width_bytes // 16) * 16 + 16 * int(rng.integers(0, 2))
        addr = top[0]
        top[0] = -(-(addr + rows * pitch) // 64) * 64
        if top[0] > cfg.act_buffer_bytes:
            raise ValueError("random program does not fit the activation buffer; lower max_dim")
        return addr, pitch

    def const(val: np.ndarray, dtype: str) -> _T:
        es = np.dtype(dtype).itemsize
        addr, pitch = alloc(val.shape[0], val.shape[1] * es)
        t = _T(addr, pitch, dtype, np.asarray(val, dtype=np.int64))
        consts.append((np.ascontiguousarray(val.astype(dtype)).tobytes(), t))
        return t

    def fresh(rows: int, ncols: int, dtype: str) -> _T:
        addr, pitch = alloc(rows, ncols * np.dtype(dtype).itemsize)
        return _T(addr, pitch, dtype, np.zeros((rows, ncols), dtype=np.int64))

    def dim() -> int:
        return int(rng.integers(1, max_dim + 1))

    t_tokens = dim()
    d = int(rng.integers(1, max(2, max_dim // 2))) * 2
    x8 = [const(rng.integers(-128, 128, (t_tokens, d)), "i1")]
    res = const(rng.integers(-20000, 20000, (t_tokens, d)), "<i2")
    outputs: list[_T] = []
    # input image -> patches
    c, p = int(rng.integers(1, 4)), int(rng.choice([2, 4]))
    gh, gw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    image = rng.integers(0, 256, (c, gh * p, gw * p), dtype=np.uint8)
    patches = fresh(gh * gw, c * p * p, "i1")
    em.layer = "im2col"

    def gemm_op(kind: str) -> None:
        pool = [t for t in x8 if t.val.shape[0] == t_tokens] if kind == "resadd" else x8
        a = pool[int(rng.integers(len(pool)))]
        m, k = a.val.shape
        n = d if kind == "resadd" else dim()
        # B from ACT must fit the B-operand buffer (uarch.b_operand_fits; UNSUPPORTED otherwise): a SOFTMAX whose
        # B would not fit becomes a REQ8 with B in the weight buffer
        b_act_fits = uarch.b_operand_fits(k, n, cols, cfg.max_tokens)
        if kind == "softmax" and not b_act_fits:
            kind = "req8"
        a_u8 = bool(rng.integers(2)) and kind != "softmax"
        aval = np.where(a.val < 0, a.val + 256, a.val) if a_u8 else a.val  # the same bytes read as uint8
        if kind == "softmax":
            # keys = rows of A; queries = columns of B (an int8 tensor transposed-by-construction)
            bt = const(rng.integers(-128, 128, (k, n)), "i1")
            sp = softmax_params(float(rng.uniform(0.001, 0.02)), PROB_BITS)
            acc = a.val @ bt.val
            z = scores_to_z(acc, SoftmaxParams(np.asarray(sp.mult), np.asarray(sp.shift), PROB_BITS))
            probs = softmax_z(z.T, PROB_BITS)  # (n, m)
            out = fresh(n, m, "u1")
            out.val = probs
            em.emit(make("GEMM", epi=Epilogue.SOFTMAX, bsrc=BSrc.ACT, trans=1, pimm=1, mult=int(sp.mult),
                         shift=int(sp.shift), a=a.addr, a_pitch=a.pitch, m=m, k=k, b=bt.addr, b_pitch=bt.pitch,
                         n=n, dst=out.addr, dst_pitch=out.pitch))
            outputs.append(out)
            ops.append(f"GEMM SOFTMAX m={m} n={n} k={k}")
            return
        epi = {"acc32": Epilogue.ACC32, "req8": Epilogue.REQ8, "gelu8": Epilogue.GELU8,
               "resadd": Epilogue.RESADD}[kind]
        bsrc = (BSrc.ACT if rng.integers(3) == 0 and epi in (Epilogue.REQ8, Epilogue.RESADD) and b_act_fits
                else BSrc.WBUF)
        w = rng.integers(-128, 128, (n, k))
        bias = rng.integers(-3000, 3000, n)
        mult, shift = rng.integers(1 << 14, 1 << 16, n), rng.integers(10, 22, n)
        table = rng.integers(-128, 128, 256)
        pimm = bsrc == BSrc.ACT
        if pimm:
            mult, shift, bias = mult[:1].repeat(n), shift[:1].repeat(n), np.zeros(n, dtype=np.int64)
        acc = aval @ w.T + bias
        trans = epi != Epilogue.RESADD and bool(rng.integers(2))
        if epi == Epilogue.RESADD:
            out = res
            out.val = residual_add(res.val, acc, mult, shift)
        else:
            vals = {Epilogue.ACC32: lambda: acc, Epilogue.REQ8: lambda: requant_int8(acc, mult, shift),
                    Epilogue.GELU8: lambda: gelu(requant_int8(acc, mult, shift), table)}[epi]()
            dt = "<i4" if epi == Epilogue.ACC32 else "i1"
            out = fresh(n, m, dt) if trans else fresh(m, n, dt)
            out.val = vals.T if trans else vals
            outputs.append(out)
            if dt == "i1" and not trans:
                x8.append(out)
        f: dict[str, Any] = dict(epi=int(epi), bsrc=int(bsrc), a=a.addr, a_pitch=a.pitch, m=m, n=n, k=k,
                                 a_u8=int(a_u8), trans=int(trans), dst=out.addr, dst_pitch=out.pitch)
        if bsrc == BSrc.ACT:
            bt = const(w.T, "i1")
            f.update(b=bt.addr, b_pitch=bt.pitch, pimm=1, mult=int(mult[0]), shift=int(shift[0]))
            em.emit(make("GEMM", **f))
        else:
            seg = em.new_segment(f"op{len(ops)}")
            f["b"] = seg.add(isa.pack_b_tiles(w, cols).tobytes())
            rk = isa.EPI_RECORD[epi]
            arrays = {"bias": bias} if rk == "bias" else {"bias": bias, "mult": mult, "shift": shift}
            if rk == "gelu":
                arrays["table"] = table
            f["param"] = seg.add(isa.pack_record(rk, n, **arrays))
            em.check_fit(seg)
            em.compute(seg, make("GEMM", **f), release=True)
        ops.append(f"GEMM {epi.name} bsrc={bsrc.name} m={m} n={n} k={k} trans={int(trans)} a_u8={int(a_u8)}")

    def ln_op() -> None:
        lp = layernorm_params(1 + 0.3 * rng.standard_normal(d), 0.1 * rng.standard_normal(d), 1e-6, 0.01, 0.05)
        out = fresh(t_tokens, d, "i1")
        out.val = layernorm(res.val, lp)
        seg = em.new_segment(f"op{len(ops)}")
        off = seg.add(isa.pack_record("layernorm", d, eps=[lp.eps], out_shift=[lp.out_shift], gamma=lp.gamma_mult,
                                      beta=lp.beta))
        em.compute(seg, make("LAYERNORM", src=res.addr, dst=out.addr, rows=t_tokens, cols=d, src_pitch=res.pitch,
                             dst_pitch=out.pitch, param=off), release=True)
        x8.append(out)
        outputs.append(out)
        ops.append(f"LAYERNORM rows={t_tokens} cols={d}")

    route_id = [0]

    def moe_op() -> None:
        e = int(rng.integers(2, 6))
        k = int(rng.integers(1, min(e, 3, cfg.max_topk) + 1))  # topk > max_topk would be UNSUPPORTED
        h = dim()
        pool = [t for t in x8 if t.val.shape[0] == t_tokens]
        x = pool[int(rng.integers(len(pool)))]
        logits = const(rng.integers(-30000, 30000, (t_tokens, e)), "<i4")
        gm, gs = rng.integers(1 << 15, 1 << 16, e), rng.integers(16, 22, e)
        seg = em.new_segment(f"op{len(ops)}.route")
        r_off = seg.add(isa.pack_record("route", e, mult=gm, shift=gs))
        em.compute(seg, make("ROUTE", src=logits.addr, src_pitch=logits.pitch, tokens=t_tokens, experts=e, topk=k,
                             param=r_off), release=True)
        em.route_done(route_id[0])
        z = requantize(logits.val, gm[None], gs[None], bits=SM_Z_BITS, signed=True)
        gw = softmax_z(z, GATE_BITS)
        queues = expert_queues(topk_lower_index(z, k), e)
        kx = x.val.shape[1]
        eh = fresh(t_tokens, h, "i1")
        for j in range(e):
            w1, w2 = rng.integers(-128, 128, (h, kx)), rng.integers(-128, 128, (d, h))
            b1, b2 = rng.integers(-500, 500, h), rng.integers(-500, 500, d)
            m1, s1 = rng.integers(1 << 15, 1 << 16, h), rng.integers(12, 18, h)
            cm, cs = rng.integers(1 << 15, 1 << 16, d), rng.integers(30, 40, d)
            tab = rng.integers(-128, 128, 256)
            seg = em.new_segment(f"op{len(ops)}.expert{j}", cond_expert=j, route_id=route_id[0])
            o1 = seg.add(isa.pack_b_tiles(w1, cols).tobytes())
            r1 = seg.add(isa.pack_record("gelu", h, bias=b1, mult=m1, shift=s1, table=tab))
            o2 = seg.add(isa.pack_b_tiles(w2, cols).tobytes())
            r2 = seg.add(isa.pack_record("combine", d, bias=b2, cmult=cm, cshift=cs))
            em.check_fit(seg)
            em.compute(seg, make("GEMM", gather=1, qrows=1, epi=Epilogue.GELU8, a=x.addr, a_pitch=x.pitch,
                                 m=t_tokens, k=kx, b=o1, n=h, param=r1, dst=eh.addr, dst_pitch=eh.pitch))
            em.compute(seg, make("GEMM", qrows=1, epi=Epilogue.MOE_COMBINE, a=eh.addr, a_pitch=eh.pitch,
                                 m=t_tokens, k=h, b=o2, n=d, param=r2, dst=res.addr, dst_pitch=res.pitch),
                       release=True)
            q = queues[j]
            if q.size:
                hid = gelu(requant_int8(x.val[q] @ w1.T + b1, m1, s1), tab)
                cterm = combine_terms(hid @ w2.T + b2, gw[q, j], cm, cs)
                res.val[q] = saturate(res.val[q] + cterm, RESIDUAL_BITS)
        route_id[0] += 1
        ops.append(f"ROUTE T={t_tokens} E={e} k={k} + experts (hidden {h})")

    # ---- program body ----
    em.emit(make("IM2COL", ddr_base=DdrBase.INPUT, dst=patches.addr, height=gh * p, width=gw * p, chans=c, patch=p,
                 dst_pitch=patches.pitch))
    patches.val = patchify_u8(image, p)
    outputs.append(patches)
    x8.append(patches)
    ops.append(f"IM2COL C={c} H={gh * p} W={gw * p} P={p}")
    em.prologue_end = len(em.ins) - 1
    choices = ["acc32", "req8", "gelu8", "resadd", "softmax", "ln", "moe"]
    for _ in range(n_ops):
        kind = choices[int(rng.integers(len(choices)))]
        if kind == "ln":
            ln_op()
        elif kind == "moe":
            moe_op()
        else:
            gemm_op(kind)
    outputs.append(res)
    # ---- constants (blocking LOADs first), STOREs of every output, END ----
    b_consts = []
    for data, t in consts:
        off, _ = b.add(data)
        rows, width = t.val.shape[0], t.val.shape[1] * np.dtype(t.dtype).itemsize
        b_consts.append(make("LOAD", ddr_base=DdrBase.IMAGE, space=Space.ACT, ddr_off=off, dst=t.addr,
                             row_bytes=width, rows=rows, dst_pitch=t.pitch, src_stride=width))
    b.begin_weights()
    expected = bytearray()
    for t in outputs:
        rows, width = t.val.shape[0], t.val.shape[1] * np.dtype(t.dtype).itemsize
        em.emit(make("STORE", ddr_base=DdrBase.OUTPUT, ddr_off=len(expected), src=t.addr, row_bytes=width,
                     rows=rows, src_pitch=t.pitch, dst_stride=width))
        expected.extend(np.ascontiguousarray(t.val.astype(t.dtype)).tobytes())
    em.emit(make("END"))
    em.ins = b_consts + em.ins
    em.layer_of = [""] * len(b_consts) + em.layer_of
    shift_by = len(b_consts)
    em.release_pos = {j: v + shift_by for j, v in em.release_pos.items()}
    em.first_use = {j: v + shift_by for j, v in em.first_use.items()}
    em.route_pos = {j: v + shift_by for j, v in em.route_pos.items()}
    em.prologue_end += shift_by
    em.finalize()
    for ins in em.ins:
        j = ins.fields.pop("_segment", None)
        if j is not None:
            seg = em.segments[j]
            seg.image_offset, seg.image_bytes = b.add(bytes(seg.data))
            ins.fields.update(ddr_off=seg.image_offset, row_bytes=seg.image_bytes, rows=1)
    prog = isa.encode_program(em.ins)
    img = b.finish(cfg.config_hash(), image.size, len(expected), prog)
    return RandomProgram(em.ins, img, image, bytes(expected), ops)


__all__ = ["RandomProgram", "random_program"]
