"""Yosys resource estimate: the MAC array packs two int8 MACs per DSP48E2 (one per DSP48E1), JSON structure."""

from __future__ import annotations

import pytest

from vitaccel import toolchain
from vitaccel.rtlgen import estimate as est


def _need_yosys():
    if not toolchain.yosys().found:
        pytest.skip(toolchain.yosys().reason)


@pytest.mark.parametrize("family,pack", [("xcup", 2), ("xc7", 1)])
def test_mac_array_dsp_packing(family, pack):
    _need_yosys()
    rows, cols = 2, 4
    spec = est.BlockSpec("mac_array", "vitaccel_mac_array", ("vitaccel_mac_array.sv",), {})
    r = est.synth(spec, {"ROWS": rows, "COLS": cols, "PACK": pack}, family)
    assert r["counts"]["dsp"] == rows * cols // pack  # two int8 MACs share one DSP48E2 on UltraScale+


@pytest.mark.slow
def test_estimate_rtl_pynq_z2_structure():
    _need_yosys()
    res = est.estimate_rtl("pynq-z2")
    assert res["estimate_only"] is True and "ESTIMATE" in res["note"]
    assert res["synth_family"] == "xc7"
    assert set(res["blocks"]) >= {"mac_array", "epilogue", "softmax"}
    total = sum(b["dsp"] for b in res["blocks"].values())
    assert res["total"]["dsp"] == total
    assert res["budget"]["dsp"] == 220
