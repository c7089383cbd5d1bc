"""Integer MoE (vitaccel.golden.moe): routing rules, queues, combine rounding, order, and a float comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vitaccel.errors import FitError
from vitaccel.golden.fixedpoint import quantize_multiplier
from vitaccel.golden.moe import MoEParams, combine_terms, expert_queues, moe, topk_lower_index
from vitaccel.golden.ops import gelu_float, gelu_table
from vitaccel.golden.softmax import softmax_params


def test_topk_ties_lower_index_wins():
    z = np.array([[5, 7, 7, 1], [3, 3, 3, 3], [0, 0, 9, 0], [-4, -4, -5, -4]])
    assert topk_lower_index(z, 2).tolist() == [[1, 2], [0, 1], [2, 0], [0, 1]]
    assert topk_lower_index(z, 3).tolist() == [[1, 2, 0], [0, 1, 2], [2, 0, 1], [0, 1, 3]]


def test_topk_matches_streaming_insertion():
    rng = np.random.default_rng(0)
    z = rng.integers(-3, 3, size=(200, 8))  # many ties
    got = topk_lower_index(z, 3)
    for row, g in zip(z, got):
        best: list[tuple[int, int]] = []  # streaming unit: replace only on strictly greater z
        for e, v in enumerate(row):
            pos = next((i for i, (bv, _) in enumerate(best) if v > bv), len(best))
            best.insert(pos, (int(v), e))
            best = best[:3]
        assert [e for _, e in best] == list(g)


def test_queues_ordered_and_empty_allowed():
    topk = np.array([[2, 0], [0, 2], [2, 3], [3, 2]])
    q = expert_queues(topk, 5)
    assert [list(v) for v in q] == [[0, 1], [], [0, 1, 2, 3], [2, 3], []]


def test_combine_single_rounding():
    rng = np.random.default_rng(1)
    acc = rng.integers(-(2**24), 2**24, size=(6, 5))
    g = rng.integers(0, 65536, size=6)
    mult = rng.integers(2**15, 2**16, size=5)
    shift = rng.integers(30, 50, size=5)
    c = combine_terms(acc, g, mult, shift)
    for i in range(6):
        for n in range(5):
            v = int(acc[i, n]) * int(mult[n]) * int(g[i])
            assert c[i, n] == (v + (1 << (int(shift[n]) - 1))) >> int(shift[n])
    with pytest.raises(FitError):
        combine_terms(np.array([[2**31 - 1]]), np.array([65535]), np.array([65535]), np.array([63]))


def make_params(rng, d=16, e=4, h=12, tasks=2, top_k=2, s_in=0.05, s_res=0.01):
    """Random integer MoE params plus the float scales they encode (for the float comparison)."""
    gw = rng.integers(-127, 128, size=(tasks, e, d))
    s_g = rng.uniform(0.005, 0.02, size=(tasks, e))
    gm = np.zeros((tasks, e), dtype=np.int64)
    gs = np.zeros((tasks, e), dtype=np.int64)
    for t in range(tasks):
        sp = softmax_params(s_in * s_g[t], 16)
        gm[t], gs[t] = sp.mult, sp.shift
    w1 = rng.integers(-127, 128, size=(e, h, d))
    s_w1 = rng.uniform(0.0005, 0.001, size=(e, h))  # hidden |pre-act| stays < 127 * s_h
    b1 = rng.integers(-200, 200, size=(e, h))
    s_h = rng.uniform(0.03, 0.06, size=e)
    s_a = rng.uniform(0.04, 0.06, size=e)
    w2 = rng.integers(-127, 128, size=(e, d, h))
    s_w2 = rng.uniform(0.002, 0.01, size=(e, d))
    b2 = rng.integers(-200, 200, size=(e, d))
    m1 = np.zeros((e, h), dtype=np.int64)
    sh1 = np.zeros((e, h), dtype=np.int64)
    cm = np.zeros((e, d), dtype=np.int64)
    cs = np.zeros((e, d), dtype=np.int64)
    tab = np.zeros((e, 256), dtype=np.int64)
    for x in range(e):
        for j in range(h):
            m1[x, j], sh1[x, j] = quantize_multiplier(s_in * s_w1[x, j] / s_h[x])
        for n in range(d):
            cm[x, n], cs[x, n] = quantize_multiplier(s_a[x] * s_w2[x, n] / s_res / 65536)
        tab[x] = gelu_table(s_h[x], s_a[x])
    p = MoEParams(top_k=top_k, gate_weight=gw, gate_mult=gm, gate_shift=gs, fc1_weight=w1, fc1_bias=b1,
                  fc1_mult=m1, fc1_shift=sh1, gelu_table=tab, fc2_weight=w2, fc2_bias=b2, comb_mult=cm,
                  comb_shift=cs)
    scales = dict(s_in=s_in, s_res=s_res, s_g=s_g, s_w1=s_w1, s_h=s_h, s_a=s_a, s_w2=s_w2)
    return p, scales


def float_moe(x, p, sc, task):
    """Independent float evaluation of the same quantized model (float routing, exact GELU, no requant)."""
    xf = x * sc["s_in"]
    logits = xf @ (p.gate_weight[task] * sc["s_g"][task][:, None]).T
    g = np.exp(logits - logits.max(-1, keepdims=True))
    g /= g.sum(-1, keepdims=True)
    out = np.zeros_like(xf)
    for i in range(x.shape[0]):
        for e in np.argsort(-logits[i], kind="stable")[: p.top_k]:
            w1 = p.fc1_weight[e] * sc["s_w1"][e][:, None]
            hid = xf[i] @ w1.T + p.fc1_bias[e] * sc["s_in"] * sc["s_w1"][e]
            hid = np.vectorize(gelu_float)(hid)
            w2 = p.fc2_weight[e] * sc["s_w2"][e][:, None]
            y = hid @ w2.T + p.fc2_bias[e] * sc["s_a"][e] * sc["s_w2"][e]
            out[i] += g[i, e] * y
    return out, logits


def test_moe_vs_float():
    rng = np.random.default_rng(2)
    p, sc = make_params(rng)
    x = rng.integers(-128, 128, size=(40, 16))
    r = rng.integers(-3000, 3000, size=(40, 16))
    for task in (0, 1):
        trace: dict = {}
        got = (moe(r, x, p, task, trace=trace) - r) * sc["s_res"]
        ref, logits = float_moe(x, p, sc, task)
        # skip tokens whose float top-k differs from the integer one (near-tie routing flips)
        same = np.array([set(np.argsort(-logits[i], kind="stable")[:2]) == set(trace["moe.topk"][i])
                         for i in range(40)])
        assert same.mean() > 0.8
        err = np.abs(got - ref)[same]
        scale = np.abs(ref).max()
        assert err.max() <= 0.06 * scale + 2 * sc["s_res"]
        assert err.mean() <= 0.01 * scale + sc["s_res"]


def test_moe_empty_queues_and_order_with_saturation():
    rng = np.random.default_rng(3)
    p, _ = make_params(rng, e=4)
    # route every token to experts 1 and 3 only: a huge gate logit on those rows of the gate
    gw = p.gate_weight.copy()
    gw[:, :, :] = 0
    gw[:, 1, :] = 127
    gw[:, 3, :] = 126
    p = MoEParams(**{**p.__dict__, "gate_weight": gw})
    x = np.full((6, 16), 100)
    r = np.full((6, 16), 32000)
    trace: dict = {}
    out = moe(r, x, p, 0, trace=trace)
    assert "moe.experts.0.tokens" not in trace and "moe.experts.2.tokens" not in trace
    assert trace["moe.topk"].tolist() == [[1, 3]] * 6
    # token-by-token scalar reference in the contract order (expert 1 then 3; tokens increasing)
    ref = r.copy()
    for e in (1, 3):
        c = trace[f"moe.experts.{e}.combine"]
        for i, tok in enumerate(trace[f"moe.experts.{e}.tokens"]):
            for n in range(16):
                ref[tok, n] = min(max(int(ref[tok, n]) + int(c[i, n]), -32768), 32767)
    assert np.array_equal(out, ref)


def test_gate_weights_are_uint16_softmax():
    rng = np.random.default_rng(4)
    p, sc = make_params(rng)
    x = rng.integers(-128, 128, size=(10, 16))
    trace: dict = {}
    moe(np.zeros((10, 16), dtype=np.int64), x, p, 1, trace=trace)
    gw = trace["moe.gate_weights"]
    assert gw.min() >= 0 and gw.max() <= 65535
    logits = (x * sc["s_in"]) @ (p.gate_weight[1] * sc["s_g"][1][:, None]).T
    ref = np.exp(logits - logits.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    assert np.abs(gw / 65536 - ref).max() <= 1e-3
    assert math.isclose(float(np.abs(gw.sum(-1) / 65536 - 1).max()), 0.0, abs_tol=1e-3)
