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


@dataclass(frozen=True)
class Field:
    """A bit field of a control register: bits [lo + width - 1 : lo] of register `register`."""

    register: str
    name: str
    lo: int
    width: int
    doc: str

    @property
    def mask(self) -> int:
        """The field's bits in place (a one-bit field: its flag value)."""
        return ((1 << self.width) - 1) << self.lo

    def get(self, word: int) -> int:
        """The field's value in a register word."""
        return (int(word) >> self.lo) & ((1 << self.width) - 1)

    def put(self, value: int) -> int:
        """`value` placed in the field (ValueError if it does not fit)."""
        value = int(value)
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"{self.register}.{self.name} is {self.width} bits wide, got {value}")
        return value << self.lo


# Every register field: the single source of the layout (emitted as REGF_<REG>_<FIELD>_LO / _W into va_isa.h,
# vitaccel_isa_pkg and the tcl dict; the driver, kernel_sim and the testbenches decode through these).
REGISTER_FIELDS: tuple[Field, ...] = (
    Field("AP_CTRL", "START", 0, 1, "ap_start (write 1 to start)"),
    Field("AP_CTRL", "DONE", 1, 1, "ap_done (clear on read)"),
    Field("AP_CTRL", "IDLE", 2, 1, "ap_idle"),
    Field("AP_CTRL", "READY", 3, 1, "ap_ready"),
    Field("AP_CTRL", "AUTO_RESTART", 7, 1, "auto_restart"),
    Field("GIE", "ENABLE", 0, 1, "global interrupt enable"),
    Field("IER", "AP_DONE", 0, 1, "interrupt enable: ap_done"),
    Field("IER", "AP_READY", 1, 1, "interrupt enable: ap_ready"),
    Field("ISR", "AP_DONE", 0, 1, "interrupt status: ap_done (toggle on write)"),
    Field("ISR", "AP_READY", 1, 1, "interrupt status: ap_ready (toggle on write)"),
    Field("ISA_VERSION", "MINOR", 0, 16, "ISA_MINOR"),
    Field("ISA_VERSION", "MAJOR", 16, 16, "ISA_MAJOR"),
    Field("STATUS", "CODE", 0, 8, "ErrorCode of the first error in program order (0: none)"),
    Field("STATUS", "ERROR", 8, 1, "an error stopped the program"),
    Field("STATUS", "DONE", 9, 1, "done since the last ap_start"),
)
FIELDS: dict[str, Field] = {f"{f.register}_{f.name}": f for f in REGISTER_FIELDS}

AP_CTRL_START = FIELDS["AP_CTRL_START"].mask
AP_CTRL_DONE = FIELDS["AP_CTRL_DONE"].mask
AP_CTRL_IDLE = FIELDS["AP_CTRL_IDLE"].mask
AP_CTRL_READY = FIELDS["AP_CTRL_READY"].mask
AP_CTRL_AUTO_RESTART = FIELDS["AP_CTRL_AUTO_RESTART"].mask
ISR_AP_DONE = FIELDS["ISR_AP_DONE"].mask
ISR_AP_READY = FIELDS["ISR_AP_READY"].mask
ISR_ALL = ISR_AP_DONE | ISR_AP_READY
IER_AP_DONE = FIELDS["IER_AP_DONE"].mask
IER_ALL = IER_AP_DONE | FIELDS["IER_AP_READY"].mask


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
    AXI_ERROR = 10  # AXI SLVERR/DECERR response on a DDR access; ERROR_PC = the LOAD/STORE/IM2COL (or fetched)
    #                 instruction, 0xFFFFFFFF for the image header. Hardware only: the ISA simulator has no bus.

    @property
    def doc(self) -> str:
        """One-line meaning (docs/isa.md error table, driver messages)."""
        return ERROR_DOCS[self]


ERROR_DOCS: dict[ErrorCode, str] = {
    ErrorCode.NONE: "no error",
    ErrorCode.ILLEGAL_OPCODE: "opcode not in the ISA",
    ErrorCode.BAD_VERSION: "instruction version field != ISA_MAJOR",
    ErrorCode.BAD_FIELD: "reserved bit set, enum value undefined, zero/oversized dimension, misaligned address",
    ErrorCode.ADDR_RANGE: "a base address lies outside its memory (on-chip buffer, or DDR region from the header)",
    ErrorCode.BUF_OVERFLOW: "an operand starts inside its memory but extends past its end; queue longer than m",
    ErrorCode.WBUF_STATE: "LOAD into a weight half that was not released, or a read of a half with no load",
    ErrorCode.BAD_IMAGE: "memory-image header: magic, ISA version or config hash mismatch",
    ErrorCode.NO_END: "instruction count reached without END",
    ErrorCode.UNSUPPORTED: "valid encoding this build cannot run (beyond a unit's capacity)",
    ErrorCode.AXI_ERROR: "AXI SLVERR/DECERR response on a DDR access (bus error: unmapped or protected memory); "
                         "ERROR_PC = the LOAD/STORE/IM2COL or the instruction whose fetch failed (0xFFFFFFFF: the "
                         "image header read); RTL build only (the ISA simulator has no bus, Vitis HLS m_axi does "
                         "not expose responses)",
}


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
    return FIELDS["STATUS_CODE"].put(code) | FIELDS["STATUS_ERROR"].put(1 if code else 0) \
        | FIELDS["STATUS_DONE"].put(1 if done else 0)


def status_fields(value: int) -> tuple[int, bool, bool]:
    """STATUS -> (raw code, error flag, done); the code is not checked against ErrorCode."""
    return (FIELDS["STATUS_CODE"].get(value), bool(FIELDS["STATUS_ERROR"].get(value)),
            bool(FIELDS["STATUS_DONE"].get(value)))


def decode_status(value: int) -> tuple[ErrorCode, bool, bool]:
    """STATUS -> (code, error flag, done); ValueError for a code that is not an ErrorCode."""
    code, err, done = status_fields(value)
    return ErrorCode(code), err, done


def error_name(code: int) -> str:
    """ErrorCode name of a raw STATUS code, or "unknown"."""
    return ErrorCode(code).name if code in ErrorCode._value2member_map_ else "unknown"


def isa_version_word(major: int, minor: int) -> int:
    """ISA_VERSION register value."""
    return FIELDS["ISA_VERSION_MAJOR"].put(major) | FIELDS["ISA_VERSION_MINOR"].put(minor)


def decode_isa_version(value: int) -> tuple[int, int]:
    """ISA_VERSION -> (major, minor)."""
    return FIELDS["ISA_VERSION_MAJOR"].get(value), FIELDS["ISA_VERSION_MINOR"].get(value)


__all__ = [
    "ADDR_SPACE_BYTES",
    "AP_CTRL_AUTO_RESTART",
    "AP_CTRL_DONE",
    "AP_CTRL_IDLE",
    "AP_CTRL_READY",
    "AP_CTRL_START",
    "ARGS",
    "ERROR_DOCS",
    "FIELDS",
    "IER_ALL",
    "IER_AP_DONE",
    "ISR_ALL",
    "ISR_AP_DONE",
    "ISR_AP_READY",
    "REGISTERS",
    "REGISTER_FIELDS",
    "ErrorCode",
    "Field",
    "Register",
    "decode_isa_version",
    "decode_status",
    "error_name",
    "isa_version_word",
    "register_map",
    "status_fields",
    "status_word",
]
