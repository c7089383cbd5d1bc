"""vitaccel ISA (contract 2): instruction encoding, operand layouts and parameter-record formats.

ONE description that the compiler, the ISA simulator, the HLS and RTL generators and the runtime import
(docs/isa.md is the prose statement). Nothing here is retyped in C++, SystemVerilog or tcl: `vitaccel.isa.emit`
turns these tables into a C header, an SV package and a tcl dict.

Instructions are 256 bits (32 bytes, two 128-bit AXI beats), stored little-endian: bit i of an instruction is
bit (i % 8) of byte (i // 8). Every instruction starts with the common header (opcode, ISA version, condition,
weight-buffer half and release, per-opcode flags); the remaining 224 bits hold opcode-specific fields. Reserved
bits must be zero (the hardware reports BAD_FIELD otherwise).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vitaccel.errors import ProgramError

ISA_MAJOR = 1  # encoded in every instruction (4 bits) and in the memory image header
ISA_MINOR = 0  # compatible additions bump the minor version only
ISA_VERSION = (ISA_MAJOR << 16) | ISA_MINOR  # value of the ISA_VERSION register
INSTR_BITS = 256
INSTR_BYTES = INSTR_BITS // 8
ACCEL_ID = 0x56544131  # "VTA1": value of the ID register

# On-chip memory rules
ACT_ALIGN = 16  # every ACT base address and pitch is a multiple of 16 bytes (one 128-bit word)
WBUF_ALIGN = 16  # every weight-buffer offset (B operand, parameter record) is 16-byte aligned
SEGMENT_ALIGN = 64  # memory-image segments (DMA sources) start on 64-byte boundaries
AXI_BURST_BYTES = 4096  # AXI4: bursts never cross a 4 KiB boundary (256 beats of 16 bytes)


class Opcode(enum.IntEnum):
    """8-bit opcodes. 0x00-0x07 control, 0x08-0x0F DMA, 0x10-0x1F vector units, 0x20 array, 0x30 routing."""

    NOP = 0x00
    END = 0x01
    SYNC = 0x02
    LOAD = 0x08
    STORE = 0x09
    IM2COL = 0x0A
    LAYERNORM = 0x10
    GEMM = 0x20
    ROUTE = 0x30


class Epilogue(enum.IntEnum):
    """GEMM epilogue modes (4 bits). out = acc + bias[n] unless stated.

    ACC32: dst int32 = out.                                   (gate logits, heads)
    REQ8:  dst int8 = sat8(round_shift(out * mult[n], shift[n])).            (Q/K/V, A.V, fc1 without GELU)
    GELU8: dst int8 = table[REQ8 + 128].                                   (fc1 + GELU, expert fc1)
    RESADD: dst int16 = sat16(dst + round_shift(out * mult[n], shift[n])). (proj, fc2, patch embedding)
    SOFTMAX: z = sat24(round_shift(acc * mult, shift)) (per tensor, pimm); P = uint8 softmax of z over the M
             dimension (rows) for every column n, single pass online in increasing row index, written through
             the transpose path (trans = 1): dst[n][m] = P.                (Q.K^T with A = K rows, B = Q^T)
    MOE_COMBINE: row i is token t = queue[e][i] with gate weight g = gw[e][i] (uint16, 2^-16):
             dst[t] int16 = sat16(dst[t] + round_shift(out * cmult[n] * g, cshift[n])), i increasing.
    """

    ACC32 = 0
    REQ8 = 1
    GELU8 = 2
    RESADD = 3
    SOFTMAX = 4
    MOE_COMBINE = 5


class Space(enum.IntEnum):
    """On-chip destination of a LOAD."""

    WBUF = 0  # weight buffer half `wbuf` (double-buffered; see the WBUF protocol in docs/isa.md)
    ACT = 1  # activation buffer (blocking load: ordered after every earlier compute instruction)


class DdrBase(enum.IntEnum):
    """Which 64-bit argument register a DDR offset is relative to."""

    IMAGE = 0  # IMAGE_ADDR: the memory image (header at offset 0)
    INPUT = 1  # INPUT_ADDR: the uint8 input image (C, H, W)
    OUTPUT = 2  # OUTPUT_ADDR: the int32 output


class BSrc(enum.IntEnum):
    """Where GEMM operand B (K x N) lives."""

    WBUF = 0  # packed column tiles in weight-buffer half `wbuf` (see pack_b_tiles)
    ACT = 1  # row-major K x N int8 matrix in the activation buffer (Q^T for Q.K^T, V for A.V)


# bytes per element of the GEMM destination, by epilogue
EPI_OUT_BYTES = {
    Epilogue.ACC32: 4,
    Epilogue.REQ8: 1,
    Epilogue.GELU8: 1,
    Epilogue.RESADD: 2,
    Epilogue.SOFTMAX: 1,
    Epilogue.MOE_COMBINE: 2,
}


@dataclass(frozen=True)
class Field:
    """One instruction field: bits [lo, lo + width). `enum` names a symbolic type for the assembler.
    `when` = (field, value): the field exists only when another field has that value (overlays)."""

    name: str
    lo: int
    width: int
    doc: str
    enum: type[enum.IntEnum] | None = None
    when: tuple[str, int] | None = None

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


COMMON_FIELDS: tuple[Field, ...] = (
    Field("opcode", 0, 8, "operation", Opcode),
    Field("version", 8, 4, "ISA major version (must equal ISA_MAJOR)"),
    Field("cond", 12, 1, "execute only if the queue of `expert` (last ROUTE) is non-empty; else skip"),
    Field("release", 13, 1, "this instruction is the last reader of weight-buffer half `wbuf`"),
    Field("wbuf", 14, 1, "weight-buffer half read (compute) or written (LOAD to WBUF)"),
    Field("pimm", 15, 1, "GEMM: per-tensor requantization from mult/shift immediates instead of a record"),
    Field("expert", 16, 6, "expert queue index for cond / gather / qrows / MOE_COMBINE"),
    Field("a_u8", 22, 1, "GEMM: operand A is uint8 (softmax probabilities) instead of int8"),
)
# bit 23 reserved in every instruction; bits 24..31 are per-opcode flags (reserved unless listed)

_S = [32 * i for i in range(8)]  # 32-bit slot s_i starts at bit 32*i

FORMATS: dict[Opcode, tuple[Field, ...]] = {
    Opcode.NOP: (),
    Opcode.END: (),
    Opcode.SYNC: (),
    Opcode.LOAD: (
        Field("ddr_base", _S[1], 2, "DDR base register", DdrBase),
        Field("space", _S[1] + 2, 2, "on-chip destination", Space),
        Field("ddr_off", _S[2], 32, "byte offset from the DDR base"),
        Field("dst", _S[3], 32, "on-chip byte address (ACT) or offset in the half (WBUF)"),
        Field("row_bytes", _S[4], 32, "bytes per row"),
        Field("rows", _S[5], 16, "rows (1 for a contiguous copy)"),
        Field("dst_pitch", _S[5] + 16, 16, "on-chip bytes between rows"),
        Field("src_stride", _S[6], 32, "DDR bytes between rows"),
    ),
    Opcode.STORE: (
        Field("ddr_base", _S[1], 2, "DDR base register", DdrBase),
        Field("ddr_off", _S[2], 32, "byte offset from the DDR base"),
        Field("src", _S[3], 32, "ACT byte address"),
        Field("row_bytes", _S[4], 32, "bytes per row"),
        Field("rows", _S[5], 16, "rows"),
        Field("src_pitch", _S[5] + 16, 16, "ACT bytes between rows"),
        Field("dst_stride", _S[6], 32, "DDR bytes between rows"),
    ),
    Opcode.IM2COL: (
        Field("ddr_base", _S[1], 2, "DDR base register of the uint8 (C, H, W) image", DdrBase),
        Field("ddr_off", _S[2], 32, "byte offset of the image"),
        Field("dst", _S[3], 32, "ACT address of patch row 0"),
        Field("height", _S[4], 16, "H, pixels"),
        Field("width", _S[4] + 16, 16, "W, pixels"),
        Field("chans", _S[5], 8, "C"),
        Field("patch", _S[5] + 8, 8, "P (patch side)"),
        Field("dst_pitch", _S[5] + 16, 16, "ACT bytes between patch rows"),
    ),
    Opcode.LAYERNORM: (
        Field("src", _S[1], 32, "ACT address of the int16 input rows"),
        Field("dst", _S[2], 32, "ACT address of the int8 output rows"),
        Field("rows", _S[3], 16, "rows (tokens)"),
        Field("cols", _S[3] + 16, 16, "channels C"),
        Field("src_pitch", _S[4], 16, "input bytes between rows"),
        Field("dst_pitch", _S[4] + 16, 16, "output bytes between rows"),
        Field("param", _S[5], 32, "offset of the LN record in half `wbuf`"),
    ),
    Opcode.GEMM: (
        Field("epi", 24, 4, "epilogue", Epilogue),
        Field("bsrc", 28, 1, "operand B source", BSrc),
        Field("gather", 29, 1, "A row i is row queue[expert][i]"),
        Field("trans", 30, 1, "transposed write: element (m, n) goes to dst + n*dst_pitch + m*size"),
        Field("qrows", 31, 1, "M = length of queue[expert] (run time); field m is the allocated maximum"),
        Field("a", _S[1], 32, "ACT address of A (M x K, row-major)"),
        Field("b", _S[2], 32, "B: offset in half `wbuf` (bsrc=WBUF) or ACT address (bsrc=ACT)"),
        Field("dst", _S[3], 32, "ACT address of the output"),
        Field("param", _S[4], 32, "offset of the epilogue record in half `wbuf`", when=("pimm", 0)),
        Field("mult", _S[4], 16, "per-tensor multiplier (uint16)", when=("pimm", 1)),
        Field("shift", _S[4] + 16, 6, "per-tensor shift 0..63", when=("pimm", 1)),
        Field("m", _S[5], 16, "rows of A / output (tokens)"),
        Field("n", _S[5] + 16, 16, "columns of B / output"),
        Field("k", _S[6], 16, "reduction depth"),
        Field("a_pitch", _S[6] + 16, 16, "A bytes between rows"),
        Field("b_pitch", _S[7], 16, "B bytes between rows (bsrc=ACT)"),
        Field("dst_pitch", _S[7] + 16, 16, "output bytes between rows"),
    ),
    Opcode.ROUTE: (
        Field("src", _S[1], 32, "ACT address of the int32 gate logits (T x E)"),
        Field("src_pitch", _S[2], 16, "bytes between logit rows"),
        Field("tokens", _S[3], 16, "T"),
        Field("experts", _S[3] + 16, 8, "E"),
        Field("topk", _S[3] + 24, 8, "k"),
        Field("param", _S[4], 32, "offset of the ROUTE record in half `wbuf`"),
    ),
}

# Which common flag bits an opcode may set (others must be 0).
_ALLOWED_COMMON: dict[Opcode, frozenset[str]] = {
    Opcode.NOP: frozenset(),
    Opcode.END: frozenset(),
    Opcode.SYNC: frozenset(),
    Opcode.LOAD: frozenset({"cond", "wbuf", "expert"}),
    Opcode.STORE: frozenset(),
    Opcode.IM2COL: frozenset(),
    Opcode.LAYERNORM: frozenset({"cond", "release", "wbuf", "expert"}),
    Opcode.GEMM: frozenset({"cond", "release", "wbuf", "pimm", "expert", "a_u8"}),
    Opcode.ROUTE: frozenset({"release", "wbuf"}),
}


_COMMON_NAMES = frozenset(f.name for f in COMMON_FIELDS)


def fields_of(op: Opcode) -> tuple[Field, ...]:
    """Common + opcode-specific fields (overlays included)."""
    return COMMON_FIELDS + FORMATS[Opcode(op)]


def _active(fields: dict[str, int], f: Field) -> bool:
    return f.when is None or fields.get(f.when[0], 0) == f.when[1]


@dataclass
class Instruction:
    """One decoded instruction: opcode + field values (missing fields are 0). `note` is assembler comment text
    (not encoded; the compiler uses it for layer names)."""

    op: Opcode
    fields: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        self.op = Opcode(self.op)

    def __getattr__(self, name: str) -> int:
        if name in ("op", "fields", "note") or name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.fields.get(name, 0)
        except RecursionError:  # pragma: no cover
            raise AttributeError(name) from None

    def get(self, name: str) -> int:
        return int(self.fields.get(name, 0))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instruction):
            return NotImplemented
        return encode(self) == encode(other)


def make(op: Opcode | str, note: str = "", **fields: int) -> Instruction:
    """Build an instruction; unknown field names raise ProgramError."""
    op = Opcode[op] if isinstance(op, str) else Opcode(op)
    names = {f.name for f in fields_of(op)}
    bad = sorted(set(fields) - names)
    if bad:
        raise ProgramError(f"{op.name}: unknown field(s) {bad}; fields are {sorted(names - {'opcode'})}")
    vals = {k: int(v) for k, v in fields.items()}
    vals.setdefault("version", ISA_MAJOR)
    return Instruction(op, vals, note)


def encode(ins: Instruction) -> bytes:
    """Instruction -> 32 bytes. ProgramError if a field value does not fit its width."""
    word = 0
    vals = dict(ins.fields)
    vals["opcode"] = int(ins.op)
    vals.setdefault("version", ISA_MAJOR)
    for f in fields_of(ins.op):
        if not _active(vals, f):
            continue
        v = int(vals.get(f.name, 0))
        if v < 0 or v > f.mask:
            raise ProgramError(f"{ins.op.name}: field {f.name} = {v} does not fit {f.width} bits")
        word |= v << f.lo
    return word.to_bytes(INSTR_BYTES, "little")


def decode(data: bytes, index: int = 0) -> Instruction:
    """32 bytes -> Instruction. Raises ProgramError (ILLEGAL_OPCODE) for an unknown opcode.

    Reserved bits are not checked here (see `check_reserved`)."""
    if len(data) != INSTR_BYTES:
        raise ProgramError(f"instruction {index}: {len(data)} bytes, expected {INSTR_BYTES}")
    word = int.from_bytes(data, "little")
    opv = word & 0xFF
    try:
        op = Opcode(opv)
    except ValueError:
        raise ProgramError(f"instruction {index}: illegal opcode 0x{opv:02x}") from None
    vals: dict[str, int] = {}
    fs = fields_of(op)
    for f in fs:
        if f.when is None:
            vals[f.name] = (word >> f.lo) & f.mask
    for f in fs:
        if f.when is not None and _active(vals, f):
            vals[f.name] = (word >> f.lo) & f.mask
    vals.pop("opcode")
    return Instruction(op, vals)


def used_mask(op: Opcode, vals: dict[str, int]) -> int:
    """Bit mask of the bits an instruction may set (the rest are reserved = 0)."""
    mask = 0
    allowed = _ALLOWED_COMMON[op]
    for f in fields_of(op):
        if f.name in _COMMON_NAMES and f.name not in ("opcode", "version") and f.name not in allowed:
            continue
        if _active(vals, f):
            mask |= f.mask << f.lo
    return mask


def check_reserved(data: bytes) -> str | None:
    """None if every reserved bit of an encoded instruction is zero, else a reason naming the bits."""
    ins = decode(data)
    word = int.from_bytes(data, "little")
    vals = dict(ins.fields)
    extra = word & ~used_mask(ins.op, vals)
    if extra:
        bits = [i for i in range(INSTR_BITS) if extra >> i & 1]
        return f"{ins.op.name}: reserved bit(s) {bits[:8]} set"
    return None


# ---- programs ------------------------------------------------------------------------------------------------
def encode_program(instrs: Sequence[Instruction]) -> bytes:
    """Instruction list -> the binary program (what PROGRAM_ADDR points at; no header)."""
    return b"".join(encode(i) for i in instrs)


def decode_program(data: bytes) -> list[Instruction]:
    """Binary program -> instructions. ProgramError names the index of a bad instruction."""
    if len(data) % INSTR_BYTES:
        raise ProgramError(f"program is {len(data)} bytes, not a multiple of {INSTR_BYTES}")
    return [decode(data[i:i + INSTR_BYTES], i // INSTR_BYTES) for i in range(0, len(data), INSTR_BYTES)]


_ADDR_FIELDS = frozenset({"a", "b", "dst", "src", "param", "ddr_off"})
_ALWAYS_SHOW = frozenset({"epi", "space"})  # printed even when 0 (ACC32, WBUF) for readability


def _fmt_value(f: Field, v: int) -> str:
    if f.enum is not None:
        try:
            return f.enum(v).name
        except ValueError:
            return str(v)
    if f.name in _ADDR_FIELDS:
        return hex(v)
    return str(v)


def disassemble_one(ins: Instruction) -> str:
    """One instruction as `OPCODE key=value ...` (non-zero fields only; version omitted when current)."""
    parts = [ins.op.name]
    vals = dict(ins.fields)
    for f in fields_of(ins.op):
        if f.name in ("opcode",) or not _active(vals, f):
            continue
        v = int(vals.get(f.name, 0))
        if f.name == "version" and v == ISA_MAJOR:
            continue
        if v == 0 and f.name not in _ALWAYS_SHOW:
            continue
        parts.append(f"{f.name}={_fmt_value(f, v)}")
    text = " ".join(parts)
    if ins.note:
        text += f"  ; {ins.note}"
    return text


def disassemble(instrs: Iterable[Instruction], numbered: bool = True) -> str:
    """Program listing, one instruction per line (`index: text` when numbered)."""
    lines = []
    for i, ins in enumerate(instrs):
        lines.append(f"{i:6d}: {disassemble_one(ins)}" if numbered else disassemble_one(ins))
    return "\n".join(lines) + ("\n" if lines else "")


_LINE = re.compile(r"^\s*(?:\d+\s*:\s*)?([A-Za-z0-9_]+)(.*)$")


def assemble_line(line: str, lineno: int = 0) -> Instruction | None:
    """Parse one assembler line (same syntax as the disassembler); None for blank/comment lines."""
    text, _, comment = line.partition(";")
    if not text.strip():
        return None
    m = _LINE.match(text)
    if not m:
        raise ProgramError(f"line {lineno}: cannot parse {line!r}")
    name = m.group(1).upper()
    try:
        op = Opcode[name]
    except KeyError:
        raise ProgramError(f"line {lineno}: unknown opcode {name!r}; known: {[o.name for o in Opcode]}") from None
    by_name = {f.name: f for f in fields_of(op)}
    vals: dict[str, int] = {}
    for tok in m.group(2).split():
        key, eq, val = tok.partition("=")
        if not eq or key not in by_name or key == "opcode":
            raise ProgramError(f"line {lineno}: bad operand {tok!r} for {op.name}; fields: "
                               f"{sorted(k for k in by_name if k != 'opcode')}")
        f = by_name[key]
        if f.enum is not None and not re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)", val):
            try:
                vals[key] = int(f.enum[val.upper()])
            except KeyError:
                raise ProgramError(f"line {lineno}: {key}={val!r}, expected one of "
                                   f"{[e.name for e in f.enum]}") from None
        else:
            try:
                vals[key] = int(val, 0)
            except ValueError:
                raise ProgramError(f"line {lineno}: {key}={val!r} is not an integer") from None
    ins = make(op, note=comment.strip(), **vals)
    encode(ins)  # width check
    return ins


def assemble(text: str) -> list[Instruction]:
    """Assembler text -> instructions."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        ins = assemble_line(line, n)
        if ins is not None:
            out.append(ins)
    return out


