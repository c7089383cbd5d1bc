"""Memory image (contract 2): header + the streamed weight segments + constants, in DDR.

Layout (all little-endian):
    [0, 64)            header (below)
    [64, ...)          segments, each SEGMENT_ALIGN (64-byte) aligned and padded to a multiple of the AXI beat:
                       constants first (ACT initialisation, e.g. CLS + position embedding), then the weight-buffer
                       segments in the order the program loads them (one DMA each, one pass over DDR)

Header (64 bytes):
    0  u32 magic 'VTAI'       4  u16 isa_major      6  u16 isa_minor     8  u32 config_hash
    12 u32 header_bytes (64)  16 u32 image_bytes   20 u32 const_offset   24 u32 const_bytes
    28 u32 weights_offset     32 u32 weights_bytes 36 u32 input_bytes    40 u32 output_bytes
    44 u32 instr_count        48 u32 program_crc32 52 u32 axi_data_bits  56 u32 payload_crc32 (bytes 64..end)
    60 u32 header_crc32 (bytes 0..59)
The accelerator reads the header at ap_start and stops with BAD_IMAGE unless magic, isa_major and config_hash
match the build; input_bytes / output_bytes / image_bytes bound every DDR access (ADDR_RANGE). CRCs are
checked by the runtime (zlib CRC-32), not by the hardware.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from vitaccel.errors import ProgramError
from vitaccel.isa.spec import ISA_MAJOR, ISA_MINOR, SEGMENT_ALIGN

IMAGE_MAGIC = 0x49415456  # bytes b"VTAI" read as a little-endian u32
HEADER_BYTES = 64
_HDR = struct.Struct("<IHH" + "I" * 14)
assert _HDR.size == 64
# (name, byte offset, bytes) of every header field, in order (the hardware's header check reads these)
_HDR_NAMES = ("magic", "isa_major", "isa_minor", "config_hash", "header_bytes", "image_bytes", "const_offset",
              "const_bytes", "weights_offset", "weights_bytes", "input_bytes", "output_bytes", "instr_count",
              "program_crc32", "axi_data_bits", "payload_crc32", "header_crc32")
HEADER_FIELDS: tuple[tuple[str, int, int], ...] = tuple(
    (name, struct.calcsize("<" + _HDR.format[1:1 + i]), struct.calcsize("<" + _HDR.format[1 + i]))
    for i, name in enumerate(_HDR_NAMES))
assert HEADER_FIELDS[-1][1] + HEADER_FIELDS[-1][2] == HEADER_BYTES


@dataclass(frozen=True)
class ImageHeader:
    """Decoded memory-image header (byte counts and offsets)."""

    config_hash: int
    image_bytes: int
    const_offset: int
    const_bytes: int
    weights_offset: int
    weights_bytes: int
    input_bytes: int
    output_bytes: int
    instr_count: int
    program_crc32: int
    axi_data_bits: int
    payload_crc32: int
    isa_major: int = ISA_MAJOR
    isa_minor: int = ISA_MINOR

    def pack(self) -> bytes:
        body = _HDR.pack(IMAGE_MAGIC, self.isa_major, self.isa_minor, self.config_hash, HEADER_BYTES,
                         self.image_bytes, self.const_offset, self.const_bytes, self.weights_offset,
                         self.weights_bytes, self.input_bytes, self.output_bytes, self.instr_count,
                         self.program_crc32, self.axi_data_bits, self.payload_crc32, 0)
        return body[:60] + struct.pack("<I", zlib.crc32(body[:60]))


def parse_header(data: bytes | np.ndarray, expect_hash: int | None = None, check_crc: bool = True) -> ImageHeader:
    """Decode and check a header. ProgramError (naming the field, the value and what was expected)."""
    raw = bytes(np.asarray(data[:HEADER_BYTES], dtype=np.uint8)) if not isinstance(data, bytes) else data[:64]
    if len(raw) < HEADER_BYTES:
        raise ProgramError(f"memory image: {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte header")
    v = _HDR.unpack(raw)
    (magic, major, minor, chash, hbytes, ibytes, coff, cbytes, woff, wbytes, inb, outb, count, pcrc, axi,
     paycrc, hcrc) = v
    if magic != IMAGE_MAGIC:
        raise ProgramError(f"memory image: magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x} ('VTAI')")
    if major != ISA_MAJOR:
        raise ProgramError(f"memory image: ISA version {major}.{minor}, expected major {ISA_MAJOR}")
    if hbytes != HEADER_BYTES:
        raise ProgramError(f"memory image: header_bytes {hbytes}, expected {HEADER_BYTES}")
    if check_crc and zlib.crc32(raw[:60]) != hcrc:
        raise ProgramError("memory image: header CRC mismatch (corrupt header)")
    if expect_hash is not None and chash != expect_hash:
        raise ProgramError(f"memory image: config hash 0x{chash:08x}, but the accelerator is 0x{expect_hash:08x} "
                           "(compiled for another AcceleratorConfig)")
    return ImageHeader(chash, ibytes, coff, cbytes, woff, wbytes, inb, outb, count, pcrc, axi, paycrc, major, minor)


def verify_payload(data: bytes | np.ndarray) -> None:
    """ProgramError unless the payload CRC and size match the header."""
    arr = np.asarray(np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data, dtype=np.uint8)
    hdr = parse_header(arr)
    if arr.size != hdr.image_bytes:
        raise ProgramError(f"memory image: {arr.size} bytes, header says {hdr.image_bytes}")
    crc = zlib.crc32(arr[HEADER_BYTES:].tobytes())
    if crc != hdr.payload_crc32:
        raise ProgramError(f"memory image: payload CRC 0x{crc:08x}, header says 0x{hdr.payload_crc32:08x}")


def align(n: int, a: int) -> int:
    return -(-int(n) // a) * a


class ImageBuilder:
    """Append segments (constants, then weight segments) and produce the final image bytes."""

    def __init__(self, axi_data_bits: int):
        self.axi_bytes = axi_data_bits // 8
        self.axi_data_bits = axi_data_bits
        self.align = max(SEGMENT_ALIGN, self.axi_bytes)
        self.buf = bytearray(HEADER_BYTES)
        self.const_range = (HEADER_BYTES, HEADER_BYTES)
        self.weights_start: int | None = None

    def add(self, data: bytes) -> tuple[int, int]:
        """Append a segment; returns (offset, padded length) -- the LOAD moves the padded length."""
        off = align(len(self.buf), self.align)
        self.buf.extend(b"\0" * (off - len(self.buf)))
        self.buf.extend(data)
        padded = align(len(data), self.axi_bytes)
        self.buf.extend(b"\0" * (padded - len(data)))
        return off, padded

    def begin_weights(self) -> None:
        self.const_range = (HEADER_BYTES, align(len(self.buf), self.align))
        self.weights_start = self.const_range[1]

    def finish(self, config_hash: int, input_bytes: int, output_bytes: int, program: bytes) -> bytes:
        if self.weights_start is None:
            self.begin_weights()
        assert self.weights_start is not None
        end = align(len(self.buf), self.align)
        self.buf.extend(b"\0" * (end - len(self.buf)))
        payload_crc = zlib.crc32(bytes(self.buf[HEADER_BYTES:]))
        hdr = ImageHeader(
            config_hash=config_hash, image_bytes=len(self.buf), const_offset=self.const_range[0],
            const_bytes=self.const_range[1] - self.const_range[0], weights_offset=self.weights_start,
            weights_bytes=end - self.weights_start, input_bytes=int(input_bytes), output_bytes=int(output_bytes),
            instr_count=len(program) // 32, program_crc32=zlib.crc32(program), axi_data_bits=self.axi_data_bits,
            payload_crc32=payload_crc)
        self.buf[:HEADER_BYTES] = hdr.pack()
        return bytes(self.buf)


__all__ = ["HEADER_BYTES", "HEADER_FIELDS", "IMAGE_MAGIC", "ImageBuilder", "ImageHeader", "align", "parse_header", "verify_payload"]
