"""ISA encoding, assembler/disassembler, register map, memory image and emitters (vitaccel.isa)."""

from __future__ import annotations

import functools
import operator
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.errors import ProgramError
from vitaccel.isa import Epilogue, Opcode


def _random_fields(op: Opcode, draw) -> dict[str, int]:  # type: ignore[no-untyped-def]
    vals: dict[str, int] = {}
    allowed = isa.spec._ALLOWED_COMMON[op]
    for f in isa.fields_of(op):
        if f.name in ("opcode", "version"):
            continue
        if f in isa.COMMON_FIELDS and f.name not in allowed:
            continue
        if f.when is not None:
            continue
        if f.enum is not None:
            vals[f.name] = int(draw(st.sampled_from(list(f.enum))))
        else:
            vals[f.name] = draw(st.integers(0, f.mask))
    for f in isa.fields_of(op):
        if f.when is not None and vals.get(f.when[0], 0) == f.when[1]:
            vals[f.name] = draw(st.integers(0, f.mask))
    return vals


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_encode_decode_asm_round_trip(data) -> None:  # type: ignore[no-untyped-def]
    op = data.draw(st.sampled_from(list(Opcode)))
    vals = _random_fields(op, data.draw)
    ins = isa.make(op, **vals)
    raw = isa.encode(ins)
    assert len(raw) == isa.INSTR_BYTES == 32
    back = isa.decode(raw)
    assert back.op == op and isa.encode(back) == raw
    for k, v in vals.items():
        assert back.get(k) == v
    assert isa.check_reserved(raw) is None
    text = isa.disassemble_one(back)
    assert isa.encode(isa.assemble_line(text)) == raw


def test_field_positions_follow_the_documented_layout() -> None:
    # independent restatement of docs/isa.md section 2 for GEMM
    ins = isa.make("GEMM", epi=Epilogue.SOFTMAX, bsrc=1, trans=1, pimm=1, mult=0xBEEF, shift=5, a=0x11223344,
                   b=0x55667788, dst=0x99AABBCC, m=129, n=64, k=192, a_pitch=576, b_pitch=144, dst_pitch=160,
                   expert=7, a_u8=1, wbuf=1, release=1, cond=1)
    w = int.from_bytes(isa.encode(ins), "little")
    assert w & 0xFF == 0x20 and (w >> 8) & 0xF == 1
    assert (w >> 12) & 1 and (w >> 13) & 1 and (w >> 14) & 1 and (w >> 15) & 1
    assert (w >> 16) & 0x3F == 7 and (w >> 22) & 1
    assert (w >> 24) & 0xF == 4 and (w >> 28) & 1 and (w >> 30) & 1
    assert (w >> 32) & 0xFFFFFFFF == 0x11223344 and (w >> 64) & 0xFFFFFFFF == 0x55667788
    assert (w >> 96) & 0xFFFFFFFF == 0x99AABBCC
    assert (w >> 128) & 0xFFFF == 0xBEEF and (w >> 144) & 0x3F == 5
    assert (w >> 160) & 0xFFFF == 129 and (w >> 176) & 0xFFFF == 64 and (w >> 192) & 0xFFFF == 192
    assert (w >> 208) & 0xFFFF == 576 and (w >> 224) & 0xFFFF == 144 and (w >> 240) & 0xFFFF == 160


def test_errors_of_the_encoder_and_decoder() -> None:
    with pytest.raises(ProgramError, match="does not fit 16 bits"):
        isa.encode(isa.make("GEMM", m=1 << 16))
    with pytest.raises(ProgramError, match="unknown field"):
        isa.make("LOAD", bogus=1)
    with pytest.raises(ProgramError, match="illegal opcode 0x7f"):
        isa.decode(bytes([0x7F]) + bytes(31), 3)
    raw = bytearray(isa.encode(isa.make("END")))
    raw[3] |= 0x80  # bit 31: a GEMM flag, reserved for END
    assert "reserved" in (isa.check_reserved(bytes(raw)) or "")
    raw = bytearray(isa.encode(isa.make("LOAD", rows=1)))
    raw[31] |= 0x40  # bits 224.. are unused by LOAD
    assert isa.check_reserved(bytes(raw))
    with pytest.raises(ProgramError, match="unknown opcode"):
        isa.assemble("FOO a=1")
    with pytest.raises(ProgramError, match="expected one of"):
        isa.assemble("GEMM epi=BOGUS")


