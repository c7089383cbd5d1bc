"""Board configs (contract 3): schema validation, clear errors, AcceleratorConfig derivation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from vitaccel.boards import derive_accelerator_config, list_boards, load_board
from vitaccel.boards.config import BYTES_PER_BRAM36, BYTES_PER_URAM, board_dir
from vitaccel.cli import main
from vitaccel.errors import ConfigError

# Independent facts (shared/research/conventions.md), not read from the YAML files.
EXPECTED = {
    "zcu102": ("xczu9eg-ffvb1156-2-e", 2520, 912, 0, "zynq_ultra_ps_e"),
    "zcu104": ("xczu7ev-ffvc1156-2-e", 1728, 312, 96, "zynq_ultra_ps_e"),
    "kv260": ("xck26-sfvc784-2LV-c", 1248, 144, 64, "zynq_ultra_ps_e"),
    "ultra96v2": ("xczu3eg-sbva484-1-i", 360, 216, 0, "zynq_ultra_ps_e"),
    "pynq-z2": ("xc7z020clg400-1", 220, 140, 0, "processing_system7"),
}


def test_all_boards_present_and_valid() -> None:
    assert sorted(EXPECTED) == list_boards()
    for name, (part, dsp, bram, uram, ps) in EXPECTED.items():
        b = load_board(name)
        assert (b.part, b.dsp, b.bram36, b.uram, b.ps_type) == (part, dsp, bram, uram, ps)


def test_zcu102_default_accelerator() -> None:
    a = derive_accelerator_config("zcu102")
    # half of 2520 DSPs x 2 int8 MACs per DSP48E2 = 2520 -> power of two 2048 = 32 x 64, plus one token row
    # so that 129 = 4 x 32 + 1 tokens tile without padding waste: 33 x 64
    assert (a.array_rows, a.array_cols, a.macs_per_cycle) == (33, 64, 2112)
    assert a.array_dsps == 1056 and a.array_dsps <= 0.7 * 2520
    assert a.clock_mhz == 300.0 and a.axi_data_bits == 128
    onchip = a.act_buffer_bytes + 2 * a.weight_buffer_bytes + a.param_buffer_bytes
    assert onchip <= 0.7 * 912 * BYTES_PER_BRAM36
    assert a.stream_gbps == pytest.approx(19.2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_board_fits_its_budget(name: str) -> None:
    b = load_board(name)
    a = derive_accelerator_config(b)
    assert a.array_dsps <= b.dsp
    assert a.act_buffer_bytes + 2 * a.weight_buffer_bytes + a.param_buffer_bytes <= (
        b.bram36 * BYTES_PER_BRAM36 + b.uram * BYTES_PER_URAM
    )
    assert a.array_cols & (a.array_cols - 1) == 0  # operand packing pairs columns
    rows = a.array_rows - 1 if a.array_rows >= 9 else a.array_rows  # power of two (+1 CLS row when >= 8)
    assert rows & (rows - 1) == 0


def test_pynq_z2_uses_one_mac_per_dsp() -> None:
    a = derive_accelerator_config("pynq-z2")
    assert a.macs_per_dsp == 1 and a.axi_data_bits == 64 and a.macs_per_cycle <= 110


def test_overrides_are_applied_and_checked() -> None:
    a = derive_accelerator_config("zcu102", {"array_rows": 16, "clock_mhz": 250})
    assert a.array_rows == 16 and a.clock_mhz == 250
    assert a.config_hash() != derive_accelerator_config("zcu102").config_hash()
    with pytest.raises(ConfigError, match="unknown accelerator config override 'rows'"):
        derive_accelerator_config("zcu102", {"rows": 4})
    with pytest.raises(ConfigError, match="power of two"):
        derive_accelerator_config("zcu102", {"array_cols": 48})
    with pytest.raises(ConfigError, match="needs 4096 DSP slices but the part has 2520"):
        derive_accelerator_config("zcu102", {"array_rows": 128})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clock_mhz": float("nan")}, r"clock_mhz=nan: expected a positive finite number"),
        ({"clock_mhz": float("inf")}, r"clock_mhz=inf: expected a positive finite number"),
        ({"ddr_peak_gbps": float("inf")}, r"ddr_peak_gbps=inf: expected a positive finite number"),
        ({"ddr_peak_gbps": 0}, r"ddr_peak_gbps=0: expected a positive finite number"),
        ({"clock_mhz": 801}, r"clock_mhz=801: expected at most 800 MHz \(the board schema"),
    ],
)
def test_clock_and_ddr_overrides_finite_and_capped(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        derive_accelerator_config("zcu102", overrides)


def test_clock_cap_is_the_schema_maximum() -> None:
    from vitaccel.boards.config import max_clock_mhz

    schema = json.loads((board_dir() / "board.schema.json").read_text())
    assert max_clock_mhz() == schema["properties"]["pl_clock_mhz"]["maximum"]
    assert derive_accelerator_config("zcu102", {"clock_mhz": max_clock_mhz()}).clock_mhz == max_clock_mhz()


def test_too_small_onchip_memory_is_config_error(tmp_path: Path) -> None:
    """A board whose BRAM/URAM derives a 0-byte (or sub-beat) buffer: ConfigError naming the file."""
    path = _broken_copy(tmp_path, lambda d: d["resources"].update(bram36=1, uram=0))
    with pytest.raises(ConfigError, match=r"BRAM/URAM .* is too small: weight_buffer_bytes derives to 0 bytes, "
                                          r"expected at least one AXI beat \(16 bytes\)") as info:
        derive_accelerator_config(load_board(path))
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match=r"override act_buffer_bytes=8 bytes, expected at least one AXI beat"):
        derive_accelerator_config("zcu102", {"act_buffer_bytes": 8})


def test_broken_field_reported_before_file_name_rule(tmp_path: Path) -> None:
    """In a file whose name differs from its 'name', a broken family/PS/DSP/DDR field is still reported."""
    src = _broken_copy(tmp_path, lambda d: d.__setitem__("dsp_type", "DSP48E1"))
    other = src.with_name("my-board.yaml")
    src.rename(other)
    with pytest.raises(ConfigError, match=r"field 'dsp_type'.*family zynquplus needs 'DSP48E2'"):
        load_board(other)
    ddr = _broken_copy(tmp_path / "b", lambda d: d["ddr"].__setitem__("peak_gbps", 50.0))
    ddr.rename(ddr.with_name("x.yaml"))
    with pytest.raises(ConfigError, match=r"ddr.peak_gbps"):
        load_board(ddr.with_name("x.yaml"))
    ok = _broken_copy(tmp_path / "c", lambda d: None)
    ok.rename(ok.with_name("y.yaml"))
    with pytest.raises(ConfigError, match=r"must equal the file name 'y'"):
        load_board(ok.with_name("y.yaml"))


def test_cli_boards_set_overrides(capsys) -> None:
    assert main(["boards", "--board", "zcu102", "--set", "array_rows=16", "--set", "clock_mhz=250", "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["boards"][0]["accelerator"]
    assert a["array_rows"] == 16 and a["clock_mhz"] == 250
    assert main(["boards", "--board", "zcu102", "--set", "clock_mhz=1000"]) == 2
    err = capsys.readouterr().err
    assert "clock_mhz=1000: expected at most 800" in err and "Traceback" not in err
    assert main(["boards", "--set", "rows"]) == 2
    assert "expected FIELD=VALUE" in capsys.readouterr().err


def test_config_hash_is_stable_32_bit() -> None:
    h1 = derive_accelerator_config("kv260").config_hash()
    h2 = derive_accelerator_config("kv260").config_hash()
    assert h1 == h2 and 0 <= h1 < 2**32


def _broken_copy(tmp_path: Path, edit) -> Path:
    d = tmp_path / "boards"
    shutil.copytree(board_dir(), d)
    path = d / "zcu102.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.__setitem__("ps_type", "zynq_ps9"), r"field 'ps_type'.*allowed: zynq_ultra_ps_e, processing_system7"),
        (lambda d: d["resources"].__setitem__("dsp", -5), r"field 'resources.dsp'.*-5"),
        (lambda d: d.pop("part"), r"'part' is a required property"),
        (lambda d: d.__setitem__("colour", "red"), r"allowed fields:"),
        (lambda d: d["ddr"].__setitem__("peak_gbps", 50.0), r"ddr.peak_gbps.*19.20"),
        (lambda d: d.__setitem__("name", "zcu999"), r"must equal the file name 'zcu102'"),
        (lambda d: d.__setitem__("dsp_type", "DSP48E1"), r"family zynquplus needs 'DSP48E2'"),
        (lambda d: d.__setitem__("pl_clock_mhz", 900), r"field 'pl_clock_mhz'.*900"),
    ],
)
def test_broken_board_file_names_file_field_and_expectation(tmp_path: Path, edit, message: str) -> None:
    path = _broken_copy(tmp_path, edit)
    with pytest.raises(ConfigError, match=message) as info:
        load_board(path)
    assert str(path) in str(info.value)


def test_unknown_board_lists_known(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="known boards: kv260, pynq-z2, ultra96v2, zcu102, zcu104"):
        load_board("zcu999")


def test_cli_boards_json(capsys) -> None:
    assert main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [b["name"] for b in data["boards"]]
    assert names == sorted(EXPECTED)
    z = next(b for b in data["boards"] if b["name"] == "zcu102")
    assert z["accelerator"]["macs_per_cycle"] == 2112


def test_cli_bad_board_is_one_line_error(capsys) -> None:
    assert main(["boards", "--board", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vitaccel: error: unknown board 'nope'") and "Traceback" not in err
