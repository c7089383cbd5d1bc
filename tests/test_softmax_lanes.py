"""AcceleratorConfig.softmax_lanes: derivation, override checks, and its consumers (RTL top parameter SM_LANES,
cycle model, resource estimate). Expected values are worked out by hand from the rules in the docstrings /
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


@pytest.mark.parametrize("board", list_boards())
def test_default_softmax_lanes_per_board(board: str) -> None:
    cfg = derive_accelerator_config(board)
    assert cfg.softmax_lanes == _expected_default(cfg.array_cols)
    assert cfg.array_cols % cfg.softmax_lanes == 0 and cfg.softmax_lanes & (cfg.softmax_lanes - 1) == 0


def test_zcu102_shares_over_two_groups() -> None:
    cfg = derive_accelerator_config("zcu102")
    assert (cfg.array_cols, cfg.softmax_lanes) == (64, 32)


@pytest.mark.parametrize(("cols", "lanes"), [(16, 16), (32, 32), (64, 32), (128, 64)])
def test_default_follows_overridden_array_shape(cols: int, lanes: int) -> None:
    assert derive_accelerator_config("zcu102", {"array_rows": 4, "array_cols": cols}).softmax_lanes == lanes


@pytest.mark.parametrize("lanes", [1, 8, 64])
def test_override_accepted_and_hashed(lanes: int) -> None:
    cfg = derive_accelerator_config("zcu102", {"softmax_lanes": lanes})
    assert cfg.softmax_lanes == lanes
    assert cfg.config_hash() != derive_accelerator_config("zcu102").config_hash()  # softmax_lanes is hashed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"softmax_lanes": 128}, r"softmax_lanes=128: expected a power of two <= array_cols \(64\)"),
        ({"softmax_lanes": 32, "array_cols": 16}, r"softmax_lanes=32: expected a power of two <= array_cols \(16\)"),
        ({"softmax_lanes": 12}, r"softmax_lanes=12: expected a power of two"),
        ({"softmax_lanes": 0}, r"softmax_lanes=0: expected a positive integer"),
        ({"softmax_lanes": True}, r"softmax_lanes=True: expected a positive integer"),
        ({"softmax_lanes": 16.0}, r"softmax_lanes=16.0: expected a positive integer"),
    ],
)
def test_bad_override_is_config_error(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        derive_accelerator_config("zcu102", overrides)


def test_top_parameter_from_config() -> None:
    assert TOP_PARAM_SOURCES["SM_LANES"] == "softmax_lanes"
    for lanes in (64, 8):
        assert top_parameters(derive_accelerator_config("zcu102", {"softmax_lanes": lanes}))["SM_LANES"] == lanes
    assert top_parameters(derive_accelerator_config("zcu102"))["SM_LANES"] == 32
    with pytest.raises(ConfigError, match="softmax_lanes = 128"):
        top_parameters(replace(derive_accelerator_config("zcu102"), softmax_lanes=128))
    with pytest.raises(ConfigError, match="softmax_lanes = 24"):
        top_parameters(replace(derive_accelerator_config("zcu102"), softmax_lanes=24))


def test_top_declares_and_passes_sm_lanes() -> None:
    from vitaccel.rtlgen.rtlsim import top_parameter_names

    rtl = toolchain.rtl_dir()
    assert "SM_LANES" in top_parameter_names(rtl / "vitaccel_top.sv")
    assert ".SM_LANES(SM_LANES)" in (rtl / "vitaccel_top.sv").read_text()
    assert ".GROUPS(COLS / SM_LANES)" in (rtl / "vitaccel_gemm_seq.sv").read_text()


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
    the last tile's tail: 1 + 2 * ((129 - 1) % 33) + SOFTMAX_DRAIN 33 + 2 (F - 1), then 128 + 1 pass-2 rows and its
    one P window, as with one lane per column (docs/isa.md §7)."""
    z = derive_accelerator_config("zcu102")
    got = gemm_cycles(z, 129, 129, 64, Epilogue.SOFTMAX, BSrc.ACT, pimm=True, trans=True)
    assert got == 3 + (64 * 2 + 1) + 33 + 3 * (3 * 66 + 64) + 1 + 2 * 29 + 33 + 2 + (128 + 1 + 1)
    # the RTL (sim/tb_gemm_seq.py on Verilator, ROWS 33, COLS 64, SM_LANES 32) took 1172 clocks
    assert abs(got - 1172) <= 0.01 * 1172
    # one lane per column: the softmax_lanes = 64 form (1126 clocks, tests/test_perf.py) is cheaper
    assert gemm_cycles(replace(z, softmax_lanes=64), 129, 129, 64, Epilogue.SOFTMAX, BSrc.ACT, pimm=True,
                       trans=True) == 1126
    # other epilogues do not depend on softmax_lanes
    for lanes in (64, 8):
        assert gemm_cycles(replace(z, softmax_lanes=lanes), 129, 576, 192, Epilogue.REQ8, BSrc.WBUF) == \
            gemm_cycles(z, 129, 576, 192, Epilogue.REQ8, BSrc.WBUF)
