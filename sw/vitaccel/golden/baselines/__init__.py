"""Bit-exact integer reproductions of published nonlinear kernels, the baselines vitaccel's numerics are judged by.

Every baseline has the same interface as a quantized op: integer input codes (numpy, any integer dtype) and the
real input scale S (value = code * S) in; (integer output codes as int64, real output scale) out. Softmax and
LayerNorm work over the last axis. Registry: `BASELINES[op][name] -> Baseline`.

- I-BERT (Kim et al., ICML 2021): `ibert.softmax` (i-exp), `ibert.gelu` (i-GELU), `ibert.layernorm` (i-sqrt).
- I-ViT (Li and Gu, ICCV 2023): `ivit.shiftmax`, `ivit.shiftgelu`, `ivit.layernorm` (I-LayerNorm).
- hls4ml 1.3.0 (Duarte et al., JINST 2018): `hls4ml_softmax.softmax_stable` with the default table sizes and
  types, checked bit for bit against the installed nnet_activation.h compiled with g++ (tests/test_baselines*).
- FQ-ViT (Lin et al., IJCAI 2022): `fqvit.log_int_softmax` (4-bit log2 probabilities).

`requantize_quantact` is the output requantizer the I-BERT / I-ViT pipelines put after GELU (QuantAct): it maps
an op's native integer output to int8 at a chosen scale so that all GELU methods are compared on the same int8
output format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vitaccel.golden.baselines import fqvit, hls4ml_softmax, ibert, ivit
from vitaccel.golden.baselines._int import INT64, torch_frexp_multiplier

OpFn = Callable[[np.ndarray, float], tuple[np.ndarray, float]]


@dataclass(frozen=True)
class Baseline:
    """One published method: `fn(codes, scale) -> (int64 codes, out_scale)`; `out_bits` of its native output.

    uniform_out=False: the native output is not a uniform grid (FQ-ViT's log2 codes); the returned integers are an
    exact linear view of it, and benchmarks report no output LSB.
    """

    op: str
    name: str
    fn: OpFn
    citation: str
    out_bits: int | None
    uniform_out: bool = True


def _shiftmax16(codes: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    return ivit.shiftmax(codes, scale, out_bits=16)


BASELINES: dict[str, dict[str, Baseline]] = {
    "softmax": {
        "ivit-shiftmax": Baseline("softmax", "ivit-shiftmax", ivit.shiftmax, "I-ViT Shiftmax, 8-bit out (2^-7)", 8),
        "ivit-shiftmax-16": Baseline(
            "softmax", "ivit-shiftmax-16", _shiftmax16, "I-ViT Shiftmax, 16-bit out (2^-15)", 16
        ),
        "ibert-softmax": Baseline("softmax", "ibert-softmax", ibert.softmax, "I-BERT i-exp softmax, 8-bit out", 8),
        "hls4ml-stable": Baseline(
            "softmax",
            "hls4ml-stable",
            hls4ml_softmax.softmax_stable,
            "hls4ml 1.3.0 softmax_stable, default tables/types, ap_fixed<16,6> in/out",
            16,
        ),
        "fqvit-log-int-softmax": Baseline(
            "softmax",
            "fqvit-log-int-softmax",
            fqvit.log_int_softmax,
            "FQ-ViT Log-Int-Softmax, 4-bit log2 out",
            fqvit.LIS_BITS,
            uniform_out=False,
        ),
    },
    "gelu": {
        "ibert-igelu": Baseline("gelu", "ibert-igelu", ibert.gelu, "I-BERT i-GELU (erf polynomial)", None),
        "ivit-shiftgelu": Baseline("gelu", "ivit-shiftgelu", ivit.shiftgelu, "I-ViT ShiftGELU", None),
    },
    "layernorm": {
        "ibert-isqrt": Baseline("layernorm", "ibert-isqrt", ibert.layernorm, "I-BERT LayerNorm (i-sqrt)", None),
        "ivit-ilayernorm": Baseline(
            "layernorm", "ivit-ilayernorm", ivit.layernorm, "I-ViT I-LayerNorm (10 Newton steps)", None
        ),
    },
}


def requantize_quantact(q: np.ndarray, in_scale: float, out_scale: float, bits: int = 8) -> np.ndarray:
    """I-BERT / I-ViT QuantAct requantization (fixedpoint_mul): z = clamp(round_half_even(q * m / 2^e), -2^(b-1),
    2^(b-1) - 1) with m * 2^-e the 31-bit dyadic form of in_scale / out_scale. A negative in_scale (I-BERT's
    i-GELU) is folded into the sign of q."""
    q = np.asarray(q, dtype=INT64)
    if in_scale < 0:
        q, in_scale = -q, -in_scale
    m, e = torch_frexp_multiplier(in_scale / out_scale)
    # q * m can exceed int64 for wide q: split q = hi * 2^31 + lo
    lo_mask = INT64((1 << 31) - 1)
    hi, lo = q >> INT64(31), q & lo_mask
    # value = (hi * m) * 2^31 + lo * m ; round(value / 2^e) with ties to even, done in Python ints when needed
    if int(np.abs(q).max(initial=0)) * m < (1 << 62):
        v = q * INT64(m)
        out = _rhe(v, e)
    else:
        out = np.array(
            [_rhe_int(int(h) * m * (1 << 31) + int(lw) * m, e) for h, lw in zip(hi.ravel(), lo.ravel())], dtype=INT64
        ).reshape(q.shape)
    lim = 1 << (bits - 1)
    return np.clip(out, -lim, lim - 1)


def _rhe_int(v: int, e: int) -> int:
    if e <= 0:
        return v << (-e)
    q, r = divmod(v, 1 << e)
    half = 1 << (e - 1)
    return q + (1 if (r > half or (r == half and q % 2 == 1)) else 0)


def _rhe(v: np.ndarray, e: int) -> np.ndarray:
    if e <= 0:
        return v << INT64(-e)
    q, r = np.divmod(v, INT64(1) << INT64(e))
    half = INT64(1) << INT64(e - 1)
    return q + ((r > half) | ((r == half) & (q % 2 == 1))).astype(INT64)


__all__ = ["BASELINES", "Baseline", "fqvit", "hls4ml_softmax", "ibert", "ivit", "requantize_quantact"]
