"""Small exact-integer helpers shared by the baselines (int64 numpy, no float rounding at run time)."""

from __future__ import annotations

import math

import numpy as np

INT64 = np.int64


def round_half_even_div(a: np.ndarray, b: int) -> np.ndarray:
    """round(a / b) with ties to even (torch.round semantics) for integer a and positive integer b."""
    a = np.asarray(a, dtype=INT64)
    q, r = np.divmod(a, INT64(b))  # r in [0, b)
    twice = 2 * r
    up = (twice > b) | ((twice == b) & (q % 2 == 1))
    return q + up.astype(INT64)


def bit_length(x: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values (0 for 0)."""
    x = np.asarray(x, dtype=INT64)
    n = np.zeros(x.shape, dtype=INT64)
    y = x.copy()
    for step in (32, 16, 8, 4, 2, 1):
        big = y >= (INT64(1) << INT64(step))
        n = np.where(big, n + step, n)
        y = np.where(big, y >> INT64(step), y)
    return n + (y > 0)


def torch_frexp_multiplier(real: float, bits: int = 31) -> tuple[int, int]:
    """I-BERT's `batch_frexp`: real = m * 2**-e with m = round(mantissa * 2**bits) (mantissa in [0.5, 1)).

    The released code rounds the mantissa with Python's decimal ROUND_HALF_UP; so does this.
    """
    if real <= 0 or not math.isfinite(real):
        raise ValueError(f"multiplier must be finite and > 0, got {real!r}")
    mant, exp = math.frexp(real)
    m = math.floor(mant * (1 << bits) + 0.5)
    return int(m), int(bits - exp)
