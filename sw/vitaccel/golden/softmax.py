"""Integer softmax: base 2, single pass online (running max + rescaled running sum), one reciprocal per row.

docs/numerics.md section "Softmax" is the full statement; in short, for one row z_0 .. z_{L-1} (int24 codes of
logit * log2(e) with SM_FRAC_BITS = 12 fractional bits, produced by `scores_to_z`):

  pass 1, strictly for j = 0, 1, ..., L-1, one element per step (m starts at c_0, S at 0):
      c_j   = ceil(z_j / 2^12)                      integer part, rounded up  (= -((-z_j) >> 12))
      m'    = max(m, c_j)
      S     = round_shift(S, min(m' - m, 63))         rescale the running sum when the running max grows
      S     = S + exp2neg(m' * 2^12 - z_j);  m = m'
  reciprocal (once per row): n = bit_length(S); R = floor((2^(n + 16) + S) / (2 S))  = round(2^(n-1+16) / S)
  pass 2 (any order, every element independently):
      p_j = min(round_shift(exp2neg(m * 2^12 - z_j) * R, n - 1 + 16 - out_bits), 2^out_bits - 1)

  exp2neg(d), d >= 0 (int): k = d >> 12, f = d & 4095, hi = f >> 6, lo = f & 63,
      exp2neg(d) = round_shift(T_HI[hi] * T_LO[lo], min(6 + k, 63))   ~ 2^24 * 2^(-d / 2^12)
  T_HI[a] = round_half_away(2^15 * 2^(-a / 64)), T_LO[b] = round_half_away(2^15 * 2^(-b / 4096)), a, b in 0..63.

The pass-1 order is part of the contract: the rounding of each rescale depends on when the max grew, so a
hardware unit must consume the row element by element in increasing index order (whatever its array width).
Everything here is integer; int64 numpy intermediates never overflow (S < 2^40, e * R < 2^41).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vitaccel.golden.fixedpoint import (
    INT64,
    MAX_SHIFT,
    SM_EXP_BITS,
    SM_FRAC_BITS,
    SM_MAX_LEN,
    SM_RECIP_BITS,
    SM_TABLE_INDEX_BITS,
    SM_TABLE_VALUE_BITS,
    SM_Z_BITS,
    bit_length,
    quantize_multiplier,
    requantize,
    round_half_away,
    round_shift,
)

LOG2E = 1.0 / math.log(2.0)
_FRAC_MASK = (1 << SM_FRAC_BITS) - 1
_LO_MASK = (1 << SM_TABLE_INDEX_BITS) - 1
_E_SHIFT0 = 2 * SM_TABLE_VALUE_BITS - SM_EXP_BITS  # 6: product of two 15-bit-scaled tables -> 2^24 units


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    n = 1 << SM_TABLE_INDEX_BITS
    one = float(1 << SM_TABLE_VALUE_BITS)
    hi = np.array([round_half_away(one * 2.0 ** (-a / n)) for a in range(n)], dtype=INT64)
    lo = np.array([round_half_away(one * 2.0 ** (-b / (1 << SM_FRAC_BITS))) for b in range(n)], dtype=INT64)
    hi.flags.writeable = False
    lo.flags.writeable = False
    return hi, lo


def exp2_tables() -> tuple[np.ndarray, np.ndarray]:
    """(T_HI, T_LO): two 64-entry tables (values in (2^14, 2^15], uint16-representable) shared by every softmax.

    T_HI[a] = round_half_away(2^15 * 2^(-a/64)), T_LO[b] = round_half_away(2^15 * 2^(-b/4096)). They do not depend
    on any scale (the scale lives in the z requantization), so they are constants of the accelerator. This is the
    one function the HLS/RTL generators call to emit them.
    """
    hi, lo = _tables()
    return hi.copy(), lo.copy()


@dataclass(frozen=True)
class SoftmaxParams:
    """Integer parameters of one softmax: the requantization of int32 scores into z (log2 domain, 2^-12 LSB).

    mult: uint16 (scalar array, or one per column for the MoE gate where each expert has its own weight scale),
    shift: 0..63 (same shape). out_bits: 8 (uint8 at 2^-8) or 16 (uint16 at 2^-16).
    """

    mult: np.ndarray
    shift: np.ndarray
    out_bits: int


def softmax_params(score_scale: float | np.ndarray, out_bits: int) -> SoftmaxParams:
    """Fold log2(e) and 2^12 into the requantization of int32 scores whose real value is acc * score_scale.

    score_scale may be a scalar or an array (per column). Uses fixedpoint.quantize_multiplier (16-bit M, 2^-16
    relative precision).
    """
    if out_bits not in (8, 16):
        raise ValueError(f"softmax out_bits must be 8 or 16, got {out_bits}")
    scales = np.atleast_1d(np.asarray(score_scale, dtype=np.float64))
    pairs = [quantize_multiplier(float(s) * LOG2E * (1 << SM_FRAC_BITS)) for s in scales.ravel()]
    mult = np.array([p[0] for p in pairs], dtype=INT64).reshape(scales.shape)
    shift = np.array([p[1] for p in pairs], dtype=INT64).reshape(scales.shape)
    if np.ndim(score_scale) == 0:
        mult, shift = mult.reshape(()), shift.reshape(())
    return SoftmaxParams(mult=mult, shift=shift, out_bits=int(out_bits))


def scores_to_z(acc: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """z = sat_int24(round_shift(acc * mult, shift)): int32 scores -> log2-domain codes (LSB 2^-12), int64."""
    return requantize(acc, params.mult, params.shift, bits=SM_Z_BITS, signed=True)


def exp2neg(d: np.ndarray) -> np.ndarray:
    """e = round_shift(T_HI[hi] * T_LO[lo], min(6 + k, 63)) ~ 2^24 * 2^(-d/4096) for integer d >= 0 (int64)."""
    d = np.asarray(d, dtype=INT64)
    if np.any(d < 0):
        raise ValueError("exp2neg: d must be >= 0")
    hi_t, lo_t = _tables()
    k = d >> SM_FRAC_BITS
    f = d & _FRAC_MASK
    prod = hi_t[f >> SM_TABLE_INDEX_BITS] * lo_t[f & _LO_MASK]
    return round_shift(prod, np.minimum(_E_SHIFT0 + k, MAX_SHIFT))


def _ceil_int(z: np.ndarray) -> np.ndarray:
    return -((-z) >> SM_FRAC_BITS)


def softmax_stats(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pass 1 over the last axis (vectorised over the leading axes): integer running max m and sum S (int64).

    Bit-identical to `softmax_row_reference`'s pass 1: the loop walks the columns in increasing index order.
    """
    z = np.asarray(z, dtype=INT64)
    length = z.shape[-1]
    if length < 1:
        raise ValueError("softmax over an empty row")
    if length > SM_MAX_LEN:
        raise ValueError(f"softmax row length {length} exceeds {SM_MAX_LEN} (SM_SUM_BITS)")
    c = _ceil_int(z)
    m = c[..., 0].copy()
    s = np.zeros(z.shape[:-1], dtype=INT64)
    for j in range(length):
        m_new = np.maximum(m, c[..., j])
        s = round_shift(s, np.minimum(m_new - m, MAX_SHIFT))
        s = s + exp2neg((m_new << SM_FRAC_BITS) - z[..., j])
        m = m_new
    return m, s


