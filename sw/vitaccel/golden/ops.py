"""Bit-exact integer operations of vitaccel (contract 1): GEMM, requantization, residual add, GELU table,
LayerNorm, attention core, patch embedding, heads. Softmax lives in golden/softmax.py, MoE in golden/moe.py.

Every function takes integer numpy arrays and returns int64 arrays holding values of the stated width (int64
intermediates, so numpy never overflows). The "params" dataclasses hold only integers (flat numpy arrays and
ints): they are what the ISA memory image packs. docs/numerics.md states each rule with its reason.

GEMMs are computed exactly through float64 BLAS: every product of an int8/uint8 operand and an int8 weight is
an integer of magnitude <= 255 * 128 and every partial sum is bounded by the int32 accumulator bound checked in
`check_acc_bound` (< 2^31 < 2^53), so each floating-point addition is exact whatever order BLAS uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vitaccel.errors import FitError, InputError
from vitaccel.golden.fixedpoint import (
    ACC_BITS,
    ACT_BITS,
    INT64,
    LN_BETA_BITS,
    LN_FRAC_BITS,
    LN_GAMMA_BITS,
    LN_MAX_CHANNELS,
    LN_NORM_BITS,
    LN_RECIP_SHIFT,
    MAX_SHIFT,
    PROB_BITS,
    RESIDUAL_BITS,
    bit_length,
    int_range,
    requantize,
    round_half_away,
    round_shift,
    saturate,
)
from vitaccel.golden.softmax import SoftmaxParams, scores_to_z, softmax_z

ACC_MAX = (1 << (ACC_BITS - 1)) - 1
WEIGHT_ABS_MAX = 128  # bound used for int8 weights (symmetric quantization produces |w| <= 127)


# ---- GEMM ----------------------------------------------------------------------------------------------------
def acc_bound(k: int, x_abs_max: int, bias_abs_max: int = 0) -> int:
    """Worst-case |accumulator| of a K-deep dot product of |x| <= x_abs_max with int8 weights, plus the bias."""
    return int(k) * int(x_abs_max) * WEIGHT_ABS_MAX + int(bias_abs_max)


def check_acc_bound(k: int, x_abs_max: int, bias: np.ndarray | None = None, name: str = "gemm") -> None:
    """FitError unless K * x_abs_max * 128 + max|bias| <= 2^31 - 1 (the int32 accumulator can never overflow)."""
    b = 0 if bias is None or np.size(bias) == 0 else int(np.max(np.abs(np.asarray(bias, dtype=INT64))))
    bound = acc_bound(k, x_abs_max, b)
    if bound > ACC_MAX:
        kmax = (ACC_MAX - b) // (int(x_abs_max) * WEIGHT_ABS_MAX)
        raise FitError(
            f"{name}: K = {k} with |x| <= {x_abs_max}, |w| <= {WEIGHT_ABS_MAX}, |bias| <= {b} can reach {bound}, "
            f"beyond the int32 accumulator ({ACC_MAX}); expected K <= {kmax}"
        )


def gemm(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, *, x_signed: bool = True,
         name: str = "gemm") -> np.ndarray:
    """acc[m, n] = sum_k x[m, k] * w[n, k] + bias[n]: int32 accumulator (exact), returned as int64.

    x: int8 (x_signed) or uint8 codes (softmax probabilities), shape (M, K); w: int8, shape (N, K); bias: int32 (N,)
    or None. Raises FitError if the int32 bound can be exceeded for this K, InputError if codes are out of range.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.shape[-1] != w.shape[-1]:
        raise InputError(f"{name}: inner dimensions differ: x {x.shape} vs w {w.shape}")
    lo, hi = int_range(ACT_BITS, x_signed)
    if x.size and (x.min() < lo or x.max() > hi):
        raise InputError(f"{name}: input codes in [{x.min()}, {x.max()}], expected [{lo}, {hi}]")
    if w.size and (w.min() < -WEIGHT_ABS_MAX or w.max() > WEIGHT_ABS_MAX - 1):
        raise InputError(f"{name}: weight codes in [{w.min()}, {w.max()}], expected int8")
    check_acc_bound(x.shape[-1], max(-lo, hi), bias, name)
    acc = np.matmul(x.astype(np.float64), w.astype(np.float64).T)
    acc = acc.astype(INT64)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=INT64)
    return acc


