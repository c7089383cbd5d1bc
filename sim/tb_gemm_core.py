"""cocotb testbench: vitaccel_gemm_core (MAC array -> epilogue) computing whole layers, tiled, vs the golden
layer ops: linear + GELU table, linear into the residual, head (ACC32), A.V with uint8 probabilities."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

import tbutil
from tbutil import Sink, Source, pack, unpack
from vitaccel.golden import ops
from vitaccel.golden.fixedpoint import quantize_multiplier
from vitaccel.isa import Epilogue


def layer(gen, kind: str, m: int, n: int, k: int):
    x = gen.integers(0, 256, (m, k)) if kind == "av_u8" else gen.integers(-128, 128, (m, k))
    w = gen.integers(-128, 128, (n, k))
    bias = gen.integers(-(1 << 16), 1 << 16, n) if kind != "av_u8" else np.zeros(n, dtype=np.int64)
    pairs = [quantize_multiplier(float(s)) for s in 10.0 ** gen.uniform(-4.5, -2.0, n)]
    mult = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    p = ops.LinearParams(weight=w, bias=bias, mult=mult, shift=shift)
    r = gen.integers(-(1 << 15), 1 << 15, (m, n))
    table = ops.gelu_table(0.06, 0.03)
    if kind == "fc1_gelu":
        exp, mode = ops.gelu(ops.linear_int8(x, p), table), Epilogue.GELU8
    elif kind == "proj_resadd":
        exp, mode = ops.linear_residual(r, x, p), Epilogue.RESADD
    elif kind == "head_acc32":
        exp, mode = ops.head(x, p), Epilogue.ACC32
    else:
        exp = ops.requant_int8(ops.gemm(x, w, None, x_signed=False), mult, shift)
        mode = Epilogue.REQ8
    return x, w, bias, mult, shift, r, table, exp, mode


@cocotb.test()
async def gemm_core_layers(dut):
    c = tbutil.cfg()
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    gen = tbutil.rng()
    dut.tbl_we.value = 0
    dut.rs_valid.value = 0
    await tbutil.start(dut)
    for li, (kind, m, n, k) in enumerate(c["layers"]):
        x, w, bias, mult, shift, r, table, exp, mode = layer(gen, kind, m, n, k)
        for a, v in enumerate(table.tolist()):
            await FallingEdge(dut.clk)
            dut.tbl_we.value, dut.tbl_addr.value, dut.tbl_wdata.value = 1, a, v & 0xFF
        await FallingEdge(dut.clk)
        dut.tbl_we.value = 0
        mp, np_ = -(-m // rows) * rows, -(-n // cols) * cols
        xp = np.zeros((mp, k), dtype=np.int64)
        xp[:m] = x
        wp = np.zeros((np_, k), dtype=np.int64)
        wp[:n] = w
        pad = lambda v, size: np.concatenate([v, np.zeros(size - len(v), dtype=np.int64)])  # noqa: E731
        bp, mup, shp = pad(bias, np_), pad(mult, np_), pad(shift, np_)
        rp = np.zeros((mp, np_), dtype=np.int64)
        rp[:m, :n] = r
        beats, side, order = [], [], []
        for mt in range(0, mp, rows):
            for nt in range(0, np_, cols):
                for kk in range(k):
                    beats.append({"in_a": pack(xp[mt:mt + rows, kk], 8), "in_b": pack(wp[nt:nt + cols, kk], 8),
                                  "in_a_unsigned": int(kind == "av_u8"), "in_first": int(kk == 0),
                                  "in_last": int(kk == k - 1)})
                for rr in range(rows):
                    side.append({"rs_mode": int(mode), "rs_bias": pack(bp[nt:nt + cols], 32),
                                 "rs_mult": pack(mup[nt:nt + cols], 16), "rs_shift": pack(shp[nt:nt + cols], 6),
                                 "rs_res": pack(rp[mt + rr, nt:nt + cols], 16), "rs_gate": 0})
                    order.append((mt + rr, nt))
        p_valid, p_ready = (1.0, 1.0) if li % 2 == 0 else (0.7, 0.4)
        cocotb.start_soon(Source(dut, "in_valid", "in_ready", p_valid, gen).send(beats))
        cocotb.start_soon(Source(dut, "rs_valid", "rs_ready", p_valid, gen).send(side))
        got = await Sink(dut, "out_valid", "out_ready", p_ready, gen).collect(len(order), ["out_data"])
        out = np.zeros((mp, np_), dtype=np.int64)
        for (mm, nt), g in zip(order, got):
            out[mm, nt:nt + cols] = unpack(g["out_data"], cols, 32)
        if not np.array_equal(out[:m, :n], exp):
            bad = np.argwhere(out[:m, :n] != exp)[0]
            raise AssertionError(f"layer {li} {kind} {m}x{n}x{k}: first mismatch at {tuple(bad)}: "
                                 f"got {out[bad[0], bad[1]]} expected {exp[bad[0], bad[1]]}")
        dut._log.info("layer %d %-12s M=%d N=%d K=%d bit-exact vs golden", li, kind, m, n, k)
