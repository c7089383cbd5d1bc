"""Error measurements of vitaccel's own non-linear ops against float64 on the same quantized inputs.

`measure_all()` returns rows in the `vitaccel bench numerics` schema ({"op", "method", "project", "case",
"max_abs_err", "mean_abs_err", "out_lsb", "max_sum_err"}); `python -m vitaccel.golden.measure` prints them as
JSON. Inputs are seeded, so the figures are reproducible. numpy only.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np

from vitaccel.golden.fixedpoint import LN_FRAC_BITS
from vitaccel.golden.ops import gelu, gelu_float, gelu_table, layernorm_eps, layernorm_normalise
from vitaccel.golden.softmax import softmax_int, softmax_params


def softmax_case(length: int, peaky: bool, rows: int = 2000, seed: int = 0) -> tuple[np.ndarray, float]:
    """int8 codes (rows, length) of N(0, 2) logits quantized with scale max|x| / 127; peaky rows get one
    element (uniform position) raised by U(4, 12)."""
    rng = np.random.default_rng([seed, length, int(peaky)])
    x = rng.normal(0.0, 2.0, size=(rows, length))
    if peaky:
        x[np.arange(rows), rng.integers(0, length, rows)] += rng.uniform(4.0, 12.0, rows)
    s = float(np.abs(x).max()) / 127.0
    return np.clip(np.round(x / s), -127, 127).astype(np.int64), s


def _row(op: str, method: str, case: str, err: np.ndarray, out_lsb: float | None,
         sum_err: float | None = None) -> dict[str, Any]:
    return {"op": op, "method": method, "project": True, "case": case, "max_abs_err": float(err.max()),
            "mean_abs_err": float(err.mean()), "out_lsb": out_lsb, "max_sum_err": sum_err}


def measure_softmax(seed: int = 0) -> list[dict[str, Any]]:
    out = []
    for length in (129, 197):
        for peaky in (False, True):
            q, s = softmax_case(length, peaky, seed=seed)
            x = q * s
            ref = np.exp(x - x.max(-1, keepdims=True))
            ref /= ref.sum(-1, keepdims=True)
            case = f"L{length}-{'peaky' if peaky else 'sigma2'}"
            for bits in (8, 16):
                p = softmax_int(q, softmax_params(s, bits)) / float(1 << bits)
                out.append(_row("softmax", f"vitaccel-online-base2-{bits}bit", case, np.abs(p - ref),
                                2.0**-bits, float(np.abs(p.sum(-1) - 1).max())))
    return out


def measure_layernorm(seed: int = 0) -> list[dict[str, Any]]:
    out = []
    for c in (192, 768):
        rng = np.random.default_rng([seed, c])
        sig = rng.uniform(20, 8000, size=(2000, 1))
        x = np.clip(np.round(rng.normal(rng.normal(0, sig / 2), sig, size=(2000, c))), -32768, 32767)
        x = x.astype(np.int64)
        s, eps = 0.01, 1e-6
        xf = x * s
        ref = (xf - xf.mean(-1, keepdims=True)) / np.sqrt(xf.var(-1, keepdims=True) + eps)
        y = layernorm_normalise(x, layernorm_eps(eps, s, c)) / 2.0**LN_FRAC_BITS
        out.append(_row("layernorm", "vitaccel-exact-int", f"C{c}", np.abs(y - ref), 2.0**-LN_FRAC_BITS))
    return out


def measure_gelu() -> list[dict[str, Any]]:
    """Every int8 code for input scale 8/127 ([-8, 8]) and output LSB 2^-4 (int8 up to ~8), plus a fine case."""
    out = []
    for s_in, s_out, case in ((8.0 / 127, 8.0 / 127, "range8"), (4.0 / 127, 2.0**-5, "range4")):
        codes = np.arange(-128, 128)
        ref = np.array([gelu_float(c * s_in) for c in codes])
        got = gelu(codes, gelu_table(s_in, s_out)) * s_out
        ok = np.abs(ref / s_out) <= 127
        out.append(_row("gelu", "vitaccel-int8-table", case, np.abs(got - ref)[ok], s_out))
    return out


def measure_all(seed: int = 0) -> list[dict[str, Any]]:
    return measure_softmax(seed) + measure_layernorm(seed) + measure_gelu()


def main() -> int:
    rows = measure_all()
    for r in rows:
        if r["out_lsb"]:
            r["max_err_lsb"] = r["max_abs_err"] / r["out_lsb"]
    json.dump({"results": rows}, sys.stdout, indent=1, default=lambda v: None if isinstance(v, float)
              and not math.isfinite(v) else v)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