@dataclass(frozen=True)
class LinearParams:
    """One linear layer. weight int8 (N, K), bias int32 (N,), requantization mult uint16 (N,) and shift 0..63 (N,)
    (per output channel; empty arrays when the output stays int32, e.g. heads)."""

    weight: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray


def linear_acc(x: np.ndarray, p: LinearParams, name: str = "linear") -> np.ndarray:
    """int8 (M, K) -> int32 accumulator + bias (M, N), as int64."""
    return gemm(x, p.weight, p.bias, name=name)


def requant_int8(acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """int32 -> int8: sat8(round_shift(acc * mult, shift)) (fixedpoint.requantize), mult/shift per channel."""
    return requantize(acc, mult, shift, bits=ACT_BITS, signed=True)


def linear_int8(x: np.ndarray, p: LinearParams, name: str = "linear") -> np.ndarray:
    """int8 -> int8 linear layer: requant_int8(x @ W^T + b, mult, shift)."""
    return requant_int8(linear_acc(x, p, name), p.mult, p.shift)


def residual_add(r: np.ndarray, acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """Residual update: sat16(r + round_shift(acc * mult, shift)) with ONE saturation (int16 residual stream).

    The branch accumulator is requantized straight into the model's single residual scale; the rounded term is
    not saturated before the add (the adder is wide: |acc * mult| < 2^47).
    """
    acc = np.asarray(acc, dtype=INT64)
    m = np.asarray(mult, dtype=INT64)
    return saturate(np.asarray(r, dtype=INT64) + round_shift(acc * m, shift), RESIDUAL_BITS, True)


def linear_residual(r: np.ndarray, x: np.ndarray, p: LinearParams, name: str = "linear") -> np.ndarray:
    """r + requantized (x @ W^T + b) into the residual stream (see residual_add)."""
    return residual_add(r, linear_acc(x, p, name), p.mult, p.shift)


# ---- GELU ----------------------------------------------------------------------------------------------------
def gelu_float(x: float) -> float:
    """Exact (erf) GELU in float64, the reference for the table."""
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def gelu_table(in_scale: float, out_scale: float) -> np.ndarray:
    """256-entry int8 GELU table for one layer, indexed by (input code + 128):

    T[c + 128] = sat8(round_half_away(gelu(c * in_scale) / out_scale)) for c in -128..127.
    The output requantization is folded in, so the table error is <= 0.5 output LSB on every code (unless the
    value saturates). The HLS/RTL generators call this same function.
    """
    if not (in_scale > 0 and out_scale > 0 and math.isfinite(in_scale) and math.isfinite(out_scale)):
        raise ValueError(f"gelu_table: scales must be finite and > 0, got {in_scale!r}, {out_scale!r}")
    vals = [round_half_away(gelu_float(c * in_scale) / out_scale) for c in range(-128, 128)]
    return saturate(np.array(vals, dtype=INT64), ACT_BITS, True)


def gelu(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Table GELU: out = table[x + 128] for int8 codes x (int64 out)."""
    x = np.asarray(x, dtype=INT64)
    return np.asarray(table, dtype=INT64)[x + 128]


# ---- LayerNorm -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerNormParams:
    """Integer LayerNorm of int16 residual codes -> int8.

    eps: C^2 * eps_real / s_res^2 rounded (>= 1), in the units of the variance numerator C*sum(x^2) - (sum x)^2.
    gamma_mult: int16 (C,), beta: int32 (C,), out_shift: 0..63:  out = sat8(round_shift(y * gamma_mult + beta,
    out_shift)) with y the normalised value at 2^-14.
    """

    gamma_mult: np.ndarray
    beta: np.ndarray
    out_shift: int
    eps: int


def isqrt_floor(x: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(x)) of int64 values 0 <= x < 2^62 (vectorised; float estimate + integer correction)."""
    x = np.asarray(x, dtype=INT64)
    if np.any(x < 0):
        raise ValueError("isqrt of a negative value")
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(INT64)
    for _ in range(4):
        r = np.where(r * r > x, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= x, r + 1, r)
    return r


def layernorm_eps(eps: float, in_scale: float, channels: int) -> int:
    """eps in integer units of the variance numerator: max(1, round_half_away(C^2 * eps / s_in^2)).

    FitError if it exceeds 2^56 (D = C^2 var + eps must stay below 2^62; the residual scale is then absurdly
    fine relative to eps)."""
    v = max(1, int(round_half_away(channels * channels * eps / (in_scale * in_scale))))
    if v > (1 << 56):
        raise FitError(f"layernorm: eps {eps!r} at input scale {in_scale!r} is {v} integer units, expected <= 2^56")
    return v


def layernorm_normalise(x: np.ndarray, eps: int) -> np.ndarray:
    """y = (x - mean) / sqrt(var + eps) with LSB 2^-14 (int64) for int16 codes x over the last axis.

    S1 = sum x, S2 = sum x^2 (exact); D = C*S2 - S1^2 + eps  (= C^2 (var + eps), >= 1);
    g = (62 - bit_length(D)) // 2, D_n = D << 2g in [2^60, 2^62); q = floor(sqrt(D_n)) in [2^30, 2^31);
    Rr = floor((2^47 + q) / (2 q)) = round(2^46 / q) in [2^15, 2^16];
    y_i = round_shift((C x_i - S1) * Rr, 46 - g - 14).
    """
    x = np.asarray(x, dtype=INT64)
    c = x.shape[-1]
    lo, hi = int_range(RESIDUAL_BITS, True)
    if x.size and (x.min() < lo or x.max() > hi):
        raise InputError(f"layernorm: input codes in [{x.min()}, {x.max()}], expected int16")
    if c > LN_MAX_CHANNELS:
        raise FitError(f"layernorm: C = {c} channels, expected <= {LN_MAX_CHANNELS} (D must stay below "
                       f"2^{LN_NORM_BITS})")
    s1 = x.sum(axis=-1)
    s2 = (x * x).sum(axis=-1)
    d = c * s2 - s1 * s1 + int(eps)
    n = bit_length(d)
    g = (LN_NORM_BITS - n) // 2
    q = isqrt_floor(d << (2 * g))
    rr = ((INT64(1) << (LN_RECIP_SHIFT + 1)) + q) // (2 * q)
    num = c * x - s1[..., None]
    return round_shift(num * rr[..., None], (LN_RECIP_SHIFT - LN_FRAC_BITS - g)[..., None])


def layernorm(x: np.ndarray, p: LayerNormParams) -> np.ndarray:
    """int16 residual codes (..., C) -> int8: sat8(round_shift(y * gamma_mult + beta, out_shift))."""
    y = layernorm_normalise(x, p.eps)
    out = round_shift(y * np.asarray(p.gamma_mult, dtype=INT64) + np.asarray(p.beta, dtype=INT64), p.out_shift)
    return saturate(out, ACT_BITS, True)


def layernorm_params(gamma: np.ndarray, beta: np.ndarray, eps: float, in_scale: float,
                     out_scale: float) -> LayerNormParams:
    """Fold the affine (gamma, beta) and the output scale into integers.

    out_shift is the largest value (<= 63) such that gamma_mult = round_half_away(gamma / s_out * 2^(sh - 14))
    fits int16 and beta = round_half_away(beta / s_out * 2^sh) fits int32.
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    g_lo, g_hi = int_range(LN_GAMMA_BITS, True)
    b_lo, b_hi = int_range(LN_BETA_BITS, True)
    gmax = max(float(np.max(np.abs(gamma))) / out_scale, 1e-30)
    sh = min(MAX_SHIFT, LN_FRAC_BITS + math.floor(math.log2((g_hi - 0.5) / gmax)))
    while sh >= 0:
        gm = round_half_away(gamma / out_scale * 2.0 ** (sh - LN_FRAC_BITS))
        bq = round_half_away(beta / out_scale * 2.0**sh)
        if gm.min() >= g_lo and gm.max() <= g_hi and bq.min() >= b_lo and bq.max() <= b_hi:
            return LayerNormParams(gamma_mult=gm, beta=bq, out_shift=int(sh),
                                   eps=layernorm_eps(eps, in_scale, gamma.shape[0]))
        sh -= 1
    raise FitError(f"layernorm: gamma/beta (max |gamma|/s_out = {gmax:g}) cannot be encoded in int16/int32")


# ---- attention core ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionParams:
    """Q.K^T -> softmax -> A.V for all heads. Input: the int8 qkv tensor (T, 3*dim), q | k | v with heads
    contiguous. score_mult/score_shift: the softmax z requantization (log2(e) / sqrt(head_dim) folded in);
    out_mult/out_shift: requantization of the A.V accumulator (scale 2^-8 * s_v) to the int8 context."""

    heads: int
    score_mult: int
    score_shift: int
    out_mult: int
    out_shift: int


def attention(qkv: np.ndarray, p: AttentionParams, name: str = "attn",
              trace: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """int8 qkv (T, 3D) -> int8 context (T, D).

    Per head h: scores = q_h @ k_h^T (int8 x int8 -> int32); z = scores_to_z(scores); P = uint8 softmax rows
    (single pass online over keys in increasing index, see golden/softmax.py); ctx = P @ v_h (uint8 x int8 ->
    int32); out = sat8(round_shift(ctx * out_mult, out_shift)). With `trace`, stores scores, probs (H, T, T).
    """
    qkv = np.asarray(qkv, dtype=INT64)
    t, three_d = qkv.shape
    d = three_d // 3
    hd = d // p.heads
    sm = SoftmaxParams(mult=np.asarray(p.score_mult, dtype=INT64), shift=np.asarray(p.score_shift, dtype=INT64),
                       out_bits=PROB_BITS)
    q = qkv[:, :d].reshape(t, p.heads, hd).transpose(1, 0, 2)
    k = qkv[:, d:2 * d].reshape(t, p.heads, hd).transpose(1, 0, 2)
    v = qkv[:, 2 * d:].reshape(t, p.heads, hd).transpose(1, 0, 2)
    check_acc_bound(hd, 128, None, f"{name}.qk")
    check_acc_bound(t, 255, None, f"{name}.av")
    scores = np.matmul(q.astype(np.float64), k.astype(np.float64).transpose(0, 2, 1)).astype(INT64)
    probs = softmax_z(scores_to_z(scores, sm), PROB_BITS)
    ctx = np.matmul(probs.astype(np.float64), v.astype(np.float64)).astype(INT64)
    out = requant_int8(ctx, p.out_mult, p.out_shift)
    if trace is not None:
        trace[f"{name}.scores"] = scores
        trace[f"{name}.probs"] = probs
    return out.transpose(1, 0, 2).reshape(t, d)


# ---- patch embedding -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatchEmbedParams:
    """Patch embedding + CLS + position embedding into the int16 residual stream.

    weight int8 (D, C*p*p) on int8 inputs (pixel - 128), normalisation folded in; bias int32 (D,); mult/shift
    (D,) requantize into the residual scale; pos int16 (T-1, D) for patch tokens; cls int16 (D,) = cls + pos[0].
    """

    patch: int
    weight: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    pos: np.ndarray
    cls: np.ndarray


def patchify_u8(image: np.ndarray, patch: int) -> np.ndarray:
    """uint8 image (C, H, W) -> int8 codes (N, C*p*p) = pixel - 128, patches row-major over the grid, each
    flattened in (c, py, px) order."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3:
        raise InputError(f"patch embedding: expected a uint8 image (C, H, W), got {img.dtype} {img.shape}")
    c, h, w = img.shape
    gh, gw = h // patch, w // patch
    x = img.astype(INT64).reshape(c, gh, patch, gw, patch).transpose(1, 3, 0, 2, 4)
    return x.reshape(gh * gw, c * patch * patch) - 128


def patch_embed(image: np.ndarray, p: PatchEmbedParams) -> np.ndarray:
    """uint8 image (C, H, W) -> int16 residual (T, D): row 0 = cls; row 1 + i = sat16(pos[i] +
    round_shift(acc_i * mult, shift)) with acc_i = (pixel - 128) patch i @ W^T + bias (one saturation)."""
    x = patchify_u8(image, p.patch)
    acc = gemm(x, p.weight, p.bias, name="patch_embed")
    tok = residual_add(p.pos, acc, p.mult, p.shift)
    return np.concatenate([np.asarray(p.cls, dtype=INT64)[None, :], tok], axis=0)


# ---- heads ---------------------------------------------------------------------------------------------------
def head(x: np.ndarray, p: LinearParams, name: str = "head") -> np.ndarray:
    """Task head: int8 tokens (M, D) -> int32 accumulator + bias (M, N) (dequantized on the host with a float
    scale per output channel, s_in * s_w[n])."""
    return linear_acc(x, p, name)


__all__ = [
    "AttentionParams",
    "LayerNormParams",
    "LinearParams",
    "PatchEmbedParams",
    "acc_bound",
    "attention",
    "check_acc_bound",
    "gelu",
    "gelu_float",
    "gelu_table",
    "gemm",
    "head",
    "isqrt_floor",
    "layernorm",
    "layernorm_eps",
    "layernorm_normalise",
    "layernorm_params",
    "linear_acc",
    "linear_int8",
    "linear_residual",
    "patch_embed",
    "patchify_u8",
    "requant_int8",
    "residual_add",
]
