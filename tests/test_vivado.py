"""`vitaccel bitstream`: the generated Vivado build, checked in tclsh against stub Vivado commands.

Expectations are computed here independently of the generator: part / board parts / HP width straight from the
board YAML, the clock and config hash from the AcceleratorConfig, the number of AXI masters by parsing the HLS and
RTL tops with this file's own regular expressions. The stubs themselves are tested with broken scripts (mutations).
The real Vivado run is marked `vivado` and skipped here with a reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vitaccel.boards import board_dir, derive_accelerator_config, list_boards
from vitaccel.errors import ConfigError
from vitaccel.toolchain import repo_root
from vitaccel.vivado import ports
from vitaccel.vivado.generate import generate_build, stem, vivado_tcl_dir
from vitaccel.vivado.tclcheck import TclCheckError, check_build, run_stubs

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed (apt-get install tcl)")

HLS_TOP = repo_root() / "hls" / "src" / "vitaccel_top.cpp"
RTL_TOP = repo_root() / "hw" / "rtl" / "vitaccel_top.sv"
AXI_SIGNALS = ("AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID", "BREADY",
               "ARADDR", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY")


def board_yaml(name: str) -> dict:
    return yaml.safe_load((board_dir() / f"{name}.yaml").read_text())


def hls_bundles() -> list[str]:
    out: list[str] = []
    for line in HLS_TOP.read_text().splitlines():
        if "INTERFACE" in line and "m_axi" in line:
            b = re.search(r"bundle\s*=\s*(\w+)", line).group(1)
            if b not in out:
                out.append(b)
    return out


def rtl_masters(top: Path = RTL_TOP) -> list[str]:
    if not top.is_file():
        return [f"m_axi_{b}" for b in hls_bundles()]
    return sorted(set(re.findall(r"\b(m_axi_\w+?)_ARADDR\b", top.read_text())))


def expect_for(board: str, accel: str, masters: list[str] | None = None) -> dict:
    y = board_yaml(board)
    cfg = derive_accelerator_config(board)
    exp = {
        "part": y["part"],
        "board_parts": [y["board_part"], *y.get("board_part_fallbacks", [])],
        "ps_type": y["ps_type"],
        "clock_mhz": f"{cfg.clock_mhz:g}",
        "hp_width": y["hp_ports"]["width_bits"],
        "accel": accel,
    }
    if accel == "hls":
        exp["ip_vlnv"] = "vitaccel.org:hls:vitaccel_top:1.0"
        exp["hls_masters"] = [f"m_axi_{b}" for b in hls_bundles()]
        exp["n_masters"] = len(hls_bundles())
    else:
        exp["n_masters"] = len(masters if masters is not None else rtl_masters())
    return exp


def fake_ip_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "ip_repo"
    repo.mkdir(exist_ok=True)
    (repo / "component.xml").write_text("<placeholder/>\n")
    return repo


def gen(tmp_path: Path, board: str, accel: str = "rtl", **kw):
    if accel == "hls" and "ip_repo" not in kw:
        kw["ip_repo"] = fake_ip_repo(tmp_path)
    return generate_build(board, tmp_path / f"{board}-{accel}", accel=accel, jobs=3, **kw)


def stub_knobs(build) -> dict:
    return {"allow_missing_modules": 1} if build.accel == "rtl" and not build.rtl_top_present else {}


def calls_of(res) -> list[str]:
    return [c.name for c in res.calls]


@pytest.mark.parametrize("accel", ["rtl", "hls"])
@pytest.mark.parametrize("board", list_boards())
def test_every_board_generates_and_passes_the_stub_check(tmp_path, board, accel):
    b = gen(tmp_path, board, accel)
    exp = expect_for(board, accel)
    res = run_stubs(b.tcl, exp, stub_knobs(b))
    assert res.error is None and res.exit_code is None, (res.error, res.messages())
    names = calls_of(res)
    # order: project, then design, cells, connections, addresses, validation, wrapper, runs, reports
    first = {n: names.index(n) for n in set(names)}
    assert names[0] == "create_project"
    assert first["create_bd_design"] < first["create_bd_cell"] < first["connect_bd_intf_net"]
    assert first["assign_bd_address"] < first["validate_bd_design"] < first["make_wrapper"] < first["launch_runs"]
    assert names.index("open_run") > max(i for i, n in enumerate(names) if n == "wait_on_run")
    y = board_yaml(board)
    pset = " ".join(c.args for c in res.calls if c.name == "set_property")
    cfg = derive_accelerator_config(board)
    if y["ps_type"] == "zynq_ultra_ps_e":
        assert f"CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {cfg.clock_mhz:g}" in pset
        assert len(re.findall(r"CONFIG\.PSU__USE__S_AXI_GP[2-5] 1", pset)) == exp["n_masters"]
        assert re.findall(r"CONFIG\.PSU__SAXIGP[2-5]__DATA_WIDTH (\d+)", pset) == [str(y["hp_ports"]["width_bits"])] * \
            exp["n_masters"]
    else:
        assert f"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {cfg.clock_mhz:g}" in pset
        assert len(re.findall(r"CONFIG\.PCW_USE_S_AXI_HP[0-3] 1", pset)) == exp["n_masters"]
    # PYNQ: .bit and .hwh side by side with the same stem, plus the manifest
    out = b.out
    s = f"vitaccel_{board}"
    assert (out / f"{s}.bit").is_file() and (out / f"{s}.hwh").is_file() and (out / f"{s}.xsa").is_file()
    man = json.loads((out / f"{s}.json").read_text())
    assert man["status"] == "ok" and man["timing_met"] is True
    assert man["board"] == board and man["part"] == y["part"] and man["board_part"] == y["board_part"]
    assert man["config_hash"] == f"0x{cfg.config_hash():08x}"
    assert man["bit"] == f"{s}.bit" and man["hwh"] == f"{s}.hwh"
    assert (out / man["timing_summary"]).is_file() and (out / man["utilization"]).is_file()
    gman = json.loads((out / "manifest.json").read_text())
    assert gman["command"].endswith("vivado -mode batch -source build.tcl -nojournal -log vivado.log")


def test_add_files_are_the_rtl_sources_and_generated_packages(tmp_path):
    b = gen(tmp_path, "zcu102", "rtl")
    res = check_build(b, stub_knobs(b))
    added = " ".join(c.args for c in res.calls if c.name == "add_files").split()
    rtl = sorted(p.name for p in (repo_root() / "hw" / "rtl").glob("*.sv"))
    for name in rtl:
        assert any(a.endswith(f"/rtl/src/{name}") for a in added), name
    assert any(a.endswith("/rtl/gen/vitaccel_isa_pkg.sv") for a in added)
    assert any(a.endswith("/rtl/vitaccel_bd_top.v") for a in added)
    # the generated ISA package carries this board's config hash (from vitaccel.isa with the config)
    pkg = (b.out / "rtl" / "gen" / "vitaccel_isa_pkg.sv").read_text()
    assert f"{derive_accelerator_config('zcu102').config_hash():08X}" in pkg
    # the ISA constants the tcl reads come from vitaccel.isa.to_tcl
    isa = (b.out / "va_isa.tcl").read_text()
    assert f"CFG_AXI_DATA_BITS {board_yaml('zcu102')['hp_ports']['width_bits']}" in isa


@pytest.mark.parametrize("board", ["zcu102", "pynq-z2"])
def test_board_files_missing_falls_back_to_the_bare_part(tmp_path, board):
    b = gen(tmp_path, board, "rtl")
    res = run_stubs(b.tcl, expect_for(board, "rtl"), {**stub_knobs(b), "board_parts_installed": []})
    assert res.error is None and res.exit_code is None, (res.error, res.messages())
    assert not any(c.name == "set_property" and c.args.startswith("board_part") for c in res.calls)
    msg = " ".join(res.messages())
    assert "board part not found" in msg and board_yaml(board)["part"] in msg
    auto = [c.args for c in res.calls if c.name == "apply_bd_automation"]
    assert all("apply_board_preset 1" not in a and 'apply_board_preset "1"' not in a for a in auto)
    man = json.loads((b.out / f"{stem(board)}.json").read_text())
    assert man["board_part"] == "" and man["status"] == "ok"


def test_board_part_fallback_versions(tmp_path):
    y = board_yaml("zcu102")
    b = gen(tmp_path, "zcu102", "rtl")
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), {**stub_knobs(b),
                                                         "board_parts_installed": y["board_part_fallbacks"]})
    assert res.error is None
    assert f"board_part {y['board_part_fallbacks'][0]}" in " ".join(c.args for c in res.calls)
    other = "xilinx.com:zcu102:part0:3.1"
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), {**stub_knobs(b), "board_parts_installed": [other]})
    assert res.error is None
    assert f"board_part {other}" in " ".join(c.args for c in res.calls)
    assert any("another version of the same board" in m for m in res.messages())


def test_negative_slack_fails_without_copying(tmp_path):
    b = gen(tmp_path, "zcu102", "rtl")
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), {**stub_knobs(b), "wns": -0.3})
    assert res.error is None and res.exit_code == 1
    assert any(m.startswith("VITACCEL-ERROR: timing not met: WNS -0.3") for m in res.messages())
    assert not (b.out / "vitaccel_zcu102.bit").exists()
    assert (b.out / "timing_summary.rpt").is_file()
    man = json.loads((b.out / "vitaccel_zcu102.json").read_text())
    assert man["status"] == "failed" and man["timing_met"] is False
    # hold violations count too
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), {**stub_knobs(b), "whs": -0.01})
    assert res.exit_code == 1


def test_allow_timing_failure_copies_and_marks_the_manifest(tmp_path):
    b = gen(tmp_path, "pynq-z2", "rtl", allow_timing_failure=True)
    res = run_stubs(b.tcl, expect_for("pynq-z2", "rtl"), {**stub_knobs(b), "wns": -0.05})
    assert res.error is None and res.exit_code is None
    man = json.loads((b.out / "vitaccel_pynq-z2.json").read_text())
    assert man["status"] == "timing_failed" and (b.out / "vitaccel_pynq-z2.bit").is_file()


@pytest.mark.parametrize("run", ["synth_1", "impl_1"])
def test_failed_run_reports_its_log(tmp_path, run):
    b = gen(tmp_path, "kv260", "rtl")
    res = run_stubs(b.tcl, expect_for("kv260", "rtl"), {**stub_knobs(b), "run_fail": run})
    assert res.error is None and res.exit_code == 1
    err = [m for m in res.messages() if m.startswith("VITACCEL-ERROR")]
    assert err and f"{run} did not complete" in err[0] and f"{run}/runme.log" in err[0]


def test_hwh_found_in_older_srcs_layout_and_missing_is_an_error(tmp_path):
    b = gen(tmp_path, "ultra96v2", "rtl")
    res = run_stubs(b.tcl, expect_for("ultra96v2", "rtl"), {**stub_knobs(b), "hwh_layout": "srcs"})
    assert res.error is None and res.exit_code is None
    assert (b.out / "vitaccel_ultra96v2.hwh").is_file()
    shutil.rmtree(b.out / "vivado_project")
    (b.out / "vitaccel_ultra96v2.hwh").unlink()
    res = run_stubs(b.tcl, expect_for("ultra96v2", "rtl"), {**stub_knobs(b), "hwh_layout": "none"})
    assert res.exit_code == 1 and any("no vitaccel_bd.hwh" in m for m in res.messages())


def test_pl_clock_the_ps_cannot_make_is_reported_and_propagated(tmp_path):
    b = gen(tmp_path, "ultra96v2", "rtl")
    res = run_stubs(b.tcl, expect_for("ultra96v2", "rtl"), {**stub_knobs(b), "act_mhz": "187.498"})
    assert res.error is None and res.exit_code is None
    assert any("WARNING: PL clock requested 200 MHz, the PS generates 187.498 MHz" in m for m in res.messages())
    # module reference clock pin gets the PS clock's real frequency (the stub's validate checks it matches)
    assert any(c.name == "set_property" and c.args == "CONFIG.FREQ_HZ 187498000 /acc/ap_clk" for c in res.calls)
    man = json.loads((b.out / "vitaccel_ultra96v2.json").read_text())
    assert man["clock_mhz_actual"] == pytest.approx(187.498)


def test_hls_ip_checks(tmp_path):
    # an IP exported for a board with another HP width is refused
    b = gen(tmp_path, "zcu102", "hls")
    res = run_stubs(b.tcl, expect_for("zcu102", "hls"), {"hls_width": 64})
    assert res.exit_code == 1 and any("64 bits wide but the board config gives 128" in m for m in res.messages())
    # no IP repository: the script says what to run
    b = generate_build("zcu102", tmp_path / "norepo", accel="hls", ip_repo=tmp_path / "nothing")
    assert any("vitaccel hls --board zcu102 --run" in n for n in b.notes)
    res = run_stubs(b.tcl, expect_for("zcu102", "hls"))
    assert res.exit_code == 1 and any("vitaccel hls --board zcu102 --run" in m for m in res.messages())
    # VITACCEL_IP_REPO overrides the generated path at run time
    res = run_stubs(b.tcl, expect_for("zcu102", "hls"), env={"VITACCEL_IP_REPO": str(fake_ip_repo(tmp_path))})
    assert res.error is None and res.exit_code is None


def test_stop_after_bd_and_jobs_override(tmp_path):
    b = gen(tmp_path, "zcu104", "rtl")
    res = run_stubs(b.tcl, expect_for("zcu104", "rtl"), stub_knobs(b), env={"VITACCEL_STOP_AFTER": "bd",
                                                                            "VITACCEL_JOBS": "7"})
    assert res.error is None and "launch_runs" not in calls_of(res) and "make_wrapper" in calls_of(res)
    assert json.loads((b.out / "vitaccel_zcu104.json").read_text())["status"] == "block_design"
    res = run_stubs(b.tcl, expect_for("zcu104", "rtl"), stub_knobs(b), env={"VITACCEL_JOBS": "7"})
    assert [c.args for c in res.calls if c.name == "launch_runs"] == ["synth_1 -jobs 7",
                                                                      "impl_1 -to_step write_bitstream -jobs 7"]


# ------------------------------------------------------------------ HP port facts: board config + schema only
@pytest.mark.parametrize("board", list_boards())
def test_hp_port_count_and_widths_come_from_the_board_config_and_schema(tmp_path, board):
    """build.tcl carries VA(hp_ports) = hp_ports.count and VA(hp_widths) = the schema's width_bits values up to the
    board's width (read from the JSON schema here); the PS tcl files type no count or width list of their own."""
    y = board_yaml(board)
    enum = json.loads((board_dir() / "board.schema.json").read_text())["properties"]["hp_ports"]["properties"][
        "width_bits"]["enum"]
    widths = " ".join(str(w) for w in sorted(enum) if w <= y["hp_ports"]["width_bits"])
    text = gen(tmp_path, board, "rtl").tcl.read_text()
    assert f"set VA(hp_ports) {y['hp_ports']['count']}\n" in text
    assert f"set VA(hp_widths) {{{widths}}}\n" in text
    for ps in ("ps_zynq_ultra_ps_e.tcl", "ps_processing_system7.tcl"):
        src = (vivado_tcl_dir() / ps).read_text()
        assert re.search(r"VA_PS\((max_hp|hp_widths)\)\s+[{\d]", src) is None, f"{ps} types an HP fact"