# ---- operand layouts -------------------------------------------------------------------------------------------
def b_tiles_bytes(k: int, n: int, cols: int) -> int:
    """Bytes of a packed WBUF B operand (K x N) for an array of `cols` columns: K * ceil(N / cols) * cols."""
    return k * (-(-n // cols)) * cols


def pack_b_tiles(w_nk: np.ndarray, cols: int) -> np.ndarray:
    """Pack weights W (N, K) (nn.Linear layout, int8) as operand B = W^T in column tiles, uint8 bytes:

    for each column tile j (output channels j*cols .. j*cols+cols-1, zero-padded), K rows of `cols` bytes,
    row k = W[j*cols + c, k] for c = 0..cols-1. The array reads one row (cols weights) per clock, so the DMA
    stream, the buffer layout and the array's read order are the same sequence.
    """
    w = np.asarray(w_nk, dtype=np.int64)
    n, k = w.shape
    nt = -(-n // cols)
    pad = np.zeros((nt * cols, k), dtype=np.int64)
    pad[:n] = w
    tiles = pad.reshape(nt, cols, k).transpose(0, 2, 1)  # (nt, K, cols)
    return tiles.astype(np.int8).view(np.uint8).reshape(-1)


def unpack_b_tiles(data: np.ndarray, k: int, n: int, cols: int) -> np.ndarray:
    """Inverse of pack_b_tiles: bytes -> B (K, N) as int64."""
    nt = -(-n // cols)
    t = np.asarray(data[: k * nt * cols], dtype=np.uint8).view(np.int8).astype(np.int64).reshape(nt, k, cols)
    return t.transpose(1, 0, 2).reshape(k, nt * cols)[:, :n]


def _al(n: int, a: int = WBUF_ALIGN) -> int:
    return -(-n // a) * a


@dataclass(frozen=True)
class RecordField:
    """One array of a parameter record: little-endian numpy dtype, element count, byte offset."""

    name: str
    dtype: str
    count: int
    offset: int

    @property
    def nbytes(self) -> int:
        return np.dtype(self.dtype).itemsize * self.count


def record_layout(kind: str, n: int) -> list[RecordField]:
    """Byte layout of a parameter record in the weight buffer. Each array starts 16-byte aligned.

    kind  "bias"      : bias int32[n]                                   (ACC32)
          "req"       : bias int32[n], mult uint16[n], shift uint8[n]     (REQ8, RESADD)
          "gelu"      : req + table int8[256]                             (GELU8)
          "combine"   : bias int32[n], cmult uint16[n], cshift uint8[n]   (MOE_COMBINE)
          "layernorm" : eps int64[1], out_shift uint8[1], gamma int16[n], beta int32[n]  (n = channels)
          "route"     : mult uint16[n], shift uint8[n]                     (n = experts; per-expert z requant)
    """
    specs: dict[str, list[tuple[str, str, int]]] = {
        "bias": [("bias", "<i4", n)],
        "req": [("bias", "<i4", n), ("mult", "<u2", n), ("shift", "u1", n)],
        "gelu": [("bias", "<i4", n), ("mult", "<u2", n), ("shift", "u1", n), ("table", "i1", 256)],
        "combine": [("bias", "<i4", n), ("cmult", "<u2", n), ("cshift", "u1", n)],
        "layernorm": [("eps", "<i8", 1), ("out_shift", "u1", 1), ("gamma", "<i2", n), ("beta", "<i4", n)],
        "route": [("mult", "<u2", n), ("shift", "u1", n)],
    }
    if kind not in specs:
        raise ValueError(f"unknown record kind {kind!r}; known: {sorted(specs)}")
    out, off = [], 0
    for name, dt, cnt in specs[kind]:
        out.append(RecordField(name, dt, cnt, off))
        off = _al(off + np.dtype(dt).itemsize * cnt)
    return out


def record_bytes(kind: str, n: int) -> int:
    """Total (16-byte padded) size of a record."""
    lay = record_layout(kind, n)
    return _al(lay[-1].offset + lay[-1].nbytes)


EPI_RECORD = {
    Epilogue.ACC32: "bias",
    Epilogue.REQ8: "req",
    Epilogue.GELU8: "gelu",
    Epilogue.RESADD: "req",
    Epilogue.MOE_COMBINE: "combine",
}


def pack_record(kind: str, n: int, **arrays: Any) -> bytes:
    """Serialise a record (see record_layout). Values are range-checked by numpy casting with a ValueError."""
    lay = record_layout(kind, n)
    buf = bytearray(record_bytes(kind, n))
    for rf in lay:
        a = np.asarray(arrays[rf.name], dtype=np.int64).reshape(-1)
        if a.size != rf.count:
            raise ValueError(f"record {kind}: {rf.name} has {a.size} values, expected {rf.count}")
        info = np.iinfo(np.dtype(rf.dtype))
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise ValueError(f"record {kind}: {rf.name} values {a.min()}..{a.max()} do not fit {rf.dtype}")
        raw = a.astype(rf.dtype).tobytes()
        buf[rf.offset:rf.offset + len(raw)] = raw
    return bytes(buf)


def unpack_record(kind: str, n: int, data: bytes | np.ndarray, offset: int = 0) -> dict[str, np.ndarray]:
    """Parse a record from `data` at `offset` -> {name: int64 array}."""
    mv = memoryview(np.asarray(data, dtype=np.uint8) if not isinstance(data, bytes) else data)
    out = {}
    for rf in record_layout(kind, n):
        start = offset + rf.offset
        out[rf.name] = np.frombuffer(mv[start:start + rf.nbytes], dtype=rf.dtype).astype(np.int64)
    return out


def struct_fields() -> dict[str, Any]:
    """Plain-data view of the encoding (for emitters and documentation)."""
    return {
        op.name: [(f.name, f.lo, f.width, f.when) for f in fields_of(op)] for op in Opcode
    }


__all__ = [
    "ACCEL_ID",
    "ACT_ALIGN",
    "AXI_BURST_BYTES",
    "COMMON_FIELDS",
    "EPI_OUT_BYTES",
    "EPI_RECORD",
    "FORMATS",
    "INSTR_BITS",
    "INSTR_BYTES",
    "ISA_MAJOR",
    "ISA_MINOR",
    "ISA_VERSION",
    "SEGMENT_ALIGN",
    "WBUF_ALIGN",
    "BSrc",
    "DdrBase",
    "Epilogue",
    "Field",
    "Instruction",
    "Opcode",
    "RecordField",
    "Space",
    "assemble",
    "assemble_line",
    "b_tiles_bytes",
    "check_reserved",
    "decode",
    "decode_program",
    "disassemble",
    "disassemble_one",
    "encode",
    "encode_program",
    "fields_of",
    "make",
    "pack_b_tiles",
    "pack_record",
    "record_bytes",
    "record_layout",
    "struct_fields",
    "unpack_b_tiles",
    "unpack_record",
]

