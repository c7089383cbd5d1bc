"""hls4ml's "stable" softmax (nnet_utils/nnet_activation.h, `nnet::softmax_stable`, hls4ml 1.3.0), bit-exact.

Source: hls4ml (Duarte et al., JINST 13 P07027, 2018; fastmachinelearning/hls4ml), Vivado/Vitis backend, the
default softmax implementation since 0.8 ("stable"). The algorithm, on one row of n values of the input type
data_T (all arithmetic in ap_fixed types, see `apfixed`):

  1. x_max = max_i x_i (balanced tree of `a >= b ? a : b`);
  2. d_i = x_max - x_i, assigned to inp_norm_t (default ap_ufixed<W - s, I - s> for an ap_fixed<W, I> input with
     sign bit s: TRN, WRAP -- a difference >= 2**(I - s) wraps around);
  3. e_i = exp_table[top log2(N_exp) bits of d_i], exp_table[k] = exp_table_t(expf(-v_k * exp_scale)) where v_k is
     the inp_norm_t value whose top bits are k (the index truncates d_i, it does not round);
  4. S = sum_i e_i in accum_t (tree of saturating adds; all e_i >= 0 so the tree order does not matter), cast to
     inv_inp_t;
  5. r = inv_table[top log2(N_inv) bits of S], inv_table[k] = inv_table_t(1.0f / u_k) with u_k the inv_inp_t value
     whose top bits are k. With the default ap_fixed<18,8> this indexes S in steps of 2**(8 - 10) = 0.25: the
     reciprocal of a row sum in [1, 1.25) is 1, the source of hls4ml's large errors on peaky rows;
  6. y_i = result_t(e_i * r) (exact product, then result_t's quantization/overflow).

Default configuration (`default_config`): what hls4ml 1.3.0's Vivado backend generates for a Softmax layer with
no precision overrides (checked against `hls4ml.converters.convert_from_pytorch_model` output): table_size 1024
(reduced by the FixSoftmaxTableSize pass to 2**min(input width, inv_table width) when smaller), exp_table_size
min(table_size, 2**(W - 1)) for a signed input, exp/inv table, inv_inp and accum types ap_fixed<18,8,AP_RND,AP_SAT>,
exp_scale 1.0, input and result type the model default ap_fixed<16,6>.

Quantized inputs (int8 code c, real scale S) enter hls4ml's input type the way a C++ testbench would assign a
double: raw = floor(c * S * 2**F) (AP_TRN, AP_WRAP) -- see `codes_to_input`.

`build_harness` / `run_harness` compile a tiny g++ program around the installed hls4ml header (and its ap_types)
so tests can check this emulation bit-exactly against the real C++ (cached under build/baselines/).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from vitaccel.golden.baselines.apfixed import INT64, FixedType, cast, from_float, from_top_bits, top_bits

HLS4ML_TABLE_T = FixedType(18, 8, True, "RND", "SAT")  # default exp_table_t / inv_table_t / inv_inp_t / accum_t
HLS4ML_DEFAULT_T = FixedType(16, 6, True, "TRN", "WRAP")  # model default precision (input_t, result_t)
HLS4ML_TABLE_SIZE = 1024


@dataclass(frozen=True)
class Hls4mlSoftmaxConfig:
    """The compile-time parameters of `nnet::softmax_stable` (one hls4ml softmax_config struct)."""

    input_t: FixedType = HLS4ML_DEFAULT_T
    result_t: FixedType = HLS4ML_DEFAULT_T
    exp_table_t: FixedType = HLS4ML_TABLE_T
    inv_table_t: FixedType = HLS4ML_TABLE_T
    inv_inp_t: FixedType = HLS4ML_TABLE_T
    accum_t: FixedType = HLS4ML_TABLE_T
    inp_norm_t: FixedType = field(default=FixedType(15, 5, False))
    exp_table_size: int = 1024
    inv_table_size: int = 1024
    exp_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("exp_table_size", "inv_table_size"):
            v = getattr(self, name)
            if v < 2 or v & (v - 1):
                raise ValueError(f"hls4ml {name} must be a power of two >= 2, got {v}")
        if _log2(self.exp_table_size) > self.inp_norm_t.width:
            raise ValueError("exp_table_size needs more address bits than inp_norm_t has")
        if _log2(self.inv_table_size) > self.inv_inp_t.width:
            raise ValueError("inv_table_size needs more address bits than inv_inp_t has")


def _log2(n: int) -> int:
    return int(n).bit_length() - 1


def default_config(input_t: FixedType = HLS4ML_DEFAULT_T, table_size: int = HLS4ML_TABLE_SIZE) -> Hls4mlSoftmaxConfig:
    """The config hls4ml 1.3.0 (Vivado backend, implementation 'stable') derives for an input of type input_t."""
    inv_table_t = HLS4ML_TABLE_T
    # FixSoftmaxTableSize: table_size = 2**min(input width, inv_table width) if that is smaller
    limit = 2 ** min(input_t.width, inv_table_t.width)
    if limit < table_size:
        table_size = limit
    exp_size = table_size
    s = 1 if input_t.signed else 0
    if input_t.signed:
        exp_size = min(exp_size, 2 ** (input_t.width - s))
    inp_norm_t = FixedType(input_t.width - s, input_t.integer - s, False, "TRN", "WRAP")
    return Hls4mlSoftmaxConfig(
        input_t=input_t,
        result_t=HLS4ML_DEFAULT_T,
        exp_table_t=HLS4ML_TABLE_T,
        inv_table_t=inv_table_t,
        inv_inp_t=HLS4ML_TABLE_T,
        accum_t=HLS4ML_TABLE_T,
        inp_norm_t=inp_norm_t,
        exp_table_size=exp_size,
        inv_table_size=table_size,
        exp_scale=1.0,
    )


@lru_cache(maxsize=32)
def _tables(cfg: Hls4mlSoftmaxConfig) -> tuple[np.ndarray, np.ndarray]:
    n_exp, n_inv = cfg.exp_table_size, cfg.inv_table_size
    # init_exp_table<inp_norm_t>(table, negative=true): float x = value(top bits = i) * exp_scale; exp(-x) in float
    v = cfg.inp_norm_t.to_float(from_top_bits(np.arange(n_exp), cfg.inp_norm_t, _log2(n_exp))).astype(np.float32)
    x = -(v * np.float32(cfg.exp_scale))
    ex = np.exp(x.astype(np.float64)).astype(np.float32)  # correctly rounded expf
    exp_tab = from_float(ex, cfg.exp_table_t)
    # init_invert_table<inv_inp_t>: float x = value(top bits = i); 1 / x in float
    u = cfg.inv_inp_t.to_float(from_top_bits(np.arange(n_inv), cfg.inv_inp_t, _log2(n_inv))).astype(np.float32)
    zero = u == 0
    inv = np.float32(1.0) / np.where(zero, np.float32(1.0), u)
    inv_tab = from_float(inv, cfg.inv_table_t)
    # 1/0 = +inf saturates to the largest value (index 0 is never read: the row sum is >= exp(0) = 1)
    inv_tab[zero] = cfg.inv_table_t.raw_max
    exp_tab.flags.writeable = False
    inv_tab.flags.writeable = False
    return exp_tab, inv_tab


def tables(cfg: Hls4mlSoftmaxConfig) -> tuple[np.ndarray, np.ndarray]:
    """(exp_table, inv_table) as raw integers of exp_table_t / inv_table_t (entry 0 of inv_table: see note)."""
    e, i = _tables(cfg)
    return e.copy(), i.copy()


def codes_to_input(codes: np.ndarray, scale: float, cfg: Hls4mlSoftmaxConfig) -> np.ndarray:
    """int codes with real scale `scale` -> raw input_t values: input_t(double(c * scale)) (TRN/WRAP by default)."""
    return from_float(np.asarray(codes, dtype=np.float64) * float(scale), cfg.input_t)


def softmax_stable_raw(x_raw: np.ndarray, cfg: Hls4mlSoftmaxConfig) -> np.ndarray:
    """nnet::softmax_stable over the last axis on raw input_t integers; returns raw result_t integers (int64)."""
    x_raw = np.asarray(x_raw, dtype=INT64)
    exp_tab, inv_tab = _tables(cfg)
    fin = cfg.input_t.frac
    x_max = x_raw.max(axis=-1, keepdims=True)
    d = cast(x_max - x_raw, fin, cfg.inp_norm_t)  # data_T - data_T is exact (one more bit), then inp_norm_t
    e = cast(exp_tab[top_bits(d, cfg.inp_norm_t, _log2(cfg.exp_table_size))], cfg.exp_table_t.frac, cfg.accum_t)
    total = cast(e.sum(axis=-1), cfg.accum_t.frac, _widened(cfg.accum_t))  # exact sum
    s = cast(_sum_overflow(total, cfg.accum_t), cfg.accum_t.frac, cfg.inv_inp_t)
    r = inv_tab[top_bits(s, cfg.inv_inp_t, _log2(cfg.inv_table_size))]
    prod = e * r[..., None]  # exact: < 2**(18+18)
    return cast(prod, cfg.accum_t.frac + cfg.inv_table_t.frac, cfg.result_t)


def _widened(t: FixedType) -> FixedType:
    return FixedType(min(t.width + 20, 62), min(t.integer + 20, 62 - t.frac), t.signed, "TRN", "WRAP")


def _sum_overflow(total: np.ndarray, t: FixedType) -> np.ndarray:
    """The balanced tree of Op_add<accum_t> on non-negative terms: SAT gives min(total, max); WRAP is modular."""
    if t.o == "SAT":
        return np.minimum(total, t.raw_max)
    mask = INT64((1 << t.width) - 1)
    low = total & mask
    return np.where(t.signed & (low > t.raw_max), low - INT64(1 << t.width), low)


def softmax_stable(
    codes: np.ndarray, scale: float, cfg: Hls4mlSoftmaxConfig | None = None
) -> tuple[np.ndarray, float]:
    """Common baseline interface: int codes + real scale -> (raw result_t integers, result LSB) over the last axis."""
    cfg = default_config() if cfg is None else cfg
    out = softmax_stable_raw(codes_to_input(codes, scale, cfg), cfg)
    return out, cfg.result_t.lsb


# --------------------------------------------------------------------------------------------------------------
# The real C++: a g++ harness around the installed hls4ml nnet_activation.h
# --------------------------------------------------------------------------------------------------------------

_HARNESS = r"""// generated by vitaccel.golden.baselines.hls4ml_softmax: drives hls4ml's own nnet::softmax_stable
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"