@pytest.mark.parametrize("old,new,needle", [
    ("set VA(hp_widths) {32 64 128}", "set VA(hp_widths) {32 64}", "HP port width 128 bits is not one of 32 64"),
    ("set VA(hp_ports) 4", "set VA(hp_ports) 3", "4 AXI masters but the MPSoC has 3 HP ports"),
], ids=["widths", "count"])
def test_ps_tcl_checks_use_the_generated_hp_facts(tmp_path, old, new, needle):
    b = gen(tmp_path, "zcu102", "rtl")
    text = b.tcl.read_text()
    assert old in text
    b.tcl.write_text(text.replace(old, new))
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), stub_knobs(b))
    found = (res.error or "") + " ".join(res.messages())
    assert (res.error is not None or res.exit_code) and needle in found, found


# ------------------------------------------------------------------ the stubs reject broken scripts
MUTATIONS = [
    ("set VA(part) {xczu9eg-ffvb1156-2-e}", "set VA(part) {xczu9eg-ffvb1156-1-e}",
     "create_project -part xczu9eg-ffvb1156-1-e, board config says xczu9eg-ffvb1156-2-e"),
    ("set VA(hp_width) $VA_ISA(CFG_AXI_DATA_BITS)", "set VA(hp_width) 64", "board config gives 64"),
    ("set VA(clock_mhz) 300", "set VA(clock_mhz) 250", "PL clock request"),
    ("set VA(stem) vitaccel_zcu102", "set VA(stem) vitaccel_zcu102\nset VA(rtl_files) [concat $VA(rtl_files) "
     "[file join $here rtl src missing.sv]]", "missing.sv"),
]


