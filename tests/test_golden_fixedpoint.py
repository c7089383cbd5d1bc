"""Fixed-point primitives (vitaccel.golden.fixedpoint) against Python integer / fraction arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitaccel.golden.fixedpoint import (
    MAX_SHIFT,
    dequantize_multiplier,
    quantize_multiplier,
    quantize_tensor,
    requantize,
    round_half_away,
    round_shift,
    saturate,
)


@settings(max_examples=300, deadline=None)
@given(x=st.integers(-(2**55), 2**55), s=st.integers(0, MAX_SHIFT))
def test_round_shift_is_round_half_up(x, s):
    exact = Fraction(x, 2**s)
    assert int(round_shift(np.array([x]), s)[0]) == math.floor(exact + Fraction(1, 2))


def test_round_shift_halves_go_up():
    assert list(round_shift(np.array([-3, -2, -1, 1, 2, 3]), 1)) == [-1, -1, 0, 1, 1, 2]
    with pytest.raises(ValueError):
        round_shift(np.array([1]), 64)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=2.0**-40, max_value=60000.0))
def test_quantize_multiplier_precision(r):
    m, s = quantize_multiplier(r)
    assert 0 <= s <= MAX_SHIFT and 0 <= m < 2**16
    assert m >= 2**15
    assert abs(dequantize_multiplier(m, s) - r) <= r * 2.0**-16


def test_quantize_multiplier_tiny_and_bad():
    m, s = quantize_multiplier(2.0**-60)
    assert s == MAX_SHIFT and m == 8
    assert quantize_multiplier(0.0) == (0, 0)
    for bad in (-1.0, float("inf"), float("nan"), 2.0**16):
        with pytest.raises(ValueError):
            quantize_multiplier(bad)


def test_requantize_saturates_not_wraps():
    acc = np.array([-(2**31), 2**31 - 1, 255, -256])
    assert list(requantize(acc, 1, 0)) == [-128, 127, 127, -128]
    assert list(requantize(acc, 1, 1, bits=8, signed=False)) == [0, 255, 128, 0]
    with pytest.raises(ValueError):
        requantize(acc, 1 << 16, 0)


def test_round_half_away_and_quantize_tensor():
    assert [round_half_away(v) for v in (-2.5, -1.5, -0.5, 0.5, 1.5, 2.4999)] == [-3, -2, -1, 1, 2, 2]
    assert list(round_half_away(np.array([-2.5, 2.5]))) == [-3, 3]
    assert list(quantize_tensor(np.array([-1.0, 0.26, 10.0]), 0.1)) == [-10, 3, 100]
    assert list(saturate(np.array([40000, -40000]), 16)) == [32767, -32768]