typedef {input_t} input_t;
typedef {result_t} result_t;

struct config : nnet::activ_config {{
    static const unsigned n_in = {n};
    static const unsigned n_slice = {n};
    static const unsigned n_outer = 1;
    static const unsigned n_inner = 1;
    static const unsigned parallelization_factor = 1;
    static const unsigned exp_table_size = {exp_table_size};
    static const unsigned inv_table_size = {inv_table_size};
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = 1;
    static const unsigned axis = -1;
    static const nnet::softmax_implementation implementation = nnet::softmax_implementation::stable;
    static constexpr float exp_scale = {exp_scale};
    typedef {exp_table_t} exp_table_t;
    typedef {inv_table_t} inv_table_t;
    typedef {accum_t} accum_t;
    typedef {inv_inp_t} inv_inp_t;
    typedef {inp_norm_t} inp_norm_t;
}};

template <class T> static long long raw_of(const T &v, bool is_signed) {{
    long long r = (long long)v.range(T::width - 1, 0).to_uint64();
    if (is_signed && ((r >> (T::width - 1)) & 1)) r -= (1LL << T::width);
    return r;
}}

int main(int argc, char **argv) {{
    if (argc > 1 && argv[1][0] == 't') {{  // dump the two tables (raw integers)
        static config::exp_table_t et[config::exp_table_size];
        static config::inv_table_t it[config::inv_table_size];
        nnet::init_exp_table<config::inp_norm_t, config>(et, true);
        nnet::init_invert_table<config::inv_inp_t, config>(it);
        for (unsigned i = 0; i < config::exp_table_size; i++) printf("%lld\n", raw_of(et[i], {exp_signed}));
        for (unsigned i = 0; i < config::inv_table_size; i++) printf("%lld\n", raw_of(it[i], {inv_signed}));
        return 0;
    }}
    long rows;
    if (scanf("%ld", &rows) != 1) return 2;
    static input_t data[{n}];
    static result_t res[{n}];
    for (long r = 0; r < rows; r++) {{
        for (unsigned i = 0; i < {n}; i++) {{
            long long v;
            if (scanf("%lld", &v) != 1) return 3;
            data[i].range(input_t::width - 1, 0) = (unsigned long long)v;
        }}
        nnet::softmax_stable<input_t, result_t, config>(data, res);
        for (unsigned i = 0; i < {n}; i++) printf("%lld%c", raw_of(res[i], {res_signed}), i + 1 == {n} ? '\n' : ' ');
    }}
    return 0;
}}
"""


def hls4ml_templates_dir() -> Path | None:
    """templates/vivado of the installed hls4ml package (found without importing it), or None."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "templates" / "vivado"
        if (d / "nnet_utils" / "nnet_activation.h").is_file() and (d / "ap_types" / "ap_fixed.h").is_file():
            return d
    return None


