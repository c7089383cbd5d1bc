"""The `csim` backend of `vitaccel verify` (and the runtime's csim device): the HLS kernel compiled with g++ and
called through ctypes (vitaccel.hlsgen.kernel_sim). Interface: vitaccel.verify.Backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from vitaccel.errors import ProgramError
from vitaccel.isa import ErrorCode
from vitaccel.isa.image import parse_header


class CsimError(ProgramError):
    """The kernel stopped with an error: `code` (STATUS[7:0]) at instruction `index` (ERROR_PC; -1 = image)."""

    def __init__(self, code: int, index: int):
        self.code = ErrorCode(code)
        self.index = int(index)
        where = "memory image" if self.index < 0 else f"instruction {self.index}"
        super().__init__(f"{where}: {self.code.name} (HLS C-simulation)")


class CsimBackend:
    """run(program, image, inputs) -> (OUTPUT region bytes as uint8, None): C-simulation reports no cycles (the
    CYCLES register needs the synthesized design; see hls/README.md)."""

    name = "csim"

    def __init__(self, cfg: Any):
        from vitaccel.hlsgen.kernel_sim import kernel_library

        self.cfg = cfg
        self.kernel = kernel_library(cfg)
        self.last: Any = None

    def run(self, program: bytes, image: bytes, inputs: np.ndarray) -> tuple[np.ndarray, int | None]:
        image = bytes(image)
        try:
            out_bytes = parse_header(image, check_crc=False).output_bytes
        except ProgramError:
            out_bytes = 0  # the kernel reports BAD_IMAGE itself
        inp = np.ascontiguousarray(inputs, dtype=np.uint8).tobytes()
        res = self.kernel.run(bytes(program), image, inp, out_bytes)
        self.last = res
        if res.error:
            pc = res.error_pc
            raise CsimError(res.error_code, -1 if pc == 0xFFFFFFFF else pc)
        return np.frombuffer(res.output, dtype=np.uint8).copy(), None


__all__ = ["CsimBackend", "CsimError"]