def reciprocal(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised reciprocal of the row sums S > 0: (R, n) with n = bit_length(S) and
    R = floor((2^(n+16) + S) / (2 S)) = round_half_up(2^(n-1+16) / S), R in [2^15, 2^16] (exact integer division)."""
    s = np.asarray(s, dtype=INT64)
    if np.any(s <= 0):
        raise ValueError("softmax reciprocal of a non-positive sum")
    n = bit_length(s)
    r = ((INT64(1) << (n + SM_RECIP_BITS)) + s) // (2 * s)
    return r, n


def softmax_normalise(z: np.ndarray, m: np.ndarray, s: np.ndarray, out_bits: int) -> np.ndarray:
    """Pass 2: p_j = min(round_shift(exp2neg(m*2^12 - z_j) * R, n - 1 + 16 - out_bits), 2^out_bits - 1)."""
    z = np.asarray(z, dtype=INT64)
    r, n = reciprocal(s)
    e = exp2neg((np.asarray(m, dtype=INT64)[..., None] << SM_FRAC_BITS) - z)
    sh = (n - 1 + SM_RECIP_BITS - out_bits)[..., None]
    p = round_shift(e * r[..., None], sh)
    return np.minimum(p, (1 << out_bits) - 1)


def softmax_z(z: np.ndarray, out_bits: int = 8) -> np.ndarray:
    """Integer softmax over the last axis of z (int24 log2-domain codes): uint8 (2^-8) or uint16 (2^-16) codes,
    returned as int64. Pass 1 online in increasing index order, one reciprocal per row, pass 2 normalisation."""
    if out_bits not in (8, 16):
        raise ValueError(f"softmax out_bits must be 8 or 16, got {out_bits}")
    m, s = softmax_stats(z)
    return softmax_normalise(z, m, s, out_bits)


def softmax_int(acc: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """Softmax of int32 scores acc over the last axis: scores_to_z then softmax_z (see the module docstring)."""
    return softmax_z(scores_to_z(acc, params), params.out_bits)


def softmax_row_reference(z_row: list[int] | np.ndarray, out_bits: int = 8) -> list[int]:
    """Scalar, element-at-a-time statement of the same rule with Python integers (the hardware's view).

    Independent of the vectorised code paths above (shares only the two constant tables); tests check they agree.
    """
    hi_t, lo_t = (list(map(int, t)) for t in _tables())
    fb, ib = SM_FRAC_BITS, SM_TABLE_INDEX_BITS

    def rshift_round(x: int, sh: int) -> int:
        sh = min(sh, MAX_SHIFT)
        return (x + (1 << (sh - 1))) >> sh if sh > 0 else x

    def e_of(d: int) -> int:
        k, f = d >> fb, d & ((1 << fb) - 1)
        return rshift_round(hi_t[f >> ib] * lo_t[f & ((1 << ib) - 1)], _E_SHIFT0 + k)

    zs = [int(v) for v in z_row]
    m = -((-zs[0]) >> fb)
    s = 0
    for zj in zs:  # pass 1, strictly in increasing index order
        cj = -((-zj) >> fb)
        m_new = max(m, cj)
        s = rshift_round(s, m_new - m)
        s += e_of((m_new << fb) - zj)
        m = m_new
    n = s.bit_length()
    r = ((1 << (n + SM_RECIP_BITS)) + s) // (2 * s)
    top = (1 << out_bits) - 1
    return [min(rshift_round(e_of((m << fb) - zj) * r, n - 1 + SM_RECIP_BITS - out_bits), top) for zj in zs]


__all__ = [
    "LOG2E",
    "SoftmaxParams",
    "exp2_tables",
    "exp2neg",
    "reciprocal",
    "scores_to_z",
    "softmax_int",
    "softmax_normalise",
    "softmax_params",
    "softmax_row_reference",
    "softmax_stats",
    "softmax_z",
]
