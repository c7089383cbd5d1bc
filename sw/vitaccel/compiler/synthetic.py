"""QuantizedModels with synthetic integer parameters (no torch, no training): for shape-only compiles
(`vitaccel estimate` without a checkpoint) and for tests that need a model of any configuration quickly.

Random mode draws int8 weights and chooses requantization shifts from the expected accumulator magnitude so
that activations stay in a useful range (not all saturated, not all zero); every value is produced by the same
golden helpers the quantizer uses (quantize_multiplier, gelu_table, layernorm_params, softmax_params).
"""

from __future__ import annotations

import math

import numpy as np

from vitaccel.golden.fixedpoint import GATE_BITS, PROB_BITS, quantize_multiplier
from vitaccel.golden.moe import MoEParams
from vitaccel.golden.ops import AttentionParams, LayerNormParams, LinearParams, PatchEmbedParams, gelu_table
from vitaccel.golden.ops import layernorm_params as _ln_params
from vitaccel.golden.softmax import softmax_params
from vitaccel.models.config import ModelConfig, get_config
from vitaccel.quant.model import GeluParams, LayerRecord, QuantizedModel

I64 = np.int64


class _Gen:
    def __init__(self, seed: int | None):
        self.zero = seed is None
        self.rng = np.random.default_rng(0 if seed is None else seed)

    def w(self, n: int, k: int, amp: int = 40) -> np.ndarray:
        if self.zero:
            return np.zeros((n, k), dtype=I64)
        return self.rng.integers(-amp, amp + 1, size=(n, k)).astype(I64)

    def ints(self, shape: tuple[int, ...] | int, lo: int, hi: int) -> np.ndarray:
        if self.zero:
            return np.zeros(shape, dtype=I64)
        return self.rng.integers(lo, hi + 1, size=shape).astype(I64)

    def req(self, n: int, k: int, x_std: float, w_amp: int = 40, out_std: float = 24.0) -> tuple[np.ndarray, ...]:
        """bias, mult, shift per channel for outputs of roughly out_std LSB."""
        acc_std = max(math.sqrt(k) * x_std * w_amp / math.sqrt(3), 1.0)
        real = out_std / acc_std
        pairs = [quantize_multiplier(real * (1 + 0.2 * j / max(n, 1))) for j in range(n)]
        mult = np.array([p[0] for p in pairs], dtype=I64)
        shift = np.array([p[1] for p in pairs], dtype=I64)
        bias = self.ints(n, -int(acc_std), int(acc_std))
        return bias, mult, shift