def _build_root() -> Path:
    env = os.environ.get("VITACCEL_BUILD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "build"


def harness_source(cfg: Hls4mlSoftmaxConfig, n: int) -> str:
    """The C++ source of the harness for one (config, row length)."""
    return _HARNESS.format(
        input_t=cfg.input_t.cpp(),
        result_t=cfg.result_t.cpp(),
        exp_table_t=cfg.exp_table_t.cpp(),
        inv_table_t=cfg.inv_table_t.cpp(),
        accum_t=cfg.accum_t.cpp(),
        inv_inp_t=cfg.inv_inp_t.cpp(),
        inp_norm_t=cfg.inp_norm_t.cpp(),
        exp_table_size=cfg.exp_table_size,
        inv_table_size=cfg.inv_table_size,
        exp_scale=repr(float(cfg.exp_scale)),
        n=int(n),
        exp_signed=str(cfg.exp_table_t.signed).lower(),
        inv_signed=str(cfg.inv_table_t.signed).lower(),
        res_signed=str(cfg.result_t.signed).lower(),
    )


def build_harness(cfg: Hls4mlSoftmaxConfig, n: int, build_dir: Path | None = None) -> Path:
    """Compile (once, cached by a hash of source + header) the harness for (cfg, n); returns the executable.

    Raises RuntimeError when hls4ml's templates or g++ are missing, or the compile fails (message has stderr).
    """
    tdir = hls4ml_templates_dir()
    if tdir is None:
        raise RuntimeError("hls4ml is not installed (templates/vivado/nnet_utils/nnet_activation.h not found)")
    src = harness_source(cfg, n)
    header = (tdir / "nnet_utils" / "nnet_activation.h").read_bytes()
    key = hashlib.sha256(src.encode() + header).hexdigest()[:16]
    out_dir = (build_dir or _build_root()) / "baselines" / "hls4ml_softmax" / key
    exe = out_dir / "harness"
    if exe.is_file():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "harness.cpp").write_text(src)
    tmp = out_dir / f"harness.tmp{os.getpid()}"
    cmd = [
        os.environ.get("CXX", "g++"),
        "-std=c++14",
        "-O1",
        "-w",
        f"-I{tdir}",
        f"-I{tdir / 'ap_types'}",
        str(out_dir / "harness.cpp"),
        "-o",
        str(tmp),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as exc:
        raise RuntimeError(f"C++ compiler not found: {cmd[0]}") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"compiling the hls4ml softmax harness failed:\n{proc.stderr[-4000:]}")
    tmp.replace(exe)  # atomic: parallel test workers may build the same harness
    return exe