@pytest.mark.parametrize("old,new,needle", MUTATIONS, ids=["part", "hp_width", "clock", "missing_file"])
def test_stubs_reject_wrong_facts(tmp_path, old, new, needle):
    b = gen(tmp_path, "zcu102", "rtl")
    text = b.tcl.read_text()
    assert old in text
    b.tcl.write_text(text.replace(old, new))
    # both parts "installed", so the stub's own part check (not the script's get_parts check) must catch it
    knobs = {**stub_knobs(b), "parts_installed": ["xczu9eg-ffvb1156-2-e", "xczu9eg-ffvb1156-1-e"]}
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), knobs)
    found = (res.error or "") + " ".join(res.messages())
    assert (res.error is not None or res.exit_code) and needle in found, found


HELPER_MUTATIONS = [
    ("    validate_bd_design\n", "", "before validate_bd_design"),
    ("connect_bd_net [get_bd_pins acc/$VA(interrupt)] [get_bd_pins ps/[dict get $ps irq]]", "",
     "interrupt"),
    ("lappend clocked [get_bd_pins $name/aclk] [get_bd_pins ps/$hp_clk]", "lappend clocked [get_bd_pins $name/aclk]",
     "saxihp0_fpd_aclk unconnected"),
    ("    assign_bd_address\n", "", "does not reach DDR"),
    ("CONFIG.PSU__SAXIGP${gp}__DATA_WIDTH $VA(hp_width)", "CONFIG.PSU__SAXIGP${gp}__DATA_WIDTH 64",
     "S_AXI_HP0_FPD is 64 bits, board config says 128"),
    ("CONFIG.PSU__USE__M_AXI_GP1 0", "CONFIG.PSU__USE__M_AXI_GP1 1", "M_AXI_HPM1_FPD is enabled but unconnected"),
    ("launch_runs synth_1 -jobs $VA(jobs)\n    va_wait_run synth_1", "va_wait_run synth_1", "before launch_runs"),
]


