"""Compiler: schedule invariants, fitting, FitError messages, manifest and the compile / disasm commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.boards.config import list_boards
from vitaccel.cli import main
from vitaccel.compiler import compile_model
from vitaccel.compiler.synthetic import synthetic_qmodel
from vitaccel.errors import FitError
from vitaccel.isa import Opcode, Space


@pytest.fixture(scope="module")
def micro():  # type: ignore[no-untyped-def]
    return synthetic_qmodel("m3vit-micro", seed=3)


def _wbuf_protocol_ok(instrs: list[isa.Instruction]) -> None:
    """Independent replay of the dispatch-time WBUF rules with every condition true."""
    full = [False, False]
    for i, ins in enumerate(instrs):
        h = ins.get("wbuf")
        if ins.op == Opcode.LOAD and ins.get("space") == Space.WBUF:
            assert not full[h], f"instruction {i}: LOAD into a full half"
            full[h] = True
        elif ins.op in (Opcode.GEMM, Opcode.LAYERNORM, Opcode.ROUTE) and (
                ins.op != Opcode.GEMM or ins.get("bsrc") == 0 or not ins.get("pimm")):
            assert full[h], f"instruction {i}: reads an empty half"
            if ins.get("release"):
                full[h] = False


def test_every_board_compiles_the_micro_model(micro) -> None:  # type: ignore[no-untyped-def]
    for board in list_boards():
        cfg = derive_accelerator_config(board)
        for t in range(2):
            cp = compile_model(micro, cfg, t)
            _wbuf_protocol_ok(cp.instructions)
            assert cp.instructions[-1].op == Opcode.END
            hdr = isa.parse_header(cp.image, expect_hash=cfg.config_hash())
            assert hdr.instr_count == len(cp.instructions) and hdr.output_bytes == cp.manifest["output"]["bytes"]


def test_weights_are_read_once_and_stream_in_order(micro) -> None:  # type: ignore[no-untyped-def]
    cfg = derive_accelerator_config("zcu102")
    cp = compile_model(micro, cfg, 0)
    hdr = isa.parse_header(cp.image)
    loads = [i for i in cp.instructions if i.op == Opcode.LOAD and i.get("space") == Space.WBUF]
    offs = [i.get("ddr_off") for i in loads]
    assert offs == sorted(offs) and len(set(offs)) == len(offs)  # one pass over DDR, in address order
    covered = sum(i.get("row_bytes") for i in loads)
    assert covered <= hdr.weights_bytes and hdr.weights_bytes - covered < 64 * len(loads)
    # expert segments are conditional on their queue and come after the ROUTE that decides them
    route_at = next(k for k, i in enumerate(cp.instructions) if i.op == Opcode.ROUTE)
    cond_loads = [k for k, i in enumerate(cp.instructions) if i.op == Opcode.LOAD and i.get("cond")]
    assert len(cond_loads) == micro.config.num_experts and min(cond_loads) > route_at
    # double buffering: the next segment's LOAD is issued before the current segment's last reader
    first_gemm = next(k for k, i in enumerate(cp.instructions) if i.op == Opcode.GEMM)
    assert sum(1 for i in cp.instructions[:first_gemm] if i.op == Opcode.LOAD and i.get("space") == Space.WBUF) == 2


def test_attention_uses_whole_array_tiles_for_129_tokens() -> None:
    """The tokens sit on the array rows: 33-row tiles waste < 3 % on 129 tokens, heads of 64 fill the columns."""
    qm = synthetic_qmodel("m3vit-tiny", seed=None)
    cfg = derive_accelerator_config("zcu102")
    assert (cfg.array_rows, cfg.array_cols) == (33, 64)
    cp = compile_model(qm, cfg, 0)
    gemms = [i for i in cp.instructions if i.op == Opcode.GEMM and not i.get("qrows")]
    for g in gemms:
        m, n = g.get("m"), g.get("n")
        rows_used = m / (-(-m // cfg.array_rows) * cfg.array_rows)
        if m in (128, 129):
            assert rows_used > 0.96
        if g.get("epi") != isa.Epilogue.SOFTMAX and n >= 64:
            assert n / (-(-n // cfg.array_cols) * cfg.array_cols) > 0.97 or n == qm.config.num_experts


def test_fit_errors_name_layer_need_and_capacity(micro) -> None:  # type: ignore[no-untyped-def]
    cfg = derive_accelerator_config("zcu102", {"weight_buffer_bytes": 4096})
    with pytest.raises(FitError, match=r"layer .*: one 64-column operand tile of K = \d+ needs \d+ bytes but one "
                                       r"weight-buffer half holds 4096 bytes"):
        compile_model(micro, cfg, 0)
    cfg = derive_accelerator_config("zcu102", {"act_buffer_bytes": 8192})
    with pytest.raises(FitError, match=r"layer \w+: activations need \d+ bytes on chip .* holds 8192 bytes"):
        compile_model(micro, cfg, 0)
    cfg = derive_accelerator_config("zcu102", {"max_tokens": 16})
    with pytest.raises(FitError, match="17 tokens"):
        compile_model(micro, cfg, 0)


def test_manifest_describes_the_program(micro) -> None:  # type: ignore[no-untyped-def]
    cfg = derive_accelerator_config("kv260")
    cp = compile_model(micro, cfg, 1)
    m = cp.manifest
    assert m["task"] == "depth" and m["config_hash"] == f"0x{cfg.config_hash():08x}"
    assert m["output"]["shape"] == [micro.config.num_patches, micro.config.head_out_features(1)]
    assert m["instructions"] == len(cp.instructions) and m["image_bytes"] == len(cp.image)
    covered = [i for r in m["layers"] for i in range(r["first"], r["last"] + 1)]
    assert covered == list(range(len(cp.instructions)))
    assert m["act"]["peak_bytes"] <= cfg.act_buffer_bytes
    json.dumps(m)


def test_compile_and_disasm_commands(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "c"
    assert main(["compile", "--model", "m3vit-micro", "--board", "zcu102", "--synthetic", "--out", str(out)]) == 0
    for task in ("segment", "depth"):
        for f in ("program.bin", "image.bin", "program.asm", "manifest.json"):
            assert (out / task / f).is_file()
    prog = (out / "segment" / "program.bin").read_bytes()
    capsys.readouterr()
    assert main(["disasm", str(out / "segment" / "program.bin")]) == 0
    listing = capsys.readouterr().out
    assert isa.encode_program(isa.assemble(listing)) == prog
    assert main(["disasm", str(out / "segment")]) == 0
    assert "blocks.1.moe" in capsys.readouterr().out
    assert main(["compile", "--model", "m3vit-micro", "--board", "zcu102", "--synthetic", "--task", "depth",
                 "--out", str(tmp_path / "d"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["programs"][0]["task"] == "depth" and (tmp_path / "d" / "program.bin").is_file()
    rc = main(["compile", "--model", "m3vit-micro", "--board", "zcu102", "--synthetic", "--set",
               "weight_buffer_bytes=2048", "--out", str(tmp_path / "e")])
    assert rc == 2 and "weight-buffer half holds 2048 bytes" in capsys.readouterr().err


def test_disasm_multi_task_bundle_bad_manifest_and_crc(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`disasm DIR` of a multi-task bundle lists every task under a header (or the one --task names); invalid
    manifest JSON and a program.bin whose CRC differs from the manifest are one-line errors."""
    out = tmp_path / "c"
    assert main(["compile", "--model", "m3vit-micro", "--board", "zcu102", "--synthetic", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["disasm", str(out)]) == 0
    listing = capsys.readouterr().out
    headers = [ln for ln in listing.splitlines() if ln.startswith("; task ")]
    assert [h.split()[2] for h in headers] == ["segment", "depth"]
    seg, dep = (out / t / "program.bin" for t in ("segment", "depth"))
    n_seg, n_dep = len(seg.read_bytes()) // isa.INSTR_BYTES, len(dep.read_bytes()) // isa.INSTR_BYTES
    assert len([ln for ln in listing.splitlines() if not ln.startswith(";")]) == n_seg + n_dep
    assert main(["disasm", str(out), "--task", "depth", "--no-index"]) == 0
    only = capsys.readouterr().out
    assert isa.encode_program(isa.assemble(only)) == dep.read_bytes() and "; task" not in only
    assert main(["disasm", str(out), "--task", "0", "--json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert len(rows) == n_seg and {r["task"] for r in rows} == {"segment"}
    assert main(["disasm", str(out), "--task", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no task 'nope'" in err and "0:segment" in err and "Traceback" not in err

    # corrupted program.bin: the runtime loader's CRC check, for the directory and for the file itself
    data = bytearray(seg.read_bytes())
    data[40] ^= 0xFF
    seg.write_bytes(bytes(data))
    for target in (out, out / "segment", seg):
        assert main(["disasm", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("vitaccel: error: ") and "CRC-32" in err and "manifest" in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    # manifest.json that is not JSON (top level and a task's)
    (out / "manifest.json").write_text("{not json")
    assert main(["disasm", str(out)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json: not valid JSON" in err and "JSONDecodeError" not in err and "Traceback" not in err
    (out / "depth" / "manifest.json").write_text("[1, 2")
    assert main(["disasm", str(out / "depth")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_zero_and_random_models_give_the_same_program() -> None:
    cfg = derive_accelerator_config("zcu102")
    a = compile_model(synthetic_qmodel("m3vit-micro", seed=None), cfg, 0)
    b = compile_model(synthetic_qmodel("m3vit-micro", seed=9), cfg, 0)
    strip = [{k: v for k, v in i.fields.items() if k not in ("mult", "shift")} for i in a.instructions]
    assert strip == [{k: v for k, v in i.fields.items() if k not in ("mult", "shift")} for i in b.instructions]
    assert len(a.image) == len(b.image)  # shapes decide the program; attention immediates are the only data
    assert not np.array_equal(np.frombuffer(a.image, np.uint8), np.frombuffer(b.image, np.uint8))
