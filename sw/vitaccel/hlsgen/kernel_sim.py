"""C-simulation of the whole HLS kernel (vitaccel_top) through ctypes: program + memory image in, output bytes
and the status registers out. This is the `csim` device/backend of the runtime and of `vitaccel verify`.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitaccel.boards import AcceleratorConfig, derive_accelerator_config
from vitaccel.hlsgen.headers import DEPTHS_HEADER, depths_header, generated_headers
from vitaccel.hlsgen.toolchain import build_shared_library, hls_source_dir
from vitaccel.isa.regmap import status_fields

_U64 = ctypes.c_uint64
_P = ctypes.c_void_p
REG_NAMES = ("ID", "ISA_VERSION", "CONFIG_HASH", "STATUS", "ERROR_PC", "CYCLES", "STALL_CYCLES")


@dataclass(frozen=True)
class KernelResult:
    """Output bytes and register values after one run (STATUS decoded into error code and flags)."""

    output: bytes
    regs: dict[str, int]

    @property
    def error_code(self) -> int:
        return status_fields(self.regs["STATUS"])[0]

    @property
    def error(self) -> bool:
        return status_fields(self.regs["STATUS"])[1]

    @property
    def done(self) -> bool:
        return status_fields(self.regs["STATUS"])[2]

    @property
    def error_pc(self) -> int:
        return self.regs["ERROR_PC"]


class KernelSim:
    """The compiled kernel of one AcceleratorConfig."""

    def __init__(self, lib_path: Path, cfg: AcceleratorConfig) -> None:
        self.path = lib_path
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.va_run.argtypes = [_P, _U64, _U64, _P, _U64, _P, _U64, _P, _U64, _P]
        self.lib.va_run.restype = ctypes.c_int
        self.lib.va_kernel_info.argtypes = [_P]
        info = np.zeros(6, dtype=np.uint64)
        self.lib.va_kernel_info(info.ctypes.data)
        self.rows, self.cols, self.axi_bits, self.config_hash = (int(v) for v in info[:4])

    def run(self, program: bytes, image: bytes, input_bytes: bytes = b"", output_bytes: int = 0,
            instr_count: int | None = None) -> KernelResult:
        """Execute `program` (encoded instructions) against `image`; instr_count defaults to len(program)/32."""
        count = len(program) // 32 if instr_count is None else int(instr_count)
        prog = np.frombuffer(program, dtype=np.uint8) if program else np.zeros(1, np.uint8)
        img = np.frombuffer(image, dtype=np.uint8) if image else np.zeros(1, np.uint8)
        inp = np.frombuffer(input_bytes, dtype=np.uint8) if input_bytes else np.zeros(1, np.uint8)
        out = np.zeros(max(int(output_bytes), 1), dtype=np.uint8)
        regs = np.zeros(len(REG_NAMES), dtype=np.uint64)
        self.lib.va_run(prog.ctypes.data, len(program), count, img.ctypes.data, len(image), inp.ctypes.data,
                        len(input_bytes), out.ctypes.data, int(output_bytes), regs.ctypes.data)
        return KernelResult(out[: int(output_bytes)].tobytes(), {n: int(v) for n, v in zip(REG_NAMES, regs)})


def kernel_sources() -> tuple[list[Path], list[Path]]:
    hls = hls_source_dir()
    return [hls / "src" / "vitaccel_top.cpp", hls / "csim" / "va_kernel_capi.cpp"], [hls / "include"]


@functools.cache
def _kernel_for(cfg: AcceleratorConfig) -> KernelSim:
    sources, includes = kernel_sources()
    gen = generated_headers(cfg)
    # depths only matter to co-simulation; the C model needs the header to exist
    gen[DEPTHS_HEADER] = depths_header(cfg.axi_data_bits, 1 << 20, 1 << 26, 1 << 20, 1 << 20)
    lib = build_shared_library("va_kernel", sources, includes, gen)
    return KernelSim(lib, cfg)


def kernel_library(board: str | AcceleratorConfig = "zcu102") -> KernelSim:
    """The compiled kernel for a board name or AcceleratorConfig (built once, cached in build/csim)."""
    cfg = board if isinstance(board, AcceleratorConfig) else derive_accelerator_config(board)
    return _kernel_for(cfg)