@pytest.mark.parametrize("old,new,needle", HELPER_MUTATIONS,
                         ids=["no_validate", "no_irq", "hp_clock", "no_address", "hp_width", "hpm1_left_on",
                              "no_launch"])
def test_stubs_reject_broken_flow(tmp_path, old, new, needle):
    b = gen(tmp_path, "zcu102", "rtl")
    for name in ("vitaccel_bd.tcl", "ps_zynq_ultra_ps_e.tcl"):
        p = b.out / "tcl" / name
        text = p.read_text()
        if old in text:
            p.write_text(text.replace(old, new, 1))
            break
    else:
        pytest.fail(f"mutation target not found: {old!r}")
    res = run_stubs(b.tcl, expect_for("zcu102", "rtl"), stub_knobs(b))
    found = (res.error or "") + " ".join(res.messages())  # a stub violation or the script's own check
    assert (res.error is not None or res.exit_code) and needle in found, found


# ------------------------------------------------------------------ the accelerator port list
def test_expected_port_list_follows_the_hls_top_and_register_map():
    cfg = derive_accelerator_config("zcu102")
    intf = ports.accel_interface(cfg)
    assert list(intf.masters) == [f"m_axi_{b}" for b in hls_bundles()]
    names = {p.name: p for p in ports.rtl_ports(intf)}
    for m in intf.masters:
        for s in AXI_SIGNALS:
            assert f"{m}_{s}" in names
        assert names[f"{m}_WDATA"].width == board_yaml("zcu102")["hp_ports"]["width_bits"]
        assert names[f"{m}_WDATA"].direction == "out" and names[f"{m}_RDATA"].direction == "in"
    # s_axi_control address bits cover the register map (0x00 .. last register)
    from vitaccel.isa import register_map

    last = max(r.offset for r in register_map())
    assert 2 ** names["s_axi_control_AWADDR"].width > last
    assert names["ap_clk"].direction == "in" and names["interrupt"].direction == "out"


