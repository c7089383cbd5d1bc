"""I-BERT integer-only kernels (Kim, Gholami, Yao, Mahoney, Keutzer, "I-BERT: Integer-only BERT Quantization",
ICML 2021, arXiv:2101.01321): i-exp softmax, i-GELU and i-sqrt LayerNorm, in exact integer arithmetic.

Every function takes quantized inputs (integer codes q and the real scale S, x = q * S) and returns the integer
output and its real scale, like every baseline in this package. Constants that the paper derives from S are
computed once, in float64, with the floors the paper writes; at run time everything is integer (int64 numpy).

Paper equations reproduced (section 3.4-3.6, Algorithms 1-4):

- I-POLY (Alg. 1): a (x + b)^2 + c with q_b = floor(b / S), q_c = floor(c / (a S^2)),
  q_out = (q + q_b)^2 + q_c, S_out = a S^2. (The paper prints S_out = floor(a S^2); a S^2 < 1, so the floor is a
  typo -- the released code uses the real a S^2.)
- i-exp (Alg. 2, Eq. 13-15): x = (-ln2) z + p with q_ln2 = floor(ln2 / S), z = floor(-q / q_ln2),
  q_p = q + z q_ln2, exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344 (I-POLY), exp(x) = exp(p) >> z. The shift is applied
  with N_EXP = 30 guard bits (q_L * 2^(30 - z), z clamped to 30, output scale S_L / 2^30) as in the authors'
  released code, so no precision is lost to `>> z` (this favours the baseline).
- softmax: x - max(x) (Eq. 12), i-exp, then the released code's normalisation (the paper does not spell it out):
  the exponentials are requantized to 16 bits (QuantAct(16): multiply by a 31-bit dyadic multiplier m * 2^-e of
  S_exp / S_16, round half to even, clamp), summed, factor = floor(2^32 / sum), p = floor(e16 * factor / 2^24):
  8-bit output at 2^-8 (the value 256 = 1.0 can occur for a one-hot row; it is not clamped, as in the paper's
  code). S_16 = (largest i-exp output, i.e. exp at x = max) / (2^15 - 1): the calibrated range.
- i-GELU (Alg. 3, Eq. 16-17): erf(x) ~ sgn(x) [a (min(|x|, -b) + b)^2 + 1], a = -0.2888, b = -1.769, evaluated by
  I-POLY at scale S / sqrt(2) with |q| clipped at -q_b; q_1 = floor(1 / S_erf);
  GELU = q (q_erf + q_1) at scale S S_erf / 2. (The released code later switched to a sigmoid-form polynomial and
  adds a 2^-14 shift meant for int32 inputs; that shift would zero every int8 input, so it is not applied.)
- i-sqrt (Alg. 4): Newton x_{i+1} = floor((x_i + floor(n / x_i)) / 2) from 2^ceil(bits(n)/2) until it stops
  decreasing: exactly floor(sqrt(n)).
- LayerNorm (section 3.6 + released code): mean = round(sum / C) (ties to even), y = q - mean, var = sum(y^2)
  (with the released code's overflow shift when var >= 2^32), std = i-sqrt(var), factor = floor(2^31 / std),
  out = floor(y factor / 2) at scale sqrt(C) / 2^30 (the normalised value; gamma/beta are applied afterwards).
"""

from __future__ import annotations

import math

import numpy as np

from vitaccel.golden.baselines._int import (
    INT64,
    bit_length,
    round_half_even_div,
    torch_frexp_multiplier,
)

EXP_A, EXP_B, EXP_C = 0.3585, 1.353, 0.344
ERF_A, ERF_B, ERF_C = -0.2888, -1.769, 1.0
LN2 = math.log(2.0)
N_EXP = 30  # guard bits of the exp shift (released code: "sufficiently large integer")
SOFTMAX_OUT_BITS = 8
SOFTMAX_EXP_BITS = 16  # QuantAct(16) on the exponentials before the sum
LN_MAX_VAR_BITS = 32


def i_poly(q: np.ndarray, scale: float, a: float, b: float, c: float) -> tuple[np.ndarray, float]:
    """Algorithm 1: integer a (x + b)^2 + c for x = q * scale -> (q_out, a * scale^2)."""
    q_b = math.floor(b / scale)
    q_c = math.floor(c / (a * scale * scale))
    q = np.asarray(q, dtype=INT64)
    return (q + q_b) * (q + q_b) + q_c, a * scale * scale


