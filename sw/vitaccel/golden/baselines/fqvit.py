"""FQ-ViT Log-Int-Softmax (Lin, Zhang, Sun, Chu, Zhou, "FQ-ViT: Post-Training Quantization for Fully Quantized
Vision Transformer", IJCAI 2022, arXiv:2111.13824, section 3.3, Eq. 10-13), in exact integer arithmetic.

LIS = 4-bit log2 quantization of an integer-only softmax, so that attention x V becomes shifts:

  1. x = q - max(q) per row; exp by I-BERT's i-exp as FQ-ViT's released code writes it: I_0 = floor(-0.6931 / S),
     x clamped to >= n I_0 (n = 30), k = floor(x / I_0), r = x - k I_0, poly = r (r + floor(b / S)) +
     floor(c / S^2) with (b, c) = (0.96963238, 1) / 0.35815147, e = poly * 2^(n - k) (Eq. 10-11);
  2. ratio = round(sum_j e_j / e_i) (ties to even, torch.round of the quotient), an integer >= 1 (Eq. 12);
  3. log_round: q_i = floor(log2 ratio) + 1 if ratio >= 1.5 * 2^floor(log2 ratio) else floor(log2 ratio)
     (round to the nearest power of two, the midpoint 1.5 * 2^k rounds up);
  4. 4-bit code: q_i clamped to [0, 15]; codes >= 16 become probability 0 (the released code's mask);
     p_i = 2^-q_i (Eq. 13).

Returned, like every baseline, as linear integers: p_i * 2^15 = 2^(15 - q_i) at scale 2^-15 (exact); the real
output format is the 4-bit log code (`LIS_BITS`), not a uniform grid.
"""

from __future__ import annotations

import math

import numpy as np

from vitaccel.golden.baselines._int import INT64, bit_length

X0 = -0.6931
N_EXP = 30
COEF_A = 0.35815147
COEF_B = 0.96963238 / COEF_A
COEF_C = 1.0 / COEF_A
LIS_BITS = 4
LIN_FRAC = 15  # linear view of 2^-q: 2^(15 - q) at 2^-15


def int_exp(q: np.ndarray, scale: float) -> np.ndarray:
    """FQ-ViT's i-exp (I-BERT's released form) for q <= 0: exp(q * scale) ~ e * COEF_A * scale^2 / 2^30."""
    q = np.asarray(q, dtype=INT64)
    x0 = math.floor(X0 / scale)
    if x0 >= 0:
        raise ValueError(f"input scale {scale} too coarse for i-exp")
    q = np.maximum(q, N_EXP * x0)
    k = q // x0
    r = q - x0 * k
    poly = r * (r + math.floor(COEF_B / scale)) + math.floor(COEF_C / (scale * scale))
    return np.maximum(poly << (N_EXP - k), 0)


def log_int_softmax_codes(codes: np.ndarray, scale: float) -> np.ndarray:
    """The 4-bit log codes q_i (int64; -1 marks a probability quantized to 0) over the last axis."""
    q = np.asarray(codes, dtype=INT64)
    e = int_exp(q - q.max(axis=-1, keepdims=True), scale)
    total = e.sum(axis=-1, keepdims=True)
    quo, rem = np.divmod(total, e)  # e >= 1 always (the polynomial is > 0)
    twice = 2 * rem
    ratio = quo + ((twice > e) | ((twice == e) & (quo % 2 == 1))).astype(INT64)
    big = bit_length(ratio) - 1
    up = (big >= 1) & (ratio - (INT64(1) << big) >= (INT64(1) << np.maximum(big - 1, 0)))
    lr = big + up.astype(INT64)
    top = (1 << LIS_BITS) - 1
    return np.where(lr > top, -1, np.clip(lr, 0, top))


def log_int_softmax(codes: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """Baseline interface: (codes, S) -> (2^(15 - q) or 0, 2^-15): the 4-bit log2 probabilities, linearised."""
    lq = log_int_softmax_codes(codes, scale)
    lin = np.where(lq < 0, INT64(0), INT64(1) << (LIN_FRAC - np.maximum(lq, 0)))
    return lin, 2.0**-LIN_FRAC


__all__ = ["LIS_BITS", "int_exp", "log_int_softmax", "log_int_softmax_codes"]