def test_assemble_program_text() -> None:
    text = """
    ; a comment line
    LOAD space=WBUF wbuf=1 ddr_off=0x40 row_bytes=4096 rows=1
    GEMM epi=REQ8 wbuf=1 release=1 a=0 b=0 dst=0x100 param=0x1000 m=33 n=64 k=64 a_pitch=64 dst_pitch=64 ; x
    END
    """
    prog = isa.assemble(text)
    assert [i.op for i in prog] == [Opcode.LOAD, Opcode.GEMM, Opcode.END]
    assert prog[1].note == "x" and prog[0].get("wbuf") == 1 and prog[0].get("space") == isa.Space.WBUF
    raw = isa.encode_program(prog)
    assert isa.decode_program(raw) == prog
    listing = isa.disassemble(isa.decode_program(raw))
    assert isa.encode_program(isa.assemble(listing)) == raw


def test_register_map_vitis_layout() -> None:
    regs = isa.REGISTERS
    # control block and the five 64-bit arguments, 12 bytes apart (lo, hi, reserved)
    assert (regs["AP_CTRL"], regs["GIE"], regs["IER"], regs["ISR"]) == (0x00, 0x04, 0x08, 0x0C)
    args = ["PROGRAM_ADDR", "INSTR_COUNT", "IMAGE_ADDR", "INPUT_ADDR", "OUTPUT_ADDR"]
    for i, name in enumerate(args):
        assert regs[f"{name}_LO"] == 0x10 + 12 * i and regs[f"{name}_HI"] == 0x14 + 12 * i
    assert regs["ID"] == 0x4C and regs["ID_CTRL"] == 0x50
    assert regs["STATUS"] == 0x64 and regs["ERROR_PC"] == 0x6C
    assert regs["CYCLES_LO"] == 0x74 and regs["STALL_CYCLES_LO"] == 0x80
    offs = [r.offset for r in isa.register_map()]
    assert offs == sorted(offs) and len(set(offs)) == len(offs) and max(offs) < isa.regmap.ADDR_SPACE_BYTES
    code, err, done = isa.decode_status(isa.status_word(isa.ErrorCode.WBUF_STATE))
    assert code == isa.ErrorCode.WBUF_STATE and err and done
    assert isa.decode_status(isa.status_word(0)) == (isa.ErrorCode.NONE, False, True)


