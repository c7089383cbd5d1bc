"""hls4ml softmax_stable emulation vs the REAL hls4ml C++ (installed nnet_activation.h + ap_types, g++), bit for bit.

The harness is compiled once per (config, row length) and cached under build/baselines/hls4ml_softmax/.
Skipped with a reason when hls4ml's templates or g++ are missing.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vitaccel.golden.baselines import hls4ml_softmax as H
from vitaccel.golden.baselines.apfixed import FixedType

pytestmark = [
    pytest.mark.skipif(H.hls4ml_templates_dir() is None, reason="hls4ml (templates/vivado) is not installed"),
    pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not on PATH"),
]


def _rows(cfg: H.Hls4mlSoftmaxConfig, n: int, seed: int) -> np.ndarray:
    """Raw input_t rows: full-range random patterns, narrow rows, peaky rows, constant rows and the extremes."""
    rng = np.random.default_rng(seed)
    lo, hi = cfg.input_t.raw_min, cfg.input_t.raw_max
    full = rng.integers(lo, hi + 1, (40, n))
    narrow = rng.integers(lo, hi + 1, (40, n)) // 64
    peaky = rng.integers(lo // 64, hi // 64, (40, n))
    peaky[np.arange(40), rng.integers(0, n, 40)] = rng.integers(hi // 4, hi, 40)
    const = np.repeat(rng.integers(lo, hi + 1, (4, 1)), n, axis=1)
    ext = np.full((2, n), lo)
    ext[0, ::3] = hi
    ext[1, 0] = hi
    return np.concatenate([full, narrow, peaky, const, ext]).astype(np.int64)


CONFIGS = {
    # what hls4ml 1.3.0 generates by default (ap_fixed<16,6> in/out, 1024-entry tables, ap_fixed<18,8,RND,SAT>)
    "default": H.default_config(),
    # what it generates for an 8-bit ap_fixed<8,3> input: exp table 128, inverse table 256, ap_ufixed<7,2> deltas
    "int8-input": H.default_config(FixedType(8, 3, True)),
    # non-default types: rounding/saturating 8-bit output, wrapping accumulator, unsigned input
    "custom": H.Hls4mlSoftmaxConfig(
        input_t=FixedType(12, 4, False),
        result_t=FixedType(8, 0, False, "RND", "SAT"),
        accum_t=FixedType(16, 8, True, "TRN", "WRAP"),
        inp_norm_t=FixedType(12, 4, False),
        exp_table_size=512,
        inv_table_size=256,
        exp_scale=0.75,
    ),
}


def test_default_config_is_what_hls4ml_generates():
    """The defaults as read from hls4ml 1.3.0's generated parameters.h / defines.h (Vivado backend)."""
    d = H.default_config()
    assert d.input_t.cpp() == "ap_fixed<16,6>" and d.result_t.cpp() == "ap_fixed<16,6>"
    for t in (d.exp_table_t, d.inv_table_t, d.inv_inp_t, d.accum_t):
        assert t.cpp() == "ap_fixed<18,8,AP_RND,AP_SAT>"
    assert d.inp_norm_t.cpp() == "ap_ufixed<15,5>"
    assert (d.exp_table_size, d.inv_table_size, d.exp_scale) == (1024, 1024, 1.0)
    assert H.inverse_step(d) == 0.25
    i8 = H.default_config(FixedType(8, 3, True))
    assert (i8.exp_table_size, i8.inv_table_size, i8.inp_norm_t.cpp()) == (128, 256, "ap_ufixed<7,2>")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_tables_bit_exact_vs_cpp(name):
    cfg = CONFIGS[name]
    exe = H.build_harness(cfg, 129)
    exp_cpp, inv_cpp = H.run_harness_tables(exe, cfg)
    exp_py, inv_py = H.tables(cfg)
    np.testing.assert_array_equal(exp_py, exp_cpp)
    np.testing.assert_array_equal(inv_py[1:], inv_cpp[1:])  # entry 0 is 1/0 (never read)


