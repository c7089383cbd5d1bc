"""Fixed-point primitives shared by every implementation (contract 1, docs/numerics.md section "Core rules").

Every integer rule of vitaccel is built from these few functions. The HLS and RTL generators read the constants
below (widths, rounding) from here; nothing is retyped by hand.

Conventions
- Arrays are numpy integer arrays; intermediates are computed in int64 so no numpy overflow is possible.
- Rounding of run-time arithmetic ("round_shift"): add half an output LSB, then arithmetic right shift, i.e.
  round half toward +infinity:  round_shift(x, s) = floor((x + 2**(s-1)) / 2**s) for s > 0, x for s == 0.
  In hardware: one adder and a wire shift; no sign handling.
- Saturation: clamp to the output range (never wrap).
- Requantization multiplier: unsigned MULT_BITS-bit integer M with right shift s in [0, MAX_SHIFT];
  real scale ~= M * 2**-s, normalised so that M is in [2**(MULT_BITS-1), 2**MULT_BITS) whenever s < MAX_SHIFT.
- Rounding of float parameters to integers at quantization time (not run time): round half away from zero
  (`round_half_away`), deterministic and independent of numpy's banker's rounding.
"""

from __future__ import annotations

import math

import numpy as np

ACT_BITS = 8  # activations: int8 (signed) or uint8 (softmax probabilities)
WEIGHT_BITS = 8  # weights: int8 symmetric per output channel
ACC_BITS = 32  # MAC accumulators: int32, never allowed to overflow (the compiler checks the bound)
RESIDUAL_BITS = 16  # residual stream: int16, one scale per model (see docs/numerics.md)
MULT_BITS = 16  # requantization multiplier: unsigned 16-bit
SHIFT_BITS = 6  # requantization shift field width
MAX_SHIFT = (1 << SHIFT_BITS) - 1  # 63

INT64 = np.int64


def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """Inclusive (min, max) of a `bits`-wide two's-complement (signed) or unsigned integer."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def saturate(x: np.ndarray | int, bits: int, signed: bool = True) -> np.ndarray:
    """Clamp integers to the range of a `bits`-wide signed/unsigned integer; returns int64."""
    lo, hi = int_range(bits, signed)
    return np.clip(np.asarray(x, dtype=INT64), lo, hi)


def round_shift(x: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """Arithmetic right shift by `shift` >= 0 bits with round half toward +inf; int64 in, int64 out."""
    x = np.asarray(x, dtype=INT64)
    if isinstance(shift, (int, np.integer)):  # fast path: one scalar shift (most call sites)
        s = int(shift)
        if not 0 <= s <= MAX_SHIFT:
            raise ValueError(f"shift must be in [0, {MAX_SHIFT}], got {s}")
        return np.right_shift(x + (1 << (s - 1)), s) if s > 0 else x.copy()
    shift = np.asarray(shift, dtype=INT64)
    if shift.size and (shift.min() < 0 or shift.max() > MAX_SHIFT):
        raise ValueError(f"shift must be in [0, {MAX_SHIFT}], got {shift.min()}..{shift.max()}")
    half = np.where(shift > 0, np.left_shift(INT64(1), np.maximum(shift - 1, 0)), 0)
    return np.right_shift(x + half, shift)


def bit_length(x: np.ndarray | int) -> np.ndarray:
    """Exact bit length of non-negative int64 values (position of the leading one + 1; 0 for 0), elementwise.

    This is the leading-one detector of the normalised reciprocals (softmax, LayerNorm)."""
    x = np.asarray(x, dtype=INT64)
    n = np.zeros(x.shape, dtype=INT64)
    y = x.copy()
    for step in (32, 16, 8, 4, 2, 1):
        big = y >= (INT64(1) << step)
        n = np.where(big, n + step, n)
        y = np.where(big, y >> step, y)
    return n + (y > 0)


def floor_shift(x: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """Arithmetic right shift (floor division by 2**shift); int64 in, int64 out."""
    return np.right_shift(np.asarray(x, dtype=INT64), np.asarray(shift, dtype=INT64))


def requantize(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    bits: int = ACT_BITS,
    signed: bool = True,
) -> np.ndarray:
    """saturate(round_shift(acc * multiplier, shift)) -> int64 holding a `bits`-wide integer.

    acc: int32-range integers (accumulator + bias). multiplier: uint16 (scalar or broadcastable, e.g. per
    output channel), shift: [0, 63]. The product fits in 48 bits, so int64 is exact.
    """
    acc = np.asarray(acc, dtype=INT64)
    m = np.asarray(multiplier, dtype=INT64)
    if np.any(m < 0) or np.any(m >= (1 << MULT_BITS)):
        raise ValueError(f"requantization multiplier must be in [0, 2**{MULT_BITS}), got {m.min()}..{m.max()}")
    return saturate(round_shift(acc * m, shift), bits, signed)


def quantize_multiplier(real_scale: float) -> tuple[int, int]:
    """Encode a real scale in [0, 2**MULT_BITS) as (M, shift) with real_scale ~= M * 2**-shift.

    M is normalised to [2**15, 2**16) (relative error <= 2**-16) unless the scale is so small that shift would
    exceed MAX_SHIFT, in which case shift = MAX_SHIFT and M keeps what precision remains (M may be 0).
    Raises ValueError for negative, non-finite or too large scales.
    """
    if not math.isfinite(real_scale) or real_scale < 0:
        raise ValueError(f"requantization scale must be finite and >= 0, got {real_scale!r}")
    if real_scale == 0.0:
        return 0, 0
    frac, exp = math.frexp(real_scale)  # real = frac * 2**exp, frac in [0.5, 1)
    m = round_half_away(frac * (1 << MULT_BITS))
    if m == (1 << MULT_BITS):
        m //= 2
        exp += 1
    shift = MULT_BITS - exp
    if shift < 0:
        raise ValueError(
            f"requantization scale {real_scale!r} is too large: the encoding holds at most 2**{MULT_BITS} - 1"
        )
    if shift > MAX_SHIFT:
        m = round_half_away(real_scale * float(1 << MAX_SHIFT))
        shift = MAX_SHIFT
    return int(m), int(shift)


def dequantize_multiplier(multiplier: int, shift: int) -> float:
    """The real scale a (multiplier, shift) pair represents."""
    return float(multiplier) * 2.0 ** (-shift)


def round_half_away(x: np.ndarray | float) -> np.ndarray | int:
    """Round half away from zero (parameter quantization only). Scalars give int, arrays give int64."""
    if np.isscalar(x):
        xf = float(x)
        return math.floor(abs(xf) + 0.5) * (1 if xf >= 0 else -1)
    xa = np.asarray(x, dtype=np.float64)
    return (np.sign(xa) * np.floor(np.abs(xa) + 0.5)).astype(INT64)


def quantize_tensor(x: np.ndarray, scale: float, bits: int = ACT_BITS, signed: bool = True) -> np.ndarray:
    """Float -> integer code: saturate(round_half_away(x / scale)). Used on the host (inputs, parameters)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"quantization scale must be finite and > 0, got {scale!r}")
    return saturate(round_half_away(np.asarray(x, dtype=np.float64) / scale), bits, signed)


