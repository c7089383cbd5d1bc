"""HLS functions in C-simulation (g++ against the hls4ml ap_int headers) vs the golden ops, bit for bit.

The library is compiled once per board config into build/csim (cached by a hash of sources + flags); every test
calls the HLS C++ through ctypes and compares with vitaccel.golden computed independently in numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import vitaccel.hlsgen.csim as csim
from vitaccel.golden import fixedpoint as fp
from vitaccel.golden import moe as gmoe
from vitaccel.golden import ops as gops
from vitaccel.golden import softmax as gsm

BOARDS = ["zcu102", "pynq-z2"]  # 32x64 and 1x64 arrays


@pytest.fixture(scope="module", params=BOARDS)
def ops(request):
    return csim.ops_library(request.param)


@pytest.fixture(scope="module")
def ops0():
    return csim.ops_library("zcu102")


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- GEMM on the unified array ---------------------------------------------------------------------------------
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (5, 7, 3), (33, 65, 17), (129, 64, 192), (40, 130, 64)])
def test_csim_gemm_int8_random(ops, m, n, k):
    g = rng(m * 1000 + n * 10 + k)
    x = g.integers(-128, 128, (m, k))
    w = g.integers(-128, 128, (n, k))
    np.testing.assert_array_equal(ops.gemm(x, w), gops.gemm(x, w))


def test_csim_gemm_uint8_probabilities(ops):
    g = rng(1)
    x = g.integers(0, 256, (37, 129))
    w = g.integers(-128, 128, (64, 129))
    np.testing.assert_array_equal(ops.gemm(x, w, x_signed=False), gops.gemm(x, w, x_signed=False))


def test_csim_gemm_extremes(ops):
    # most-negative operands everywhere: -128 * -128 summed K times (the int32 bound for K = 4096 with |w| <= 128)
    k = 4096
    x = np.full((3, k), -128)
    w = np.full((2, k), -128)
    np.testing.assert_array_equal(ops.gemm(x, w), np.full((3, 2), 128 * 128 * k))
    x = np.full((2, 255), 255)
    w = np.full((3, 255), -128)
    np.testing.assert_array_equal(ops.gemm(x, w, x_signed=False), gops.gemm(x, w, x_signed=False))


# ---- epilogue --------------------------------------------------------------------------------------------------
def _epi_params(g, n):
    mult = g.integers(0, 1 << 16, n)
    shift = g.integers(0, 64, n)
    shift[:4] = [0, 1, 62, 63]
    mult[:2] = [0, (1 << 16) - 1]
    return mult, shift


def _acc(g, m, n):
    acc = g.integers(-(1 << 31), 1 << 31, (m, n))
    acc[0, :] = -(1 << 31)
    acc[1, :] = (1 << 31) - 1
    small = g.integers(-4000, 4000, (m // 2, n))
    acc[2 : 2 + small.shape[0]] = small
    return acc


def test_csim_epilogue_requant_s8(ops0):
    g = rng(2)
    m, n = 64, 96
    mult, shift = _epi_params(g, n)
    # keep acc + bias inside int32 (the compiler's bound)
    acc = _acc(g, m, n) // 2
    bias = g.integers(-(1 << 30), 1 << 30, n)
    got = ops0.epilogue(csim.EPI_S8, acc, bias, mult, shift)
    np.testing.assert_array_equal(got, gops.requant_int8(acc + bias, mult, shift))
    # realistic scales: small shifts around 16..24 with mid-size accumulators (not all saturated)
    mult = g.integers(1 << 15, 1 << 16, n)
    shift = g.integers(16, 26, n)
    acc = g.integers(-50000, 50000, (m, n))
    got = ops0.epilogue(csim.EPI_S8, acc, np.zeros(n, np.int64), mult, shift)
    want = gops.requant_int8(acc, mult, shift)
    assert np.mean(np.abs(want) < 127) > 0  # exercised the non-saturated range
    np.testing.assert_array_equal(got, want)


def test_csim_epilogue_gelu_table(ops0):
    g = rng(3)
    m, n = 16, 64
    table = gops.gelu_table(0.05, 0.02)
    mult = g.integers(1 << 15, 1 << 16, n)
    shift = g.integers(18, 24, n)
    acc = g.integers(-300000, 300000, (m, n))
    bias = g.integers(-1000, 1000, n)
    got = ops0.epilogue(csim.EPI_S8_GELU, acc, bias, mult, shift, gelu_table=table)
    want = gops.gelu(gops.requant_int8(acc + bias, mult, shift), table)
    np.testing.assert_array_equal(got, want)
    # every table entry reached, including -128 and 127
    codes = np.arange(-128, 128).reshape(4, 64)
    got = ops0.epilogue(csim.EPI_S8_GELU, codes, np.zeros(64), np.ones(64), np.zeros(64), gelu_table=table)
    np.testing.assert_array_equal(got, table[codes + 128])


def test_csim_epilogue_residual_one_saturation(ops0):
    g = rng(4)
    m, n = 64, 80
    mult, shift = _epi_params(g, n)
    acc = _acc(g, m, n) // 2
    bias = g.integers(-(1 << 30), 1 << 30, n)
    r = g.integers(-(1 << 15), 1 << 15, (m, n))
    r[3, :] = -(1 << 15)
    r[4, :] = (1 << 15) - 1
    got = ops0.epilogue(csim.EPI_RES16, acc, bias, mult, shift, r=r)
    np.testing.assert_array_equal(got, gops.residual_add(r, acc + bias, mult, shift))
    # one saturation, not two: r = 32767, term = +40000 then -40000 style cases cancel before saturating
    r = np.array([[32767, -32768, 30000]])
    acc = np.array([[-70000, 70000, 5000]])
    got = ops0.epilogue(csim.EPI_RES16, acc, np.zeros(3), np.ones(3), np.zeros(3), r=r)
    np.testing.assert_array_equal(got, [[32767 - 70000 if 32767 - 70000 >= -32768 else -32768, 32767, 32767]])


def test_csim_epilogue_acc32(ops0):
    g = rng(5)
    acc = g.integers(-(1 << 30), 1 << 30, (8, 32))
    bias = g.integers(-(1 << 30), 1 << 30, 32)
    got = ops0.epilogue(csim.EPI_ACC32, acc, bias, np.zeros(32), np.zeros(32))
    np.testing.assert_array_equal(got, acc + bias)


def test_csim_epilogue_modes_are_the_isa_epilogue():
    """csim passes vitaccel.isa.Epilogue values to va_ops_capi's EpiMode(mode): the C enum of va_epilogue.h must
    hold the same values (parsed from the header here), and csim names no other copy."""
    import re

    from vitaccel.hlsgen.toolchain import hls_source_dir
    from vitaccel.isa import Epilogue

    text = (hls_source_dir() / "include" / "va_epilogue.h").read_text()
    body = text[text.index("enum EpiMode"):]
    body = body[:body.index("};")]
    c_enum = {name: int(v) for name, v in re.findall(r"(EPI_\w+)\s*=\s*(\d+)", body)}
    expect = {"EPI_ACC32": Epilogue.ACC32, "EPI_S8": Epilogue.REQ8, "EPI_S8_GELU": Epilogue.GELU8,
              "EPI_RES16": Epilogue.RESADD}
    assert c_enum == {k: int(v) for k, v in expect.items()}
    for name, mode in expect.items():
        assert getattr(csim, name) is mode
    assert set(csim.ELEMENT_MODES) == set(expect.values())


def test_csim_epilogue_rejects_modes_it_does_not_compute(ops0):
    from vitaccel.errors import InputError
    from vitaccel.isa import Epilogue

    for mode in (Epilogue.SOFTMAX, Epilogue.MOE_COMBINE, 9):
        with pytest.raises(InputError, match="ACC32, REQ8, GELU8, RESADD"):
            ops0.epilogue(mode, np.zeros((1, 4)), np.zeros(4), np.ones(4), np.zeros(4))
    g = rng(6)
    acc, bias = g.integers(-1000, 1000, (2, 8)), g.integers(-1000, 1000, 8)
    np.testing.assert_array_equal(ops0.epilogue(Epilogue.ACC32, acc, bias, np.zeros(8), np.zeros(8)), acc + bias)


# ---- softmax -----------------------------------------------------------------------------------------------------
Z_MIN, Z_MAX = fp.int_range(fp.SM_Z_BITS)


def _softmax_rows(g):
    rows = [
        g.integers(-20000, 20000, 197),                # ordinary spread (about +-5 logits)
        np.zeros(129, dtype=np.int64),                 # all equal
        np.full(64, Z_MIN),                            # all most-negative
        np.full(64, Z_MAX),                            # all most-positive
        np.arange(-50000, 50000, 500),                 # max grows at every step (rescale each step)
        np.arange(50000, -50000, -500),                # max at index 0
        np.array([Z_MIN, Z_MAX, Z_MIN, 0]),            # extreme peak
        np.array([12345]),                             # length 1
        g.integers(Z_MIN, Z_MAX + 1, 300),             # full int24 range
        np.concatenate([np.full(100, 4096 * 3), [4096 * 3 + 1], np.full(100, 4096 * 3)]),  # ceil boundary
        g.integers(-4096 * 40, 4096 * 40, 1000),       # long row, k up to 80
    ]
    return rows


@pytest.mark.parametrize("out_bits", [8, 16])
def test_csim_softmax_rows(ops0, out_bits):
    g = rng(6 + out_bits)
    for row in _softmax_rows(g):
        got = ops0.softmax_z(row[None, :], out_bits)[0]
        np.testing.assert_array_equal(got, gsm.softmax_z(row[None, :], out_bits)[0], err_msg=f"row {row[:6]}")
        assert got.tolist() == gsm.softmax_row_reference(row, out_bits)


def test_csim_softmax_stats_online_order(ops0):
    g = rng(7)
    z = g.integers(-100000, 100000, (50, 77))
    m, s = ops0.softmax_stats(z)
    gm, gs = gsm.softmax_stats(z)
    np.testing.assert_array_equal(m, gm)
    np.testing.assert_array_equal(s, gs)


def test_csim_softmax_batch_random(ops0):
    g = rng(8)
    z = g.integers(-60000, 60000, (64, 129))
    np.testing.assert_array_equal(ops0.softmax_z(z, 8), gsm.softmax_z(z, 8))


def test_csim_scores_to_z(ops0):
    g = rng(9)
    acc = g.integers(-(1 << 31), 1 << 31, (16, 64))
    acc[:, :4] = [-(1 << 31), (1 << 31) - 1, 0, -1]
    mult = g.integers(0, 1 << 16, 64)
    shift = g.integers(0, 64, 64)
    want = fp.requantize(acc, mult[None, :], shift[None, :], bits=fp.SM_Z_BITS, signed=True)
    np.testing.assert_array_equal(ops0.scores_to_z(acc, mult, shift), want)
    params = gsm.softmax_params(0.01, 8)
    acc = g.integers(-40000, 40000, (4, 129))
    np.testing.assert_array_equal(ops0.scores_to_z(acc, params.mult, params.shift), gsm.scores_to_z(acc, params))


# ---- LayerNorm ---------------------------------------------------------------------------------------------------
def _ln_params(g, c):
    return gops.layernorm_params(g.normal(1.0, 0.3, c), g.normal(0.0, 0.2, c), 1e-6, in_scale=0.01,
                                 out_scale=0.05)


@pytest.mark.parametrize("c", [1, 2, 64, 192, 768])
def test_csim_layernorm_random(ops0, c):
    g = rng(10 + c)
    p = _ln_params(g, c)
    x = g.integers(-(1 << 15), 1 << 15, (8, c))
    x[1] = g.integers(-300, 300, c)
    np.testing.assert_array_equal(ops0.layernorm(x, p.gamma_mult, p.beta, p.out_shift, p.eps), gops.layernorm(x, p))


def test_csim_layernorm_corners(ops0):
    g = rng(11)
    c = 192
    p = _ln_params(g, c)
    rows = np.stack([
        np.zeros(c, dtype=np.int64),                    # zero variance: D = eps
        np.full(c, 1234),                               # constant row
        np.full(c, -(1 << 15)),                         # all most-negative
        np.where(np.arange(c) % 2 == 0, -(1 << 15), (1 << 15) - 1),  # largest variance
        np.eye(1, c, 7, dtype=np.int64)[0] * 32767,     # one outlier: |y| near sqrt(C) * 2^14
    ])
    for eps in (1, p.eps, 1 << 40):
        q = gops.LayerNormParams(p.gamma_mult, p.beta, p.out_shift, eps)
        np.testing.assert_array_equal(ops0.layernorm(rows, p.gamma_mult, p.beta, p.out_shift, eps),
                                      gops.layernorm(rows, q))
    # saturating output and extreme gamma/beta codes
    gm = np.full(c, 32767)
    gm[::2] = -32768
    beta = np.full(c, (1 << 31) - 1)
    beta[::3] = -(1 << 31)
    x = g.integers(-(1 << 15), 1 << 15, (4, c))
    for sh in (0, 14, 40, 63):
        q = gops.LayerNormParams(gm, beta, sh, 7)
        np.testing.assert_array_equal(ops0.layernorm(x, gm, beta, sh, 7), gops.layernorm(x, q))


def test_csim_layernorm_widest_row(ops0):
    g = rng(12)
    c = 4096
    p = _ln_params(g, c)
    x = g.integers(-(1 << 15), 1 << 15, (2, c))
    np.testing.assert_array_equal(ops0.layernorm(x, p.gamma_mult, p.beta, p.out_shift, p.eps), gops.layernorm(x, p))


# ---- MoE router --------------------------------------------------------------------------------------------------
def _golden_route(z, k):
    topk = gmoe.topk_lower_index(z, k)
    return topk, gmoe.expert_queues(topk, z.shape[1])


@pytest.mark.parametrize("t,e,k", [(129, 16, 2), (17, 4, 1), (33, 32, 8), (5, 3, 3)])
def test_csim_moe_route_random(ops, t, e, k):
    g = rng(t * e + k)
    z = g.integers(-30000, 30000, (t, e))
    z[0, :] = 0  # all equal: lower index wins
    z[1, :] = g.integers(-2, 2, e)  # many ties
    gw = gsm.softmax_z(z, fp.GATE_BITS)
    sel, toks, gws = ops.moe_route(z, gw, k)
    topk, queues = _golden_route(z, k)
    np.testing.assert_array_equal(sel, topk)
    assert len(toks) == e
    for ex in range(e):
        np.testing.assert_array_equal(toks[ex], queues[ex])
        np.testing.assert_array_equal(gws[ex], gw[queues[ex], ex])


def test_csim_moe_route_empty_queues(ops0):
    # every token prefers experts 0 and 1: experts 2..15 get empty queues (their weights are never fetched)
    t, e, k = 40, 16, 2
    z = np.full((t, e), -100000)
    z[:, 0] = 5000
    z[:, 1] = 4000
    z[::3, 1] = 6000
    gw = gsm.softmax_z(z, fp.GATE_BITS)
    sel, toks, _ = ops0.moe_route(z, gw, k)
    topk, queues = _golden_route(z, k)
    np.testing.assert_array_equal(sel, topk)
    assert all(toks[ex].size == 0 for ex in range(2, e))
    for ex in range(e):
        np.testing.assert_array_equal(toks[ex], queues[ex])
    # no tokens at all
    sel, toks, _ = ops0.moe_route(np.zeros((0, e), np.int64), np.zeros((0, e), np.int64), k)
    assert sel.shape == (0, k) and all(q.size == 0 for q in toks)


def test_csim_moe_gate_softmax_16bit(ops0):
    g = rng(13)
    z = g.integers(-50000, 50000, (129, 16))
    np.testing.assert_array_equal(ops0.softmax_z(z, 16), gsm.softmax_z(z, fp.GATE_BITS))


def test_csim_moe_combine(ops0):
    g = rng(14)
    q, n = 50, 64
    acc = g.integers(-(1 << 20), 1 << 20, (q, n))
    acc[0] = -(1 << 31)
    acc[1] = (1 << 31) - 1
    gate = g.integers(0, 1 << 16, q)
    gate[:2] = 1 << 15
    mult = g.integers(0, 1 << 15, n)
    shift = g.integers(20, 64, n)
    shift[:2] = [62, 63]
    r = g.integers(-(1 << 15), 1 << 15, (q, n))
    got = ops0.combine(r, acc, gate, mult, shift)
    want = fp.saturate(r + gmoe.combine_terms(acc, gate, mult, shift), fp.RESIDUAL_BITS)
    np.testing.assert_array_equal(got, want)
