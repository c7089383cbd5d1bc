"""AcceleratorConfig.softmax_lanes and epilogue_lanes (same rules: array_cols / 2 from 64 columns, a power of two
<= array_cols): derivation, override checks, and their consumers (RTL top parameters SM_LANES / EPI_LANES, cycle
model, resource estimate). Expected values are worked out by hand from the rules in the docstrings /
docs/isa.md §7."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vitaccel import toolchain
from vitaccel.boards import derive_accelerator_config, list_boards
from vitaccel.errors import ConfigError
from vitaccel.isa import BSrc, Epilogue
from vitaccel.perf.timing import gemm_cycles
from vitaccel.rtlgen.estimate import block_specs
from vitaccel.rtlgen.params import TOP_PARAM_SOURCES, top_parameters


def _expected_default(cols: int) -> int:
    """array_cols / 2 for arrays of >= 64 columns, else array_cols (vitaccel.boards.accel docstring)."""
    return cols // 2 if cols >= 64 else cols


FIELDS = {"softmax_lanes": "SM_LANES", "epilogue_lanes": "EPI_LANES"}  # config field -> vitaccel_top parameter


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("board", list_boards())
def test_default_lanes_per_board(board: str, field: str) -> None:
    cfg = derive_accelerator_config(board)
    lanes = getattr(cfg, field)
    assert lanes == _expected_default(cfg.array_cols)
    assert cfg.array_cols % lanes == 0 and lanes & (lanes - 1) == 0


@pytest.mark.parametrize("field", FIELDS)
def test_zcu102_shares_over_two_groups(field: str) -> None:
    cfg = derive_accelerator_config("zcu102")
    assert (cfg.array_cols, getattr(cfg, field)) == (64, 32)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(("cols", "lanes"), [(16, 16), (32, 32), (64, 32), (128, 64)])
def test_default_follows_overridden_array_shape(cols: int, lanes: int, field: str) -> None:
    assert getattr(derive_accelerator_config("zcu102", {"array_rows": 4, "array_cols": cols}), field) == lanes


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("lanes", [1, 8, 64])
def test_override_accepted_and_hashed(lanes: int, field: str) -> None:
    cfg = derive_accelerator_config("zcu102", {field: lanes})
    assert getattr(cfg, field) == lanes
    assert cfg.config_hash() != derive_accelerator_config("zcu102").config_hash()  # the field is hashed


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"F": 128}, r"F=128: expected a power of two <= array_cols \(64\)"),
        ({"F": 32, "array_cols": 16}, r"F=32: expected a power of two <= array_cols \(16\)"),
        ({"F": 12}, r"F=12: expected a power of two"),
        ({"F": 0}, r"F=0: expected a positive integer"),
        ({"F": True}, r"F=True: expected a positive integer"),
        ({"F": 16.0}, r"F=16.0: expected a positive integer"),
    ],
)
def test_bad_override_is_config_error(overrides: dict, message: str, field: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("F=", f"{field}=")):
        derive_accelerator_config("zcu102", {(field if k == "F" else k): v for k, v in overrides.items()})


@pytest.mark.parametrize("field", FIELDS)
def test_top_parameter_from_config(field: str) -> None:
    param = FIELDS[field]
    assert TOP_PARAM_SOURCES[param] == field
    for lanes in (64, 8):
        assert top_parameters(derive_accelerator_config("zcu102", {field: lanes}))[param] == lanes
    assert top_parameters(derive_accelerator_config("zcu102"))[param] == 32
    with pytest.raises(ConfigError, match=f"{field} = 128"):
        top_parameters(replace(derive_accelerator_config("zcu102"), **{field: 128}))
    with pytest.raises(ConfigError, match=f"{field} = 24"):
        top_parameters(replace(derive_accelerator_config("zcu102"), **{field: 24}))


def test_top_declares_and_passes_lanes() -> None:
    from vitaccel.rtlgen.rtlsim import top_parameter_names

    rtl = toolchain.rtl_dir()
    top, seq = (rtl / "vitaccel_top.sv").read_text(), (rtl / "vitaccel_gemm_seq.sv").read_text()
    for param in FIELDS.values():
        assert param in top_parameter_names(rtl / "vitaccel_top.sv")
        assert f".{param}({param})" in top
    assert ".GROUPS(COLS / SM_LANES)" in seq and ".EPI_LANES(EPI_LANES)" in seq


def test_estimate_epilogue_at_its_lanes() -> None:
    for lanes in (32, 64):
        cfg = derive_accelerator_config("zcu102", {"epilogue_lanes": lanes})
        spec = next(s for s in block_specs(cfg) if s.name == "epilogue")
        assert (spec.scale_param, spec.scale_to) == ("LANES", lanes)


def test_estimate_scales_softmax_by_datapath_lane() -> None:
    """One slice = one datapath lane with its GROUPS lanes: synthesized at LANES = GROUPS and 2 x GROUPS."""
    for lanes, groups in ((32, 2), (64, 1), (16, 4)):
        cfg = derive_accelerator_config("zcu102", {"softmax_lanes": lanes})
        spec = next(s for s in block_specs(cfg) if s.name == "softmax")
        assert (spec.scale_param, spec.scale_to, spec.scale_step) == ("LANES", 64, groups)
        assert spec.params["GROUPS"] == groups


def test_gemm_cycles_with_shared_softmax_by_hand() -> None:
    """zcu102 (33 x 64, F = 64 / 32 = 2) Q.K^T of m3vit-tiny: a score row drains in F = 2 clocks, so a row tile
    takes max(K = 64, 2 * 33) = 66 clocks and a column tile's last one (30 valid rows) max(64, 2 * 30 + 3) = 64;
    the last tile's tail: 1 + 2 * ((129 - 1) % 33) + SOFTMAX_DRAIN 34 + 2 (F - 1), then 128 + 1 pass-2 rows and its
    one P window, as with one lane per column (docs/isa.md §7)."""
    z = derive_accelerator_config("zcu102")
    got = gemm_cycles(z, 129, 129, 64, Epilogue.SOFTMAX, BSrc.ACT, pimm=True, trans=True)
    assert got == 3 + (64 * 2 + 1) + 33 + 3 * (3 * 66 + 64) + 1 + 2 * 29 + 34 + 2 + (128 + 1 + 1)
    # the RTL (sim/tb_gemm_seq.py on Verilator, ROWS 33, COLS 64, SM_LANES 32) took 1173 clocks
    assert abs(got - 1173) <= 0.01 * 1173
    # one lane per column: the softmax_lanes = 64 form (1127 clocks, tests/test_perf.py) is cheaper
    assert gemm_cycles(replace(z, softmax_lanes=64, epilogue_lanes=64), 129, 129, 64, Epilogue.SOFTMAX, BSrc.ACT,
                       pimm=True, trans=True) == 1127
    # other epilogues do not depend on softmax_lanes
    for lanes in (64, 8):
        assert gemm_cycles(replace(z, softmax_lanes=lanes), 129, 576, 192, Epilogue.REQ8, BSrc.WBUF) == \
            gemm_cycles(z, 129, 576, 192, Epilogue.REQ8, BSrc.WBUF)