# ---- widths of the non-linear units (docs/numerics.md sections "Softmax", "LayerNorm", "MoE") -----------------
# Softmax (base 2, Softermax-style, single pass online). Scores are requantized to z = log2-domain logits with
# SM_FRAC_BITS fractional bits, saturated to SM_Z_BITS signed bits. 2^-f for the fraction f is the product of two
# SM_TABLE_INDEX_BITS-indexed tables (hi and lo halves of f) holding SM_TABLE_VALUE_BITS-bit fixed-point values.
SM_FRAC_BITS = 12  # z LSB = 2^-12 in log2 units
SM_Z_BITS = 24  # z is int24 (saturated): |logit * log2(e)| < 2048
SM_TABLE_INDEX_BITS = 6  # two 64-entry tables: hi = f[11:6], lo = f[5:0]
SM_TABLE_VALUE_BITS = 15  # table values round(2^15 * 2^-(...)) in (2^14, 2^15]
SM_EXP_BITS = 24  # e = 2^-(d / 2^12) in units of 2^-24: the row maximum's e is in (2^23, 2^24]
SM_SUM_BITS = 40  # running sum S < 2^40 (rows of up to 2^16 elements)
SM_RECIP_BITS = 16  # R = round(2^(n-1+16) / S), n = bit length of S: R in [2^15, 2^16] (17-bit unsigned)
SM_MAX_LEN = 1 << (SM_SUM_BITS - SM_EXP_BITS)  # longest row the sum width allows
PROB_BITS = 8  # attention probabilities: uint8 at 2^-8
GATE_BITS = 16  # MoE gate weights: uint16 at 2^-16

# LayerNorm: exact integer statistics, floor integer square root of the leading-one-normalised variance
# numerator (LN_NORM_BITS bits), a reciprocal of LN_RECIP_BITS bits, normalised value y with LN_FRAC_BITS
# fractional bits, gamma multiplier int16 per channel.
LN_NORM_BITS = 62  # D is shifted left by an even amount so that D_n in [2^60, 2^62)
LN_RECIP_SHIFT = 46  # Rr = round(2^46 / isqrt(D_n)), isqrt(D_n) in [2^30, 2^31) -> Rr in [2^15, 2^16]
LN_FRAC_BITS = 14  # y = (x - mean) / sqrt(var + eps) with LSB 2^-14
LN_GAMMA_BITS = 16  # per-channel gamma multiplier: int16
LN_BETA_BITS = 32  # per-channel beta offset: int32
LN_MAX_CHANNELS = 4096  # C * S2 - S1^2 + eps stays below 2^LN_NORM_BITS for int16 inputs up to this many channels