def _write_top(path: Path, masters: list[str], data: int, drop: str | None = None) -> None:
    """A minimal SystemVerilog top with the given masters (independent of vitaccel.vivado.ports)."""
    decl = ["input logic ap_clk", "input logic ap_rst_n", "output logic interrupt"]
    lite = {"AWADDR": ("input", 8), "AWVALID": ("input", 1), "AWREADY": ("output", 1), "WDATA": ("input", 32),
            "WSTRB": ("input", 4), "WVALID": ("input", 1), "WREADY": ("output", 1), "BRESP": ("output", 2),
            "BVALID": ("output", 1), "BREADY": ("input", 1), "ARADDR": ("input", 8), "ARVALID": ("input", 1),
            "ARREADY": ("output", 1), "RDATA": ("output", 32), "RRESP": ("output", 2), "RVALID": ("output", 1),
            "RREADY": ("input", 1)}
    for s, (d, w) in lite.items():
        decl.append(f"{d} logic [{w - 1}:0] s_axi_control_{s}" if w > 1 else f"{d} logic s_axi_control_{s}")
    flip = {"input": "output", "output": "input"}
    for m in masters:
        for s, (d, w) in lite.items():
            w = "DATA_W" if s in ("WDATA", "RDATA") else ("DATA_W/8" if s == "WSTRB" else
                                                          ("ADDR_W" if s.endswith("ADDR") else w))
            rng = f"[{w}-1:0] " if w != 1 else ""
            decl.append(f"{flip[d]} logic {rng}{m}_{s}")
        for c in ("AW", "AR"):
            decl += [f"output logic [7:0] {m}_{c}LEN", f"output logic [2:0] {m}_{c}SIZE",
                     f"output logic [1:0] {m}_{c}BURST"]
        decl += [f"input logic {m}_RLAST", f"output logic {m}_WLAST"]
    decl = [d for d in decl if not (drop and d.endswith(" " + drop))]
    path.write_text("module vitaccel_top #(\n  parameter logic [31:0] CONFIG_HASH = 32'h0,\n  parameter int DATA_W = "
                    f"{data},\n  parameter int ADDR_W = 40\n) (\n  " + ",\n  ".join(decl) + "\n);\nendmodule\n")


