"""Control register map (Vitis HLS s_axilite layout, used by BOTH the HLS and the RTL builds) and error codes.

Offsets follow the rule Vitis HLS applies to a top function whose arguments are, in this order, the five 64-bit
inputs and then the read-only outputs below (64-bit input: data lo, data hi, reserved; 32-bit output: data, control
word with bit 0 = ap_vld; 64-bit output: data lo, data hi, control). The HLS generator declares the arguments in
this order and types; the RTL implements the same offsets by hand; `vitaccel.isa.emit` writes them into
va_isa.h / vitaccel_isa_pkg.sv so nobody retypes them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

AP_CTRL_START = 1 << 0
AP_CTRL_DONE = 1 << 1
AP_CTRL_IDLE = 1 << 2
AP_CTRL_READY = 1 << 3
AP_CTRL_AUTO_RESTART = 1 << 7


class ErrorCode(enum.IntEnum):
    """STATUS[7:0]. The accelerator stops at the first error (never hangs), sets ERROR_PC to the failing
    instruction index and raises ap_done; the ISA simulator raises ProgramError with the same code and index."""

    NONE = 0
    ILLEGAL_OPCODE = 1  # opcode not in the ISA
    BAD_VERSION = 2  # instruction version field != ISA_MAJOR
    BAD_FIELD = 3  # reserved bit set, enum value undefined, zero/oversized dimension, misaligned address
    ADDR_RANGE = 4  # a base address lies outside its memory (on-chip buffer, or DDR region from the header)
    BUF_OVERFLOW = 5  # an operand starts inside its memory but extends past its end; queue longer than m
    WBUF_STATE = 6  # LOAD into a weight half that was not released, or a read of a half with no load
    BAD_IMAGE = 7  # memory-image header: magic, ISA version or config hash mismatch
    NO_END = 8  # instruction count reached without END
    UNSUPPORTED = 9  # valid encoding this build cannot run (e.g. more experts than max_experts)


@dataclass(frozen=True)
class Register:
    """One s_axilite register word: byte offset, name, access (rw / ro / wo / cor), description."""

    offset: int
    name: str
    access: str
    doc: str


# (name, bits, direction, doc) in argument order after the four control words
ARGS: tuple[tuple[str, int, str, str], ...] = (
    ("PROGRAM_ADDR", 64, "in", "byte address of instruction 0 in DDR (32-byte aligned)"),
    ("INSTR_COUNT", 64, "in", "number of instructions; execution stops with NO_END if no END is met"),
    ("IMAGE_ADDR", 64, "in", "byte address of the memory image (header at offset 0, 64-byte aligned)"),
    ("INPUT_ADDR", 64, "in", "byte address of the uint8 input image (C, H, W)"),
    ("OUTPUT_ADDR", 64, "in", "byte address of the int32 output buffer"),
    ("ID", 32, "out", "constant ACCEL_ID (0x56544131, 'VTA1')"),
    ("ISA_VERSION", 32, "out", "ISA_MAJOR << 16 | ISA_MINOR"),
    ("CONFIG_HASH", 32, "out", "AcceleratorConfig.config_hash() of this build"),
    ("STATUS", 32, "out", "[7:0] ErrorCode, [8] error, [9] done since start"),
    ("ERROR_PC", 32, "out", "index of the instruction that failed (valid when STATUS[8])"),
    ("CYCLES", 64, "out", "clock cycles from ap_start to ap_done"),
    ("STALL_CYCLES", 64, "out", "cycles the compute engine waited for a weight-buffer load or a queue"),
)


def register_map() -> list[Register]:
    """Every 32-bit register word in offset order."""
    regs = [
        Register(0x00, "AP_CTRL", "rw", "bit0 ap_start, bit1 ap_done (COR), bit2 ap_idle, bit3 ap_ready, "
                 "bit7 auto_restart"),
        Register(0x04, "GIE", "rw", "global interrupt enable (bit 0)"),
        Register(0x08, "IER", "rw", "interrupt enable: bit0 ap_done, bit1 ap_ready"),
        Register(0x0C, "ISR", "rw", "interrupt status (toggle on write): bit0 ap_done, bit1 ap_ready"),
    ]
    off = 0x10
    for name, bits, direction, doc in ARGS:
        if direction == "in":
            regs.append(Register(off, f"{name}_LO", "rw", f"{doc} [31:0]"))
            regs.append(Register(off + 4, f"{name}_HI", "rw", f"{doc} [63:32]"))
            off += 12  # third word reserved
        elif bits == 32:
            regs.append(Register(off, name, "ro", doc))
            regs.append(Register(off + 4, f"{name}_CTRL", "cor", "bit0 ap_vld"))
            off += 8
        else:
            regs.append(Register(off, f"{name}_LO", "ro", f"{doc} [31:0]"))
            regs.append(Register(off + 4, f"{name}_HI", "ro", f"{doc} [63:32]"))
            regs.append(Register(off + 8, f"{name}_CTRL", "cor", "bit0 ap_vld"))
            off += 12
    return regs


REGISTERS: dict[str, int] = {r.name: r.offset for r in register_map()}
ADDR_SPACE_BYTES = 0x100  # s_axilite address range of the control interface


def status_word(code: ErrorCode | int, done: bool = True) -> int:
    """Value of STATUS for an error code."""
    code = int(code)
    return (code & 0xFF) | ((1 << 8) if code else 0) | ((1 << 9) if done else 0)


def decode_status(value: int) -> tuple[ErrorCode, bool, bool]:
    """STATUS -> (code, error flag, done)."""
    return ErrorCode(value & 0xFF), bool(value >> 8 & 1), bool(value >> 9 & 1)


__all__ = [
    "ADDR_SPACE_BYTES",
    "AP_CTRL_AUTO_RESTART",
    "AP_CTRL_DONE",
    "AP_CTRL_IDLE",
    "AP_CTRL_READY",
    "AP_CTRL_START",
    "ARGS",
    "REGISTERS",
    "ErrorCode",
    "Register",
    "decode_status",
    "register_map",
    "status_word",
]
