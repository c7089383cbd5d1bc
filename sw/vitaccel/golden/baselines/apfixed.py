"""Minimal integer emulation of Xilinx `ap_fixed` / `ap_ufixed` quantization, as used by hls4ml's C++.

A value of type ap_[u]fixed<W, I, Q, O> is held as its raw two's-complement integer (int64 numpy array); the real
value is raw * 2**-(W - I). Only what hls4ml's softmax needs is modelled:

- quantization modes (Q): "TRN" (AP_TRN, floor toward -inf, the default) and "RND" (AP_RND, round half toward
  +inf, i.e. floor(x + 1/2 LSB));
- overflow modes (O): "WRAP" (AP_WRAP, keep the low W bits, the default) and "SAT" (AP_SAT, clamp to the range).

Conversions from float: ap_fixed converts a C float/double exactly and then quantizes, so raw = Q(x * 2**F) with
x * 2**F computed exactly (float32 table values times a power of two are exact in float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INT64 = np.int64

_QMODES = ("TRN", "RND")
_OMODES = ("WRAP", "SAT")


@dataclass(frozen=True)
class FixedType:
    """ap_fixed<width, integer, q, o> (signed) or ap_ufixed<...> (signed=False). frac = width - integer bits."""

    width: int
    integer: int
    signed: bool = True
    q: str = "TRN"
    o: str = "WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= 62:
            raise ValueError(f"FixedType width must be in [1, 62], got {self.width}")
        if self.q not in _QMODES:
            raise ValueError(f"FixedType quantization mode must be one of {_QMODES}, got {self.q!r}")
        if self.o not in _OMODES:
            raise ValueError(f"FixedType overflow mode must be one of {_OMODES}, got {self.o!r}")

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** (-self.frac)

    def cpp(self) -> str:
        """The C++ spelling, e.g. 'ap_fixed<18,8,AP_RND,AP_SAT>' or 'ap_ufixed<15,5>'."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        if self.q == "TRN" and self.o == "WRAP":
            return f"{base}<{self.width},{self.integer}>"
        return f"{base}<{self.width},{self.integer},AP_{self.q},AP_{self.o}>"

    def to_float(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype=INT64).astype(np.float64) * self.lsb


def overflow(raw: np.ndarray, t: FixedType) -> np.ndarray:
    """Apply t's overflow mode to integers already at t's LSB."""
    raw = np.asarray(raw, dtype=INT64)
    if t.o == "SAT":
        return np.clip(raw, t.raw_min, t.raw_max)
    mask = INT64((1 << t.width) - 1)
    low = raw & mask
    if t.signed:
        low = np.where(low > t.raw_max, low - INT64(1 << t.width), low)
    return low


def cast(raw: np.ndarray, frac_from: int, t: FixedType) -> np.ndarray:
    """Assign a fixed-point value (raw integers with `frac_from` fractional bits) to type t (quantize, overflow)."""
    raw = np.asarray(raw, dtype=INT64)
    sh = frac_from - t.frac
    if sh > 0:
        if t.q == "RND":
            raw = (raw + INT64(1 << (sh - 1))) >> INT64(sh)
        else:
            raw = raw >> INT64(sh)
    elif sh < 0:
        raw = raw << INT64(-sh)
    return overflow(raw, t)


def from_float(x: np.ndarray, t: FixedType) -> np.ndarray:
    """C++ `t v = x;` for float/double x (finite): exact scaling by 2**frac, then t's quantization and overflow."""
    scaled = np.ldexp(np.asarray(x, dtype=np.float64), t.frac)
    if t.q == "RND":
        raw = np.floor(scaled + 0.5)
    else:
        raw = np.floor(scaled)
    if t.o == "SAT":
        raw = np.clip(raw, float(t.raw_min), float(t.raw_max))
        return raw.astype(INT64)
    # WRAP: exact for |raw| < 2**62 (float64 holds these integers exactly for the table values used here)
    return overflow(raw.astype(INT64), t)


def top_bits(raw: np.ndarray, t: FixedType, n: int) -> np.ndarray:
    """hls4ml's `x(x.width - 1, x.width - n)` as an unsigned index: the top n bits of the W-bit pattern."""
    if n > t.width:
        raise ValueError(f"cannot slice {n} bits out of a {t.width}-bit type")
    pattern = np.asarray(raw, dtype=INT64) & INT64((1 << t.width) - 1)
    return pattern >> INT64(t.width - n)


def from_top_bits(i: np.ndarray, t: FixedType, n: int) -> np.ndarray:
    """Inverse of `top_bits`: the raw value of a t whose top n bits are i and whose other bits are zero."""
    pattern = np.asarray(i, dtype=INT64) << INT64(t.width - n)
    return overflow(pattern, FixedType(t.width, t.integer, t.signed, "TRN", "WRAP"))


__all__ = ["FixedType", "cast", "from_float", "from_top_bits", "overflow", "top_bits"]