@pytest.mark.parametrize(("name", "n"), [("default", 197), ("default", 129), ("int8-input", 129), ("custom", 64)])
def test_softmax_stable_bit_exact_vs_cpp(name, n):
    cfg = CONFIGS[name]
    exe = H.build_harness(cfg, n)
    x = _rows(cfg, n, seed=n)
    np.testing.assert_array_equal(H.softmax_stable_raw(x, cfg), H.run_harness(exe, x))


def test_bench_inputs_bit_exact_vs_cpp():
    """The exact rows the numerics benchmark feeds hls4ml (int8 codes * scale -> ap_fixed<16,6>)."""
    from vitaccel.bench.numerics import softmax_cases

    cfg = H.default_config()
    for case, (codes, scale) in softmax_cases().items():
        n = codes.shape[-1]
        x = H.codes_to_input(codes, scale, cfg)
        np.testing.assert_array_equal(x, np.floor(codes * scale * 1024).astype(np.int64))
        out, lsb = H.softmax_stable(codes, scale)
        assert lsb == 2.0**-10
        np.testing.assert_array_equal(out, H.run_harness(H.build_harness(cfg, n), x), err_msg=case)


def test_peaky_row_reciprocal_step_error():
    """The documented failure: a row sum in [1, 1.25) reads 1/1 from the 0.25-step reciprocal table."""
    cfg = H.default_config()
    x = np.full((1, 16), -10 * 1024, dtype=np.int64)
    x[0, 0] = 0
    x[0, 1] = -1 * 1024  # sum = 1 + e^-1 + 14 e^-10 = 1.369 -> index reads 1.25
    p = cfg.result_t.to_float(H.softmax_stable_raw(x, cfg))[0]
    true = np.exp(cfg.input_t.to_float(x[0]))
    true /= true.sum()
    assert abs(p[0] - true[0]) > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["ap_fixed<16,6>", "ap_fixed<8,3>", "ap_fixed<12,5>"])
def test_default_config_matches_hls4ml_converter(tmp_path, precision):
    """Independent check of `default_config`: let hls4ml 1.3.0 itself write a project for a PyTorch softmax with
    the given input precision and read the softmax config it generated."""
    import re
    import warnings

    torch = pytest.importorskip("torch")
    hls4ml = pytest.importorskip("hls4ml")

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sm = torch.nn.Softmax(dim=-1)

        def forward(self, x):
            return self.sm(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = hls4ml.utils.config_from_pytorch_model(M(), input_shape=(129,), granularity="name", backend="Vivado")
        cfg["LayerName"]["x"]["Precision"]["result"] = precision
        model = hls4ml.converters.convert_from_pytorch_model(
            M(), hls_config=cfg, output_dir=str(tmp_path / "prj"), backend="Vivado", io_type="io_parallel"
        )
        model.write()
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    defines = (tmp_path / "prj" / "firmware" / "defines.h").read_text()

    def field(name: str) -> str:
        return re.search(rf"{name} = ([^;]+);", params).group(1).strip()

    def typedef(name: str) -> str:
        return re.search(rf"typedef (.+) {name};", defines).group(1).replace(" ", "").replace(",0>", ">")

    w, i = map(int, re.match(r"ap_fixed<(\d+),(\d+)>", precision).groups())
    d = H.default_config(FixedType(w, i, True))
    assert int(field("exp_table_size")) == d.exp_table_size
    assert int(field("inv_table_size")) == d.inv_table_size
    assert float(field("exp_scale")) == d.exp_scale
    assert re.search(r"typedef (.+) inp_norm_t;", params).group(1).replace(" ", "") == d.inp_norm_t.cpp()
    assert typedef("input_t") == d.input_t.cpp() and typedef("result_t") == d.result_t.cpp()
    for name, t in (("exp_table_t", d.exp_table_t), ("inv_table_t", d.inv_table_t), ("inv_inp_t", d.inv_inp_t),
                    ("accum_t", d.accum_t)):
        assert typedef(f"sm_{name}") == t.cpp(), name