def _i_exp_parts(q: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Algorithm 2 without the final shift: (q_L, z, S_L) with exp(q * scale) ~ q_L * S_L * 2^-z."""
    q = np.asarray(q, dtype=INT64)
    if np.any(q > 0):
        raise ValueError("i_exp expects non-positive inputs (x - max)")
    q_ln2 = math.floor(LN2 / scale)
    if q_ln2 < 1:
        raise ValueError(f"i_exp: input scale {scale} is coarser than ln 2; q_ln2 would be 0")
    q = np.maximum(q, -N_EXP * q_ln2)  # exp(-30 ln2) ~ 1e-9: clamp so the shift stays in range
    z = (-q) // q_ln2
    q_p = q + z * q_ln2
    q_l, s_l = i_poly(q_p, scale, EXP_A, EXP_B, EXP_C)
    return np.maximum(q_l, 0), z, s_l


def i_exp(q: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Algorithm 2 for q <= 0: exp(q * scale) ~ q_out * S_out, q_out = q_L * 2^(N_EXP - z) (int64)."""
    q_l, z, s_l = _i_exp_parts(q, scale)
    return q_l << (N_EXP - z), s_l / float(1 << N_EXP)


def softmax(codes: np.ndarray, scale: float, out_bits: int = SOFTMAX_OUT_BITS) -> tuple[np.ndarray, float]:
    """I-BERT integer softmax over the last axis: (codes, S) -> (p codes in [0, 2^out_bits], 2^-out_bits)."""
    q = np.asarray(codes, dtype=INT64)
    x = q - q.max(axis=-1, keepdims=True)
    q_l, z, s_l = _i_exp_parts(x, scale)
    s_e = s_l / float(1 << N_EXP)  # scale of e = q_L << (N_EXP - z)
    e_max = int(_i_exp_parts(np.zeros(1, dtype=INT64), scale)[0][0]) << N_EXP
    # QuantAct(16): S_16 = e_max * S_e / (2^15 - 1); the multiplier S_e / S_16 as a 31-bit dyadic m * 2^-sh.
    # e16 = round_half_even(e * m / 2^sh) = round_half_even(q_L * m / 2^(sh - N_EXP + z)) (exact, no overflow)
    n16 = (1 << (SOFTMAX_EXP_BITS - 1)) - 1
    s16 = e_max * s_e / n16
    m, sh = torch_frexp_multiplier(s_e / s16)
    e16 = _round_half_even_shift_np(q_l * INT64(m), sh - N_EXP + z)
    e16 = np.clip(e16, -n16 - 1, n16)
    total = e16.sum(axis=-1, keepdims=True)
    factor = (INT64(1) << INT64(32)) // total
    p = (e16 * factor) >> INT64(32 - out_bits)
    return p, 2.0**-out_bits


def _round_half_even_shift_np(v: np.ndarray, sh: np.ndarray | int) -> np.ndarray:
    """round(v / 2^sh) with ties to even for integer v and (elementwise) shifts; sh <= 0 shifts left."""
    v = np.asarray(v, dtype=INT64)
    sh = np.broadcast_to(np.asarray(sh, dtype=INT64), v.shape)
    pos = np.maximum(sh, 0)
    q = v >> pos
    r = v - (q << pos)
    half = np.where(pos > 0, INT64(1) << np.maximum(pos - 1, 0), 0)
    up = (pos > 0) & ((r > half) | ((r == half) & (q % 2 == 1)))
    out = q + up.astype(INT64)
    return np.where(sh < 0, v << np.maximum(-sh, 0), out)


def i_erf(q: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Algorithm 3 (I-ERF): erf(q * scale) ~ q_out * S_out."""
    q = np.asarray(q, dtype=INT64)
    q_b = math.floor(ERF_B / scale)
    sgn = np.sign(q)
    a = np.minimum(np.abs(q), -q_b)
    q_l, s_l = i_poly(a, scale, ERF_A, ERF_B, ERF_C)
    return sgn * q_l, s_l


def gelu(codes: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Algorithm 3 (I-GELU): (codes, S) -> (int64 output, its scale S * S_erf / 2; S_erf < 0, so the scale is < 0
    and the integer has the opposite sign of the value, as in the paper)."""
    q = np.asarray(codes, dtype=INT64)
    q_erf, s_erf = i_erf(q, scale / math.sqrt(2.0))
    q_1 = math.floor(1.0 / s_erf)
    return q * (q_erf + q_1), scale * s_erf / 2.0


def i_sqrt(n: np.ndarray) -> np.ndarray:
    """Algorithm 4: integer square root by Newton iteration from 2^ceil(bits(n)/2); floor(sqrt(n)), int64."""
    n = np.asarray(n, dtype=INT64)
    if np.any(n < 0):
        raise ValueError("i_sqrt of a negative number")
    x = INT64(1) << ((bit_length(n) + 1) // 2)
    x = np.where(n == 0, INT64(0), x)
    done = n == 0
    safe = np.where(done, INT64(1), x)
    while True:
        nxt = (safe + n // safe) // 2
        stop = done | (nxt >= safe)
        if np.all(stop):
            break
        safe = np.where(stop, safe, nxt)
        done = stop
    return np.where(n == 0, INT64(0), safe)


def layernorm(codes: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """I-BERT LayerNorm over the last axis, normalised output (no gamma/beta): (codes, S) -> (int, sqrt(C)/2^30).

    The input scale cancels out of the normalised value, so `scale` is only checked.
    """
    if not scale > 0:
        raise ValueError("scale must be > 0")
    q = np.asarray(codes, dtype=INT64)
    c = q.shape[-1]
    mean = round_half_even_div(q.sum(axis=-1, keepdims=True), c)
    y = q - mean
    var = (y * y).sum(axis=-1, keepdims=True)
    shift = 0
    vmax = int(var.max())
    if vmax >= 1 << LN_MAX_VAR_BITS:  # released code's overflow fallback: shift y right until var < 2^32
        shift = max(0, math.ceil(math.log2(math.sqrt(vmax / 2.0**LN_MAX_VAR_BITS))))
        while True:
            ys = y >> INT64(shift)
            var = (ys * ys).sum(axis=-1, keepdims=True)
            if int(var.max()) < 1 << LN_MAX_VAR_BITS:
                break
            shift += 1
    std = i_sqrt(var) << INT64(shift)
    std = np.maximum(std, 1)  # a constant row: the released code would divide by zero
    factor = (INT64(1) << INT64(31)) // std
    out = (y * factor) >> INT64(1)
    return out, math.sqrt(c) / 2.0**30


__all__ = ["gelu", "i_erf", "i_exp", "i_poly", "i_sqrt", "layernorm", "softmax"]