def test_register_fields_own_the_layout() -> None:
    """The bit fields of regmap are the documented layout (docs/isa.md section 6 restated here), no two fields of a
    register overlap, and the decode helpers, the AP_CTRL / ISR constants and the emitted REGF_* constants all
    follow them."""
    from vitaccel.isa import regmap

    documented = {  # register: {field: (lo, width)} -- independent restatement of the register table
        "AP_CTRL": {"START": (0, 1), "DONE": (1, 1), "IDLE": (2, 1), "READY": (3, 1), "AUTO_RESTART": (7, 1)},
        "GIE": {"ENABLE": (0, 1)}, "IER": {"AP_DONE": (0, 1), "AP_READY": (1, 1)},
        "ISR": {"AP_DONE": (0, 1), "AP_READY": (1, 1)},
        "ISA_VERSION": {"MINOR": (0, 16), "MAJOR": (16, 16)},
        "STATUS": {"CODE": (0, 8), "ERROR": (8, 1), "DONE": (9, 1)},
    }
    got: dict[str, dict[str, tuple[int, int]]] = {}
    for f in regmap.REGISTER_FIELDS:
        assert f.register in isa.REGISTERS
        got.setdefault(f.register, {})[f.name] = (f.lo, f.width)
    assert got == documented
    for reg in got:
        masks = [f.mask for f in regmap.REGISTER_FIELDS if f.register == reg]
        assert sum(masks) == functools.reduce(operator.or_, masks) < 1 << 32, reg  # disjoint, 32 bits
    assert (regmap.AP_CTRL_START, regmap.AP_CTRL_DONE, regmap.AP_CTRL_IDLE, regmap.AP_CTRL_READY,
            regmap.AP_CTRL_AUTO_RESTART) == (0x1, 0x2, 0x4, 0x8, 0x80)
    assert (regmap.ISR_AP_DONE, regmap.ISR_AP_READY, regmap.ISR_ALL, regmap.IER_AP_DONE) == (1, 2, 3, 1)
    assert regmap.isa_version_word(isa.ISA_MAJOR, isa.ISA_MINOR) == isa.ISA_VERSION
    assert regmap.decode_isa_version(0x0003_0007) == (3, 7)
    for code in isa.ErrorCode:
        word = int(code) | (1 << 8 if code else 0) | 1 << 9
        assert isa.status_word(code) == word and isa.decode_status(word) == (code, bool(code), True)
    assert regmap.status_fields(0x2FF) == (0xFF, False, True) and regmap.error_name(0xFF) == "unknown"
    with pytest.raises(ValueError):
        isa.decode_status(0x2FF)
    with pytest.raises(ValueError):
        regmap.FIELDS["STATUS_CODE"].put(256)
    hdr = isa.to_c_header()
    for key, f in regmap.FIELDS.items():
        assert f"#define VA_REGF_{key}_LO {f.lo}" in hdr and f"#define VA_REGF_{key}_W {f.width}" in hdr


def test_axi_error_code_and_the_error_table_of_the_docs() -> None:
    """AXI_ERROR = 10 in every emitted package, and docs/isa.md lists every ErrorCode as "<value> <NAME>"."""
    assert int(isa.ErrorCode.AXI_ERROR) == 10
    assert "#define VA_ERR_AXI_ERROR 10" in isa.to_c_header()
    assert "localparam [31:0] ERR_AXI_ERROR = 32'h0000000A;" in isa.to_sv_package()
    assert " ERR_AXI_ERROR 10 " in isa.to_tcl()
    doc = (Path(__file__).resolve().parents[1] / "docs" / "isa.md").read_text()
    table = doc[doc.index("Error codes ("):]
    table = " ".join(table[:table.index("\n## ")].split())
    for code in isa.ErrorCode:
        if code:
            assert f"{int(code)} {code.name}" in table, f"docs/isa.md error table lacks {int(code)} {code.name}"
    assert all(code.doc for code in isa.ErrorCode)


def test_b_tile_packing_matches_the_array_read_order() -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, size=(70, 5))  # N = 70 outputs, K = 5
    cols = 16
    packed = isa.pack_b_tiles(w, cols)
    assert packed.size == isa.b_tiles_bytes(5, 70, cols) == 5 * 5 * 16
    # independent: tile j, row k, lane c is W[j*cols + c, k] (0 beyond N)
    for j in range(5):
        for k in range(5):
            for c in range(cols):
                n = j * cols + c
                want = w[n, k] if n < 70 else 0
                assert np.int8(packed[(j * 5 + k) * cols + c].astype(np.uint8).view(np.int8)) == want
    assert np.array_equal(isa.unpack_b_tiles(packed, 5, 70, cols), w.T)


def test_records_are_aligned_and_round_trip() -> None:
    for kind in ("bias", "req", "gelu", "combine", "layernorm", "route"):
        for n in (1, 7, 64, 192):
            lay = isa.record_layout(kind, n)
            assert all(f.offset % isa.WBUF_ALIGN == 0 for f in lay)
            assert isa.record_bytes(kind, n) % isa.WBUF_ALIGN == 0
            ends = [f.offset + f.nbytes for f in lay]
            assert all(e <= lay[i + 1].offset for i, e in enumerate(ends[:-1]))
    rng = np.random.default_rng(0)
    arrays = dict(bias=rng.integers(-2**31, 2**31, 9), mult=rng.integers(0, 2**16, 9), shift=rng.integers(0, 64, 9),
                  table=rng.integers(-128, 128, 256))
    blob = isa.pack_record("gelu", 9, **arrays)
    back = isa.unpack_record("gelu", 9, blob)
    for k, v in arrays.items():
        assert np.array_equal(back[k], v)
    with pytest.raises(ValueError, match="do not fit"):
        isa.pack_record("req", 1, bias=[0], mult=[1 << 16], shift=[0])