def test_rtl_top_with_its_own_masters_drives_the_block_design(tmp_path):
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    _write_top(rtl / "vitaccel_top.sv", ["m_axi_a", "m_axi_b"], 32)
    b = generate_build("pynq-z2", tmp_path / "out", accel="rtl", rtl_dir=rtl, jobs=1)
    assert b.rtl_top_present and list(b.intf.masters) == ["m_axi_a", "m_axi_b"]
    shell = (b.out / "rtl" / "vitaccel_bd_top.v").read_text()
    # DATA_W is set from the board (PYNQ-Z2: 64-bit HP ports) and CONFIG_HASH from the AcceleratorConfig
    cfg = derive_accelerator_config("pynq-z2")
    assert f".DATA_W({cfg.axi_data_bits})" in shell and f".CONFIG_HASH(32'h{cfg.config_hash():08X})" in shell
    # every top parameter comes from the AcceleratorConfig; the block design uses 64-bit AXI addresses
    assert ".ADDR_W(64)" in shell
    assert "output wire [63:0] m_axi_a_WDATA" in shell and "output wire [63:0] m_axi_b_ARADDR" in shell
    res = check_build(b)  # no allow_missing_modules: the shell's vitaccel_top is defined by an added source
    assert res.exit_code is None
    assert sum(1 for c in res.calls if c.name == "connect_bd_intf_net" and "/ps/S_AXI_HP" in c.args) == 2