def synthetic_qmodel(cfg: ModelConfig | str, seed: int | None = 0) -> QuantizedModel:
    """A QuantizedModel of `cfg` with random (seed) or all-zero (seed=None) integer parameters."""
    cfg = get_config(cfg) if isinstance(cfg, str) else cfg
    g = _Gen(seed)
    d, _t = cfg.dim, cfg.tokens
    L: list[LayerRecord] = []

    def ln(name: str) -> None:
        if g.zero:
            p = LayerNormParams(gamma_mult=np.zeros(d, I64), beta=np.zeros(d, I64), out_shift=0, eps=1)
        else:
            gamma = 1.0 + 0.3 * g.rng.standard_normal(d)
            beta = 0.1 * g.rng.standard_normal(d)
            p = _ln_params(gamma, beta, cfg.ln_eps, in_scale=0.01, out_scale=1.0 / 24)
        L.append(LayerRecord("layernorm", name, "res", "act", p, {"out": 1.0 / 24}))

    def linear(name: str, n: int, k: int, dst: str = "act", x_std: float = 24.0, out_std: float = 24.0) -> None:
        b, m, s = g.req(n, k, x_std, out_std=out_std)
        L.append(LayerRecord("linear", name, "act", dst, LinearParams(g.w(n, k), b, m, s), {"out": 1.0}))

    pb, pm, ps = g.req(d, cfg.patch_dim, 70.0, out_std=300.0)
    L.append(LayerRecord("patch_embed", "patch_embed", "image", "res", PatchEmbedParams(
        patch=cfg.patch, weight=g.w(d, cfg.patch_dim, 20), bias=pb, mult=pm, shift=ps,
        pos=g.ints((cfg.num_patches, d), -200, 200), cls=g.ints(d, -200, 200)), {"out": 0.01}))
    sm = softmax_params(0.004, PROB_BITS)
    om, osh = quantize_multiplier(1.0 / 4.0) if not g.zero else (0, 0)
    for i in range(cfg.depth):
        b = f"blocks.{i}"
        ln(f"{b}.norm1")
        linear(f"{b}.attn.qkv", 3 * d, d)
        L.append(LayerRecord("attention", f"{b}.attn", "act", "act", AttentionParams(
            heads=cfg.heads, score_mult=int(sm.mult), score_shift=int(sm.shift), out_mult=om, out_shift=osh),
            {"out": 1.0}))
        linear(f"{b}.attn.proj", d, d, "res", out_std=150.0)
        ln(f"{b}.norm2")
        if i in cfg.moe_blocks:
            e, h, nt = cfg.num_experts, cfg.expert_hidden, len(cfg.tasks)
            gm = np.zeros((nt, e), I64)
            gs = np.zeros((nt, e), I64)
            for ti in range(nt):
                for j in range(e):
                    gm[ti, j], gs[ti, j] = quantize_multiplier(0.004 * (1 + 0.05 * j)) if not g.zero else (0, 0)
            f1b, f1m, f1s = zip(*[g.req(h, d, 24.0) for _ in range(e)])
            f2b = np.stack([g.ints(d, -2000, 2000) for _ in range(e)])
            cm = np.zeros((e, d), I64)
            cs = np.zeros((e, d), I64)
            if not g.zero:
                acc_std = math.sqrt(h) * 24 * 40 / math.sqrt(3)
                mm, ss = quantize_multiplier(150.0 / acc_std / 2**GATE_BITS * 2)
                cm[:], cs[:] = mm, ss
            tab = np.stack([gelu_table(1.0 / 8, 1.0 / 8) if not g.zero else np.zeros(256, I64) for _ in range(e)])
            mp = MoEParams(top_k=cfg.top_k, gate_weight=np.stack([g.w(e, d) for _ in range(nt)]), gate_mult=gm,
                           gate_shift=gs, fc1_weight=np.stack([g.w(h, d) for _ in range(e)]),
                           fc1_bias=np.stack(f1b), fc1_mult=np.stack(f1m), fc1_shift=np.stack(f1s), gelu_table=tab,
                           fc2_weight=np.stack([g.w(d, h) for _ in range(e)]), fc2_bias=f2b, comb_mult=cm,
                           comb_shift=cs)
            L.append(LayerRecord("moe", f"{b}.moe", "act", "res", mp, {"out": 0.01}))
        else:
            linear(f"{b}.mlp.fc1", cfg.mlp_hidden, d)
            tab = gelu_table(1.0 / 8, 1.0 / 8) if not g.zero else np.zeros(256, I64)
            L.append(LayerRecord("gelu", f"{b}.mlp.act", "act", "act", GeluParams(tab), {"out": 1.0 / 8}))
            linear(f"{b}.mlp.fc2", d, cfg.mlp_hidden, "res", out_std=150.0)
    ln("norm")
    for ti in range(len(cfg.tasks)):
        n = cfg.head_out_features(ti)
        L.append(LayerRecord("head", f"heads.{ti}", "act", "out", LinearParams(
            g.w(n, d), g.ints(n, -5000, 5000), np.zeros(0, I64), np.zeros(0, I64)),
            {"dequant": np.full(n, 1e-4)}, task=ti))
    qm = QuantizedModel(cfg, L, {"synthetic": True, "seed": seed})
    qm.validate("synthetic model")
    return qm


__all__ = ["synthetic_qmodel"]