def test_memory_image_header() -> None:
    b = isa.ImageBuilder(128)
    off, n = b.add(b"\x01" * 10)
    assert off == 64 and n == 16
    b.begin_weights()
    off2, n2 = b.add(b"\x02" * 100)
    assert off2 % 64 == 0 and n2 == 112
    prog = isa.encode_program([isa.make("END")])
    img = b.finish(0x12345678, input_bytes=3 * 32 * 32, output_bytes=4 * 16, program=prog)
    h = isa.parse_header(img, expect_hash=0x12345678)
    assert (h.image_bytes, h.input_bytes, h.output_bytes, h.instr_count) == (len(img), 3072, 64, 1)
    assert h.weights_offset == off2 and h.const_offset == 64 and h.axi_data_bits == 128
    assert h.program_crc32 == zlib.crc32(prog) and img[:4] == b"VTAI"
    isa.verify_payload(img)
    with pytest.raises(ProgramError, match="config hash"):
        isa.parse_header(img, expect_hash=1)
    bad = bytearray(img)
    bad[-1] ^= 1
    with pytest.raises(ProgramError, match="payload CRC"):
        isa.verify_payload(bytes(bad))
    bad = bytearray(img)
    bad[0] = 0
    with pytest.raises(ProgramError, match="magic"):
        isa.parse_header(bytes(bad))
    bad = bytearray(img)
    bad[16] ^= 4
    with pytest.raises(ProgramError, match="header CRC"):
        isa.parse_header(bytes(bad))


def test_emitters_parse_in_their_languages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = derive_accelerator_config("zcu102")
    h = isa.to_c_header(cfg)
    sv = isa.to_sv_package(cfg)
    tcl = isa.to_tcl(cfg)
    assert "#define VA_OP_GEMM 32" in h and f"VA_CFG_CONFIG_HASH 0x{cfg.config_hash():X}u" in h
    assert "localparam [31:0] F_GEMM_M_LO = 32'h000000A0;" in sv
    assert "REG_STATUS 100" in tcl
    (tmp_path / "va_isa.h").write_text(h)
    (tmp_path / "pkg.sv").write_text(sv)
    (tmp_path / "t.cpp").write_text('#include "va_isa.h"\nstatic_assert(VA_REG_STATUS == 0x64, "");\n'
                                    'static_assert(VA_F_GEMM_K_LO == 192, "");\nint main() { return 0; }\n')
    missing = [t for t in ("g++", "iverilog", "tclsh") if shutil.which(t) is None]
    gxx = shutil.which("g++")
    if gxx:
        subprocess.run([gxx, "-std=c++14", "-fsyntax-only", "-I", str(tmp_path), str(tmp_path / "t.cpp")],
                       check=True)
    iverilog = shutil.which("iverilog")
    if iverilog:
        (tmp_path / "top.sv").write_text("module top; import vitaccel_isa_pkg::*;\n"
                                         "initial if (F_GEMM_N_LO != 176 || REG_ERROR_PC != 'h6C) $fatal;\n"
                                         "endmodule\n")
        subprocess.run([iverilog, "-g2012", "-o", str(tmp_path / "a.out"), str(tmp_path / "pkg.sv"),
                        str(tmp_path / "top.sv")], check=True)
    tclsh = shutil.which("tclsh")
    if tclsh:
        (tmp_path / "t.tcl").write_text(tcl + "puts $VA_ISA(OP_ROUTE)\n")
        r = subprocess.run([tclsh, str(tmp_path / "t.tcl")], check=True, capture_output=True, text=True)
        assert r.stdout.strip() == "48"
    if missing:  # the available languages were checked above; say which were not
        pytest.skip(f"emitter output not compiled for: {', '.join(missing)} (not on PATH)")
