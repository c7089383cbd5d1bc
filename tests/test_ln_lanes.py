"""AcceleratorConfig.ln_lanes: derivation, override checks, and its consumers (RTL top parameter, cycle model,
resource estimate). Expected values are worked out by hand from the rules in the docstrings / docs/isa.md §7."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vitaccel import toolchain
from vitaccel.boards import derive_accelerator_config, list_boards
from vitaccel.errors import ConfigError
from vitaccel.perf.timing import layernorm_cycles
from vitaccel.rtlgen.estimate import block_specs
from vitaccel.rtlgen.params import TOP_PARAM_SOURCES, top_parameters


def _expected_default(rows: int, cols: int) -> int:
    """min(vector lanes, 16); vector lanes = C for R >= 8, else C / 4 (docs/isa.md §7)."""
    return min(cols if rows >= 8 else cols // 4, 32)


@pytest.mark.parametrize("board", list_boards())
def test_default_ln_lanes_per_board(board: str) -> None:
    cfg = derive_accelerator_config(board)
    assert cfg.ln_lanes == _expected_default(cfg.array_rows, cfg.array_cols)
    assert cfg.ln_lanes <= cfg.array_cols and cfg.ln_lanes & (cfg.ln_lanes - 1) == 0


def test_zcu102_has_32_lanes() -> None:
    assert derive_accelerator_config("zcu102").ln_lanes == 32  # 33 x 64 array: 64 vector lanes, capped at 32


@pytest.mark.parametrize(("rows", "cols", "lanes"), [(4, 16, 4), (2, 32, 8), (8, 16, 16), (16, 128, 32), (1, 8, 2)])
def test_default_follows_overridden_array_shape(rows: int, cols: int, lanes: int) -> None:
    cfg = derive_accelerator_config("zcu102", {"array_rows": rows, "array_cols": cols})
    assert cfg.ln_lanes == lanes


@pytest.mark.parametrize("lanes", [1, 2, 16, 64])
def test_override_accepted(lanes: int) -> None:
    cfg = derive_accelerator_config("zcu102", {"ln_lanes": lanes})
    assert cfg.ln_lanes == lanes
    assert cfg.config_hash() != derive_accelerator_config("zcu102").config_hash()  # ln_lanes is hashed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ln_lanes": 128}, r"ln_lanes=128: expected a power of two <= array_cols \(64\)"),
        ({"ln_lanes": 32, "array_cols": 16}, r"ln_lanes=32: expected a power of two <= array_cols \(16\)"),
        ({"ln_lanes": 12}, r"ln_lanes=12: expected a power of two"),
        ({"ln_lanes": 0}, r"ln_lanes=0: expected a positive integer"),
        ({"ln_lanes": True}, r"ln_lanes=True: expected a positive integer"),
        ({"ln_lanes": 16.0}, r"ln_lanes=16.0: expected a positive integer"),
    ],
)
def test_bad_override_is_config_error(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        derive_accelerator_config("zcu102", overrides)


def test_top_parameter_from_config() -> None:
    assert TOP_PARAM_SOURCES["LN_LANES"] == "ln_lanes"
    for lanes in (16, 4):
        cfg = derive_accelerator_config("zcu102", {"ln_lanes": lanes})
        assert top_parameters(cfg)["LN_LANES"] == lanes
    with pytest.raises(ConfigError, match="ln_lanes = 128"):
        top_parameters(replace(derive_accelerator_config("zcu102"), ln_lanes=128))
    with pytest.raises(ConfigError, match="ln_lanes = 24"):
        top_parameters(replace(derive_accelerator_config("zcu102"), ln_lanes=24))


def test_top_declares_every_sourced_parameter() -> None:
    from vitaccel.rtlgen.rtlsim import top_parameter_names

    declared = top_parameter_names(toolchain.rtl_dir() / "vitaccel_top.sv")
    assert "LN_LANES" in declared
    assert set(TOP_PARAM_SOURCES) <= set(declared)


def test_layernorm_cycles_use_ln_lanes() -> None:
    """rows * P + max(P + LN_PIPE - 1, ceil(C/GC) + ceil(C/BC) + 8), P = ceil(cols / L), GC = min(L, COLS/2),
    BC = min(L, COLS/4), LN_PIPE = 40 (docs/isa.md §7)."""
    base = replace(derive_accelerator_config("zcu102"), ln_lanes=16)  # 64 columns
    # 16 lanes, 129 x 192: P = 12; max(12 + 39, 12 + 12 + 8) = 51
    assert layernorm_cycles(base, 129, 192) == 129 * 12 + 51
    # 64 lanes: P = 3, GC = 32, BC = 16: max(42, 6 + 12 + 8) = 42
    assert layernorm_cycles(replace(base, ln_lanes=64), 129, 192) == 129 * 3 + 42
    # 4 lanes, cols 5 (not a multiple): P = 2, GC = BC = 4: max(41, 2 + 2 + 8) = 41
    assert layernorm_cycles(replace(base, ln_lanes=4), 3, 5) == 3 * 2 + 41
    # 16 lanes, 768 wide: P = 48, GC = BC = 16: max(87, 48 + 48 + 8 = 104) = 104 (gamma / beta load shows)
    assert layernorm_cycles(base, 2, 768) == 2 * 48 + 104


def test_estimate_scales_layernorm_to_ln_lanes() -> None:
    for lanes in (16, 1):
        cfg = derive_accelerator_config("zcu102", {"ln_lanes": lanes})
        spec = next(s for s in block_specs(cfg) if s.name == "layernorm")
        assert (spec.scale_param, spec.scale_to) == ("LANES", lanes)
    # the LayerNorm sequencer's control block is synthesized with the configured lane count too
    ctl = next(s for s in block_specs(derive_accelerator_config("zcu102", {"ln_lanes": 8})) if s.name == "ln_seq")
    assert ctl.params["LANES"] == 8 and "vitaccel_layernorm.sv" in ctl.blackbox