def run_harness(exe: Path, x_raw: np.ndarray) -> np.ndarray:
    """Run the real hls4ml softmax_stable on raw input_t rows (shape (rows, n)); returns raw result_t (int64)."""
    x_raw = np.atleast_2d(np.asarray(x_raw, dtype=INT64))
    rows, n = x_raw.shape
    text = f"{rows}\n" + "\n".join(" ".join(map(str, r)) for r in x_raw.tolist()) + "\n"
    proc = subprocess.run([str(exe)], input=text, capture_output=True, text=True, timeout=600, check=True)
    out = np.array(proc.stdout.split(), dtype=INT64)
    return out.reshape(rows, n)


def run_harness_tables(exe: Path, cfg: Hls4mlSoftmaxConfig) -> tuple[np.ndarray, np.ndarray]:
    """The exp and inverse tables exactly as hls4ml's init_exp_table / init_invert_table fill them."""
    proc = subprocess.run([str(exe), "t"], capture_output=True, text=True, timeout=120, check=True)
    vals = np.array(proc.stdout.split(), dtype=INT64)
    return vals[: cfg.exp_table_size], vals[cfg.exp_table_size :]


def inverse_step(cfg: Hls4mlSoftmaxConfig) -> float:
    """Spacing of the row sums the reciprocal table distinguishes (0.25 at the default types)."""
    return cfg.inv_inp_t.lsb * 2 ** (cfg.inv_inp_t.width - _log2(cfg.inv_table_size))


__all__ = [
    "HLS4ML_DEFAULT_T",
    "HLS4ML_TABLE_SIZE",
    "HLS4ML_TABLE_T",
    "Hls4mlSoftmaxConfig",
    "build_harness",
    "codes_to_input",
    "default_config",
    "harness_source",
    "hls4ml_templates_dir",
    "inverse_step",
    "run_harness",
    "run_harness_tables",
    "softmax_stable",
    "softmax_stable_raw",
    "tables",
]
