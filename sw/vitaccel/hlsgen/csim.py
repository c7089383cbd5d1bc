"""C-simulation of the HLS functions: build (cached) and call them from Python through ctypes.

`ops_library(board)` compiles hls/csim/va_ops_capi.cpp with the board's generated headers into
build/csim/va_ops-<hash>/libva_ops.so once, and returns a `CsimOps` object whose methods take and return
numpy integer arrays with the same conventions as vitaccel.golden (int64 results).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np

from vitaccel.boards import AcceleratorConfig, derive_accelerator_config
from vitaccel.errors import InputError
from vitaccel.hlsgen.headers import generated_headers
from vitaccel.hlsgen.toolchain import ToolError, build_shared_library, hls_source_dir
from vitaccel.isa.spec import Epilogue

_P = ctypes.c_void_p
_I = ctypes.c_int

# The per-element epilogue modes of va_epilogue.h (EpiMode) are the ISA's Epilogue values (vitaccel.isa.spec,
# the same enum the ISA simulator uses; tests/test_hls_csim_ops.py checks the C enum against it). Aliases under
# the C names for callers of the csim wrappers.
EPI_ACC32, EPI_S8, EPI_S8_GELU, EPI_RES16 = Epilogue.ACC32, Epilogue.REQ8, Epilogue.GELU8, Epilogue.RESADD
ELEMENT_MODES = (Epilogue.ACC32, Epilogue.REQ8, Epilogue.GELU8, Epilogue.RESADD)  # what va_epilogue computes


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def _c(a, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a).astype(dtype, copy=False))


class CsimOps:
    """The HLS functions of one accelerator config, compiled for C-simulation."""

    def __init__(self, lib_path: Path, cfg: AcceleratorConfig) -> None:
        self.path = lib_path
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(lib_path))
        sigs = {
            "va_info": [_P],
            "va_gemm": [_P, _I, _P, _I, _I, _I, _P],
            "va_epilogue": [_I, _P, _P, _P, _P, _P, _I, _I, _P, _P, _P, _P],
            "va_scores_to_z": [_P, _I, _I, _P, _P, _P],
            "va_softmax": [_P, _I, _I, _I, _P],
            "va_softmax_stats": [_P, _I, _I, _P, _P],
            "va_layernorm": [_P, _I, _I, ctypes.c_int64, _P, _P, _I, _P],
            "va_moe_route": [_P, _P, _I, _I, _I, _P, _P, _P, _P],
            "va_combine": [_P, _P, _P, _P, _I, _I, _P],
        }
        for name, args in sigs.items():
            fn = getattr(self.lib, name)
            fn.argtypes = args
            fn.restype = _I
        info = np.zeros(4, dtype=np.int32)
        self.lib.va_info(_ptr(info))
        self.rows, self.cols, self.kmax, self.lmax = (int(v) for v in info)

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            raise InputError(f"csim {what}: sizes exceed the C-simulation wrapper's buffers (error {rc})")

    def gemm(self, x: np.ndarray, w: np.ndarray, *, x_signed: bool = True) -> np.ndarray:
        """acc = x @ w^T on the R x C array (x (M, K) int8/uint8 codes, w (N, K) int8) -> int64 (M, N)."""
        x = np.asarray(x)
        m, k = x.shape
        n = np.asarray(w).shape[0]
        xb = _c(np.asarray(x, dtype=np.int64) & 0xFF, np.uint8)
        wb = _c(w, np.int8)
        out = np.zeros((m, n), dtype=np.int32)
        self._check(self.lib.va_gemm(_ptr(xb), int(not x_signed), _ptr(wb), m, n, k, _ptr(out)), "gemm")
        return out.astype(np.int64)

    def epilogue(self, mode: Epilogue | int, acc: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                 gelu_table: np.ndarray | None = None, r: np.ndarray | None = None) -> np.ndarray:
        """One element-wise epilogue mode (ELEMENT_MODES: ACC32, REQ8, GELU8, RESADD) over acc (M, N) with
        per-channel bias/mult/shift; returns int64 (M, N)."""
        if mode not in ELEMENT_MODES:
            raise InputError(f"csim epilogue mode {mode!r}: expected one of "
                             f"{', '.join(m.name for m in ELEMENT_MODES)} (vitaccel.isa.Epilogue)")
        mode = Epilogue(mode)
        acc = _c(acc, np.int32)
        m, n = acc.shape
        bias = _c(np.broadcast_to(bias, (n,)), np.int32)
        mult = _c(np.broadcast_to(mult, (n,)), np.uint16)
        shift = _c(np.broadcast_to(shift, (n,)), np.uint8)
        table = None if gelu_table is None else _c(gelu_table, np.int8)
        rin = None if r is None else _c(r, np.int16)
        out8 = np.zeros((m, n), dtype=np.int8)
        res = np.zeros((m, n), dtype=np.int16)
        out32 = np.zeros((m, n), dtype=np.int32)
        self._check(self.lib.va_epilogue(int(mode), _ptr(acc), _ptr(bias), _ptr(mult), _ptr(shift), _ptr(table), m, n,
                                         _ptr(rin), _ptr(out8), _ptr(res), _ptr(out32)), "epilogue")
        if mode == Epilogue.ACC32:
            return out32.astype(np.int64)
        if mode == Epilogue.RESADD:
            return res.astype(np.int64)
        return out8.astype(np.int64)

    def scores_to_z(self, acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """z = sat_int24(round_shift(acc * mult, shift)) with mult/shift per column; int64 (rows, n)."""
        acc = _c(np.atleast_2d(acc), np.int32)
        rows, n = acc.shape
        mult = _c(np.broadcast_to(mult, (n,)), np.uint16)
        shift = _c(np.broadcast_to(shift, (n,)), np.uint8)
        z = np.zeros((rows, n), dtype=np.int32)
        self._check(self.lib.va_scores_to_z(_ptr(acc), rows, n, _ptr(mult), _ptr(shift), _ptr(z)), "scores_to_z")
        return z.astype(np.int64)

    def softmax_z(self, z: np.ndarray, out_bits: int = 8) -> np.ndarray:
        """Softmax over the last axis of z (int24 codes) -> uint8/uint16 codes as int64."""
        z = np.asarray(z)
        shape = z.shape
        z2 = _c(z.reshape(-1, shape[-1]), np.int32)
        p = np.zeros(z2.shape, dtype=np.uint16)
        self._check(self.lib.va_softmax(_ptr(z2), z2.shape[0], z2.shape[1], out_bits, _ptr(p)), "softmax")
        return p.astype(np.int64).reshape(shape)

    def softmax_stats(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pass 1 only: (running max m, running sum S) per row, int64."""
        z2 = _c(np.atleast_2d(z), np.int32)
        m = np.zeros(z2.shape[0], dtype=np.int32)
        s = np.zeros(z2.shape[0], dtype=np.int64)
        self._check(self.lib.va_softmax_stats(_ptr(z2), z2.shape[0], z2.shape[1], _ptr(m), _ptr(s)), "softmax")
        return m.astype(np.int64), s

    def layernorm(self, x: np.ndarray, gamma_mult: np.ndarray, beta: np.ndarray, out_shift: int,
                  eps: int) -> np.ndarray:
        """Integer LayerNorm of int16 codes (rows, C) -> int8 codes as int64."""
        x = _c(np.atleast_2d(x), np.int16)
        rows, c = x.shape
        g = _c(np.broadcast_to(gamma_mult, (c,)), np.int16)
        b = _c(np.broadcast_to(beta, (c,)), np.int32)
        out = np.zeros((rows, c), dtype=np.int8)
        self._check(self.lib.va_layernorm(_ptr(x), rows, c, int(eps), _ptr(g), _ptr(b), int(out_shift),
                                          _ptr(out)), "layernorm")
        return out.astype(np.int64)

    def moe_route(self, z: np.ndarray, gate_w: np.ndarray, k: int) -> tuple[np.ndarray, list[np.ndarray],
                                                                          list[np.ndarray]]:
        """(top-k experts (T, k), per-expert token queues, per-expert queued gate weights)."""
        z = _c(z, np.int32)
        t, e = z.shape
        g = _c(gate_w, np.uint16)
        sel = np.zeros((t, k), dtype=np.int32)
        qlen = np.zeros(e, dtype=np.int32)
        qtok = np.zeros((e, max(t, 1)), dtype=np.int32)
        qgw = np.zeros((e, max(t, 1)), dtype=np.int32)
        self._check(self.lib.va_moe_route(_ptr(z), _ptr(g), t, e, k, _ptr(sel), _ptr(qlen), _ptr(qtok), _ptr(qgw)),
                    "moe_route")
        toks = [qtok[i, : qlen[i]].astype(np.int64) for i in range(e)]
        gws = [qgw[i, : qlen[i]].astype(np.int64) for i in range(e)]
        return sel.astype(np.int64), toks, gws

    def combine(self, r: np.ndarray, acc: np.ndarray, gate_w: np.ndarray, mult: np.ndarray,
                shift: np.ndarray) -> np.ndarray:
        """r + round_shift(acc * mult * g, shift), saturated to int16 (Q, N); int64."""
        acc = _c(acc, np.int32)
        q, n = acc.shape
        rr = _c(r, np.int16).copy()
        g = _c(gate_w, np.uint16)
        mult = _c(np.broadcast_to(mult, (n,)), np.uint16)
        shift = _c(np.broadcast_to(shift, (n,)), np.uint8)
        self._check(self.lib.va_combine(_ptr(acc), _ptr(g), _ptr(mult), _ptr(shift), q, n, _ptr(rr)), "combine")
        return rr.astype(np.int64)


def ops_sources() -> tuple[list[Path], list[Path]]:
    """(sources, include dirs) of the function-level C-simulation library."""
    hls = hls_source_dir()
    return [hls / "csim" / "va_ops_capi.cpp"], [hls / "include"]


@functools.cache
def _ops_for(cfg: AcceleratorConfig) -> CsimOps:
    sources, includes = ops_sources()
    lib = build_shared_library("va_ops", sources, includes, generated_headers(cfg))
    return CsimOps(lib, cfg)


def ops_library(board: str | AcceleratorConfig = "zcu102") -> CsimOps:
    """The compiled HLS functions for a board name or AcceleratorConfig (built once, cached in build/csim)."""
    cfg = board if isinstance(board, AcceleratorConfig) else derive_accelerator_config(board)
    return _ops_for(cfg)


__all__ = ["ELEMENT_MODES", "EPI_ACC32", "EPI_RES16", "EPI_S8", "EPI_S8_GELU", "CsimOps", "ToolError", "ops_library", "ops_sources"]