def test_rtl_top_that_cannot_be_connected_is_refused(tmp_path):
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    _write_top(rtl / "vitaccel_top.sv", ["m_axi_gmem"], 128, drop="ap_rst_n")
    with pytest.raises(ConfigError, match="no reset port ap_rst_n"):
        generate_build("zcu102", tmp_path / "out", rtl_dir=rtl)
    _write_top(rtl / "vitaccel_top.sv", ["m_axi_gmem"], 128, drop="m_axi_gmem_BREADY")
    with pytest.raises(ConfigError, match="m_axi_gmem lacks BREADY"):
        generate_build("zcu102", tmp_path / "out", rtl_dir=rtl)
    _write_top(rtl / "vitaccel_top.sv", ["m_axi_gmem"], 128, drop="m_axi_gmem_RLAST")
    with pytest.raises(ConfigError, match="m_axi_gmem lacks RLAST"):
        generate_build("zcu102", tmp_path / "out", rtl_dir=rtl)


def test_missing_rtl_top_is_caught_by_the_stub_elaboration(tmp_path):
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / "vitaccel_ctrl.sv").write_text("module vitaccel_ctrl ();\nendmodule\n")
    b = generate_build("zcu102", tmp_path / "out", rtl_dir=rtl)
    assert not b.rtl_top_present and any("module reference" in n for n in b.notes)
    # the shell then follows the expected list (HLS names)
    assert list(b.intf.masters) == [f"m_axi_{x}" for x in hls_bundles()]
    with pytest.raises(TclCheckError, match="instantiates vitaccel_top, which no added source defines"):
        check_build(b)


@pytest.mark.skipif(not RTL_TOP.is_file(), reason="hw/rtl/vitaccel_top.sv not written yet")
def test_shell_matches_the_real_rtl_top(tmp_path):
    b = gen(tmp_path, "zcu102", "rtl")
    shell = (b.out / "rtl" / "vitaccel_bd_top.v").read_text()
    top = re.sub(r"/\*.*?\*/|//[^\n]*", "", RTL_TOP.read_text(), flags=re.DOTALL)
    header = top[top.index("module vitaccel_top"):top.index(");")]
    top_ports = set(re.findall(r"(?:input|output)\s+logic\s+(?:\[[^\]]*\]\s*)?(\w+)", header))
    shell_ports = set(re.findall(r"(?:input|output)\s+wire\s+(?:\[[^\]]*\]\s*)?(\w+)", shell))
    assert top_ports == shell_ports
    assert set(re.findall(r"\.(\w+)\(\1\)", shell)) == top_ports
    assert list(b.intf.masters) == rtl_masters()


# ------------------------------------------------------------------ CLI
def _path_without_vivado() -> str:
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not (Path(p) / "vivado").exists())


