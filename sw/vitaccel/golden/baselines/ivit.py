"""I-ViT integer-only kernels (Li and Gu, "I-ViT: Integer-only Quantization for Efficient Vision Transformer
Inference", ICCV 2023, arXiv:2207.01405): Shiftmax, ShiftGELU and I-LayerNorm, in exact integer arithmetic.

Inputs are quantized codes q with real scale S (x = q * S); each function returns (integer output, real scale).
The authors' PyTorch code emulates these integers in float32 tensors; this module computes the same equations
with exact int64 integers (what an integer deployment -- their TVM benchmark -- computes).

Paper equations (section 3.3-3.5):

- ShiftExp (Eq. 7-10), for q <= 0: q' = q + (q >> 1) - (q >> 4)  (x log2 e ~ x (1 + 1/2 - 1/16), arithmetic shifts
  floor); I_0 = floor(-1 / S) (< 0, the integer of -1); q' is clamped to >= n I_0; r_q = floor(q' / I_0) (the
  integer part of -x log2 e), r = q' - I_0 r_q in (I_0, 0]; 2^(-f) ~ 1 - f/2 gives exp_int = r/2 - I_0; the output
  is exp_int * 2^(n - r_q) at scale S / 2^n. The released code computes r/2 in floating point and floors after the
  multiplication by 2^(n - r_q), i.e. floor((r - 2 I_0) * 2^(n - r_q - 1)), which is what this module does.
- Shiftmax (Eq. 11-12, n = 15): x - max(x), ShiftExp, sum (clamped to 2^31 - 1), factor = floor((2^31 - 1) / sum),
  p = floor(exp * factor / 2^(31 - k + 1)) at scale 2^-(k - 1) for a k-bit output (k = 8: LSB 2^-7, floor).
- ShiftGELU (Eq. 13-14, n = 23): GELU(x) ~ x sigmoid(1.702 x) with sigmoid(t) = e^(t - m) / (e^(t - m) + e^(-m)),
  m = max over the row (the released code takes the max along the last axis), both exponentials by ShiftExp at
  scale 1.702 S; sigmoid_int = floor(exp * floor((2^31 - 1) / sum) / 2^(31 - k + 1)) at 2^-(k - 1) (k = 8);
  output q * sigmoid_int at scale S * 2^-(k - 1).
- I-LayerNorm (section 3.5): mean = round(sum / C) (ties to even, torch.round), y = q - mean, var = sum(y^2),
  std = 10 Newton steps k <- floor((k + floor(var / k)) / 2) from k = 2^16 (not necessarily converged: the paper's
  fixed iteration count), factor = floor((2^31 - 1) / std), out = floor(y * factor / 2) at scale sqrt(C) / 2^30.
"""

from __future__ import annotations

import math

import numpy as np

from vitaccel.golden.baselines._int import INT64, round_half_even_div

SHIFTMAX_N = 15
SHIFTGELU_N = 23
OUT_BITS = 8
SIGMOID_K = 1.702
LN_NEWTON_STEPS = 10
LN_NEWTON_START = 1 << 16
INT31 = (1 << 31) - 1


def shift_exp(q: np.ndarray, scale: float, n: int) -> tuple[np.ndarray, float]:
    """ShiftExp: exp(q * scale) ~ out * scale / 2^n (int64). Meant for q <= 0 (x - max); ShiftGELU also evaluates
    exp(-max) which is a positive argument for a row whose max is negative -- the same formula, as in the paper."""
    q = np.asarray(q, dtype=INT64)
    q = q + (q >> 1) - (q >> 4)
    i0 = math.floor(-1.0 / scale)
    q = np.maximum(q, n * i0)
    r_q = q // i0  # i0 < 0 and q <= 0: r_q >= 0
    r = q - i0 * r_q
    t = r - 2 * i0  # 2 * exp_int, > 0
    sh = n - r_q - 1  # >= -1
    out = np.where(sh >= 0, t << np.maximum(sh, 0), t >> 1)
    return np.maximum(out, 0), scale / float(1 << n)


def shiftmax(codes: np.ndarray, scale: float, out_bits: int = OUT_BITS) -> tuple[np.ndarray, float]:
    """Shiftmax over the last axis: (codes, S) -> (p codes, 2^-(out_bits - 1))."""
    q = np.asarray(codes, dtype=INT64)
    x = q - q.max(axis=-1, keepdims=True)
    e, _ = shift_exp(x, scale, SHIFTMAX_N)
    total = np.minimum(e.sum(axis=-1, keepdims=True), INT31)
    factor = INT31 // total
    p = (e * factor) >> INT64(31 - out_bits + 1)
    return p, 2.0 ** -(out_bits - 1)


def shiftgelu(codes: np.ndarray, scale: float, out_bits: int = OUT_BITS) -> tuple[np.ndarray, float]:
    """ShiftGELU over the last axis (the max is taken per row): (codes, S) -> (int64, S * 2^-(out_bits - 1))."""
    q = np.asarray(codes, dtype=INT64)
    s_sig = scale * SIGMOID_K
    q_max = q.max(axis=-1, keepdims=True)
    e, _ = shift_exp(q - q_max, s_sig, SHIFTGELU_N)
    e_m, _ = shift_exp(-q_max, s_sig, SHIFTGELU_N)  # exp(-max): a positive argument when the row max is < 0
    total = np.minimum(e + e_m, INT31)
    factor = INT31 // total
    sig = (e * factor) >> INT64(31 - out_bits + 1)
    return q * sig, scale * 2.0 ** -(out_bits - 1)


def layernorm(codes: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """I-LayerNorm over the last axis, normalised output (no gamma/beta): (codes, S) -> (int, sqrt(C)/2^30)."""
    if not scale > 0:
        raise ValueError("scale must be > 0")
    q = np.asarray(codes, dtype=INT64)
    c = q.shape[-1]
    mean = round_half_even_div(q.sum(axis=-1, keepdims=True), c)
    y = q - mean
    var = (y * y).sum(axis=-1, keepdims=True)
    k = np.full(var.shape, LN_NEWTON_START, dtype=INT64)
    for _ in range(LN_NEWTON_STEPS):
        k = (k + var // k) // 2
    k = np.maximum(k, 1)  # a constant row would reach 0 (the released code divides by it)
    factor = INT31 // k
    out = (y * factor) >> INT64(1)
    return out, math.sqrt(c) / 2.0**30


__all__ = ["layernorm", "shift_exp", "shiftgelu", "shiftmax"]
