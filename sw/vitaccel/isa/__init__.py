"""vitaccel ISA, memory image and register map (contract 2). One module everyone imports; docs/isa.md.

    from vitaccel import isa
    isa.make("GEMM", epi=isa.Epilogue.REQ8, ...); isa.encode_program([...]); isa.disassemble(...)
    isa.to_c_header(cfg); isa.to_sv_package(cfg)
"""

from __future__ import annotations

from vitaccel.isa import uarch
from vitaccel.isa.emit import to_c_header, to_sv_package, to_tcl
from vitaccel.isa.image import (
    HEADER_BYTES,
    IMAGE_MAGIC,
    ImageBuilder,
    ImageHeader,
    parse_header,
    verify_payload,
)
from vitaccel.isa.regmap import REGISTERS, ErrorCode, Register, decode_status, register_map, status_word
from vitaccel.isa.spec import *  # noqa: F403
from vitaccel.isa.spec import __all__ as _spec_all

__all__ = [
    *_spec_all,
    "HEADER_BYTES",
    "IMAGE_MAGIC",
    "REGISTERS",
    "ErrorCode",
    "ImageBuilder",
    "ImageHeader",
    "Register",
    "decode_status",
    "parse_header",
    "register_map",
    "status_word",
    "to_c_header",
    "to_sv_package",
    "to_tcl",
    "uarch",
    "verify_payload",
]
