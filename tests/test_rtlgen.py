"""rtlgen: the generated SystemVerilog packages and table files carry the golden constants (never retyped)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vitaccel.golden import fixedpoint as fp
from vitaccel.golden.ops import gelu_table
from vitaccel.golden.softmax import exp2_tables
from vitaccel.rtlgen.params import generated_sources, isa_package, numerics_package
from vitaccel.rtlgen.tables import gelu_mem, mem_text, read_mem


def _localparams(text: str) -> dict[str, int]:
    out = {}
    for m in re.finditer(
        r"localparam\s+(?:int\s+|(?:logic\s*)?\[[^\]]+\]\s*)(\w+)\s*=\s*(?:(\d+)'h([0-9a-fA-F_]+)|32'd(\d+)|(\d+));",
        text,
    ):
        name = m.group(1)
        if m.group(3) is not None:
            out[name] = int(m.group(3).replace("_", ""), 16)
        else:
            out[name] = int(m.group(4) or m.group(5))
    return out


def test_numerics_package_matches_fixedpoint():
    params = _localparams(numerics_package())
    for name in ("ACT_BITS", "WEIGHT_BITS", "ACC_BITS", "RESIDUAL_BITS", "MULT_BITS", "SHIFT_BITS", "MAX_SHIFT",
                 "SM_Z_BITS", "SM_FRAC_BITS", "SM_SUM_BITS", "LN_NORM_BITS", "LN_RECIP_SHIFT", "GATE_BITS"):
        assert params[name] == getattr(fp, name), name


def test_softmax_tables_in_package_decode_to_golden():
    params = _localparams(numerics_package())
    hi, lo = exp2_tables()
    for name, table in (("SM_T_HI", hi), ("SM_T_LO", lo)):
        word = params[name]
        decoded = [(word >> (16 * i)) & 0xFFFF for i in range(len(table))]
        assert decoded == table.tolist()


def test_isa_package_has_epilogue_codes_and_icarus_friendly_types():
    from vitaccel.isa import Epilogue

    text = isa_package()
    assert "int unsigned" not in text  # Icarus 11 rejects `localparam int unsigned`
    params = _localparams(text)
    for e in Epilogue:
        assert params[f"EPI_{e.name}"] == int(e)


def test_gelu_mem_roundtrip(tmp_path):
    path = gelu_mem(0.07, 0.02, tmp_path / "g.mem")
    got = read_mem(path, 8)
    np.testing.assert_array_equal(got, gelu_table(0.07, 0.02))
    assert len(path.read_text().split()) == 256


def test_mem_text_twos_complement():
    assert mem_text(np.array([-1, 0, 127, -128]), 8) == "ff\n00\n7f\n80\n"


def test_generated_sources_are_stable():
    a = generated_sources()
    mtimes = [p.stat().st_mtime_ns for p in a]
    b = generated_sources()
    assert a == b and mtimes == [p.stat().st_mtime_ns for p in b]  # unchanged content is not rewritten


def test_top_parameters_reject_an_act_window_narrower_than_a_beat_plus_16() -> None:
    """vitaccel_dma cuts STORE beats out of one ACT window (2 x array_cols bytes): it must hold one AXI beat at any
    16-byte offset. Every board's derived configuration does; a too-wide AXI port on a narrow array is refused."""
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.errors import ConfigError
    from vitaccel.rtlgen.params import top_parameters

    for board in ("zcu102", "zcu104", "kv260", "ultra96v2", "pynq-z2"):
        top_parameters(derive_accelerator_config(board))
    top_parameters(derive_accelerator_config("zcu102", {"array_cols": 32, "axi_data_bits": 256}))  # 64 >= 48
    with pytest.raises(ConfigError, match=r"axi_data_bits = 512 with array_cols = 16.*array_cols >= 64"):
        top_parameters(derive_accelerator_config("zcu102", {"array_cols": 16, "axi_data_bits": 512}))