def test_cli_without_vivado(tmp_path, monkeypatch):
    from vitaccel.vivado.cli import bitstream_cmd

    monkeypatch.setenv("PATH", _path_without_vivado())
    runner = CliRunner()
    res = runner.invoke(bitstream_cmd, ["--board", "pynq-z2", "--out", str(tmp_path / "a"), "--no-run"])
    assert res.exit_code == 0, res.output
    assert "vivado not found on PATH" in res.output
    assert f"cd {tmp_path / 'a'} && vivado -mode batch -source build.tcl -nojournal -log vivado.log" in res.output
    assert "tcl check (tclsh + stub Vivado commands): ok" in res.output
    # the stub check ran on a scratch copy: no fake bitstream or status file in the user's folder
    assert not list((tmp_path / "a").glob("*.bit")) and not list((tmp_path / "a").glob("vitaccel_*.json"))
    res = runner.invoke(bitstream_cmd, ["--board", "pynq-z2", "--out", str(tmp_path / "r"), "--accel", "rtl",
                                        "--no-run"])
    assert res.exit_code == 0 and "verified in simulation only" in res.output and "timing closure" in res.output
    res = runner.invoke(bitstream_cmd, ["--board", "pynq-z2", "--out", str(tmp_path / "b"), "--run"])
    assert res.exit_code != 0 and "vivado is not on PATH" in str(res.exception)
    res = runner.invoke(bitstream_cmd, ["--board", "zcu102", "--out", str(tmp_path / "c"), "--accel", "hls",
                                        "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["ran"] is False and summary["masters"] == [f"m_axi_{x}" for x in hls_bundles()]


def test_cli_runs_vivado_and_reports_its_errors(tmp_path, monkeypatch):
    """A stand-in `vivado` on PATH that executes build.tcl under the stubs: the CLI's run path for real."""
    from vitaccel.boards import load_board
    from vitaccel.vivado.cli import bitstream_cmd
    from vitaccel.vivado.generate import generate_build, vivado_tcl_dir
    from vitaccel.vivado.tclcheck import expectations, write_expect

    bindir = tmp_path / "bin"
    bindir.mkdir()
    # the stand-in vivado checks build.tcl against the board's expectations, written here independently of the CLI
    expect = write_expect(tmp_path / "expect.tcl", expectations(generate_build(
        load_board("pynq-z2"), tmp_path / "expect_build", accel="hls", ip_repo=fake_ip_repo(tmp_path))))
    fake = bindir / "vivado"
    fake.write_text(f"#!/bin/sh\nexec {shutil.which('tclsh')} {vivado_tcl_dir() / 'vivado_stubs.tcl'} "
                    f"\"$PWD/build.tcl\" \"{expect}\" > vivado.log 2>&1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{_path_without_vivado()}")
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(bitstream_cmd, ["--board", "pynq-z2", "--out", str(out), "--accel", "hls", "--ip-repo",
                                        str(fake_ip_repo(tmp_path)), "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["ran"] is True and summary["result"]["status"] == "ok"
    assert (out / "vitaccel_pynq-z2.bit").is_file() and (out / "vitaccel_pynq-z2.hwh").is_file()
    # a failing run: the CLI raises with the script's own error line
    fake.write_text(fake.read_text().replace("exec ", f"echo 'set ::stub(wns) -1.5' >> \"{expect}\"\n"
                                              "exec ", 1))
    res = runner.invoke(bitstream_cmd, ["--board", "pynq-z2", "--out", str(out), "--accel", "hls", "--ip-repo",
                                        str(fake_ip_repo(tmp_path)), "--no-check-tcl"])
    assert res.exit_code != 0 and "timing not met: WNS -1.5" in str(res.exception), res.output


# ------------------------------------------------------------------ the real tool
@pytest.mark.vivado
@pytest.mark.skipif(shutil.which("vivado") is None, reason="vivado not on PATH: the real Vivado run is skipped here "
                    "(run `vitaccel bitstream --board pynq-z2 --run` on a machine with Vivado)")
def test_real_vivado_block_design(tmp_path):
    b = gen(tmp_path, "pynq-z2", "rtl")
    env = {**os.environ, "VITACCEL_STOP_AFTER": "bd"}
    proc = subprocess.run(b.command(), cwd=b.out, env=env, check=False, timeout=3600)
    assert proc.returncode == 0, (b.out / "vivado.log").read_text()[-3000:]
    assert json.loads((b.out / "vitaccel_pynq-z2.json").read_text())["status"] == "block_design"


@pytest.mark.skipif(shutil.which("iverilog") is None or not RTL_TOP.is_file(),
                    reason="needs iverilog and hw/rtl/vitaccel_top.sv")
@pytest.mark.parametrize("board", ["zcu102", "pynq-z2"])
def test_shell_elaborates_with_the_rtl(tmp_path, board):
    """The Verilog shell + generated packages + hw/rtl elaborate in Icarus (it reports port width mismatches) for 128 and 64 bits."""
    b = gen(tmp_path, board, "rtl")
    files = [str(b.out / f) for f in b.rtl_files]
    proc = subprocess.run(["iverilog", "-g2012", "-Wimplicit", "-Wportbind", "-o", str(tmp_path / "a.vvp"), "-s",
                           "vitaccel_bd_top", *files], capture_output=True, text=True, check=False, timeout=120)
    problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "sorry: constant selects" not in ln]
    assert proc.returncode == 0 and not problems, "\n".join(problems)
