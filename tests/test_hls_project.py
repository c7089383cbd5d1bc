"""`vitaccel hls`: project generation for zcu102 and pynq-z2, the tclsh stub check of run_hls.tcl (and that the
stubs reject broken scripts), the vitis-run config file, the generated headers, and the generated project's
C++ testbench compiled with g++ and run (C-simulation of the exact files Vitis HLS would get)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from vitaccel.boards import derive_accelerator_config, load_board
from vitaccel.golden import fixedpoint as fp
from vitaccel.hlsgen.project import TOP, clock_period_ns, find_vendor_tool, generate_project
from vitaccel.hlsgen.tclcheck import TclCheckError, check_tcl, run_stub_check
from vitaccel.hlsgen.toolchain import build_dir, build_shared_library

BOARDS = ["zcu102", "pynq-z2"]
needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")


@pytest.fixture(scope="module", params=BOARDS)
def project(request):
    # a stable folder per xdist worker, so the compiled testbench is reused from the build cache
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return generate_project(request.param, build_dir() / "test-hls" / worker / request.param)


def test_project_files_and_manifest(project):
    out = project.out
    for rel in [*project.syn_files, *project.tb_files, *project.headers, *project.generated, *project.tb_data]:
        assert (out / rel).is_file(), rel
    man = json.loads((out / "manifest.json").read_text())
    board = load_board(project.board.name)
    assert man["part"] == board.part
    assert man["top"] == TOP
    assert man["accelerator"] == derive_accelerator_config(board).to_dict()
    assert "src/vitaccel_top.cpp" in project.syn_files and "tb/tb_vitaccel.cpp" in project.tb_files


def test_generated_headers_come_from_python(project):
    gen = project.out / "generated"
    params = (gen / "va_params.h").read_text()
    cfg = project.cfg
    defines = dict(re.findall(r"#define (VA_\w+) (\w+)", params))
    assert int(defines["VA_ARRAY_ROWS"]) == cfg.array_rows
    assert int(defines["VA_ARRAY_COLS"]) == cfg.array_cols
    assert int(defines["VA_AXI_DATA_BITS"]) == cfg.axi_data_bits
    assert int(defines["VA_ACT_BITS"]) == fp.ACT_BITS and int(defines["VA_MULT_BITS"]) == fp.MULT_BITS
    assert int(defines["VA_CONFIG_HASH"].rstrip("u")) == cfg.config_hash()
    from vitaccel import isa

    assert (gen / "va_isa.h").read_text() == isa.to_c_header(cfg)
    # softmax tables are golden's exp2_tables, value for value
    from vitaccel.golden.softmax import exp2_tables

    tables = (gen / "va_tables.h").read_text()
    hi = [int(v) for v in re.search(r"VA_SM_T_HI\[64\] = \{(.*?)\};", tables, re.S).group(1).replace(",", " ").split()]
    assert hi == [int(v) for v in exp2_tables()[0]]
    # m_axi depths are the testbench data sizes in AXI words (not 1)
    depths = dict(re.findall(r"#define (VA_DEPTH_\w+) (\d+)", (gen / "va_depths.h").read_text()))
    wb = cfg.axi_data_bits // 8
    assert int(depths["VA_DEPTH_IMAGE"]) == -(-(project.out / "tb_data" / "image.bin").stat().st_size // wb)
    assert int(depths["VA_DEPTH_IMAGE"]) > 1


def test_no_retyped_constants_in_sources():
    """The C++ sources take encodings and widths from the generated headers, not from literals."""
    from vitaccel.hlsgen.toolchain import hls_source_dir

    for path in (hls_source_dir() / "include").glob("*.h"):
        text = path.read_text()
        assert "0x56544131" not in text and "0x49415456" not in text, path  # ACCEL_ID, IMAGE_MAGIC
        assert not re.search(r"ap_int<8>|ap_int<32>|ap_uint<16>\s+mult", text), path


@needs_tclsh
def test_tcl_stub_check_passes(project):
    calls = check_tcl(project)
    names = [c.name for c in calls]
    for cmd in ("open_project", "set_top", "add_files", "open_solution", "set_part", "create_clock", "csim_design",
                "csynth_design", "cosim_design", "export_design", "exit"):
        assert cmd in names, cmd
    assert names.index("open_project") < names.index("set_top") < names.index("open_solution")
    assert names.index("set_part") < names.index("csynth_design") < names.index("cosim_design")
    part = next(c for c in calls if c.name == "set_part").args
    assert part == project.board.part
    clock = next(c for c in calls if c.name == "create_clock").args
    assert f"-period {clock_period_ns(project.cfg.clock_mhz)}" in clock
    assert abs(float(clock_period_ns(project.cfg.clock_mhz)) - 1000.0 / project.board.pl_clock_mhz) < 1e-3
    export = next(c for c in calls if c.name == "export_design").args
    assert "-format ip_catalog" in export
    assert sum(1 for c in calls if c.name == "add_files" and "-tb" in c.args) >= 2


@needs_tclsh
@pytest.mark.parametrize("breakage,match", [
    (lambda t: t.replace("set_part {", "set_part {xc7a35t"), "set_part"),
    (lambda t: t.replace("create_clock -period ", "create_clock -period 1"), "create_clock"),
    (lambda t: t.replace("set_top vitaccel_top", "set_top other_top"), "set_top"),
    (lambda t: t.replace("src vitaccel_top.cpp]", "src missing.cpp]"), "does not exist"),
    (lambda t: t.replace("export_design -format ip_catalog", "export_design -format zip"), "export_design"),
    (lambda t: t.replace("csynth_design\n", "csynth_design -bogus\n"), "csynth_design"),
    (lambda t: t.replace("open_solution -reset solution1 -flow_target vivado\n", ""), "open_solution"),
])
def test_tcl_stub_check_rejects_broken_scripts(project, tmp_path, breakage, match):
    text = project.tcl.read_text()
    broken = breakage(text)
    assert broken != text
    bad = project.out / "broken_run_hls.tcl"
    bad.write_text(broken)
    try:
        with pytest.raises(TclCheckError, match=match):
            run_stub_check(bad, project.board.part, TOP, clock_period_ns(project.cfg.clock_mhz))
    finally:
        bad.unlink()


def test_vitis_run_config(project):
    text = project.config_file.read_text()
    kv = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
    assert ["part", project.board.part] in kv
    assert ["syn.top", TOP] in kv
    assert ["clock", f"{clock_period_ns(project.cfg.clock_mhz)}ns"] in kv
    assert ["package.output.format", "ip_catalog"] in kv
    assert text.index("part=") < text.index("[hls]")
    for key, val in kv:
        if key in ("syn.file", "tb.file"):
            assert (project.out / val).exists(), val


def test_csim_generated_project_testbench(project, tmp_path):
    """Compile the generated project (kernel + testbench, the files add_files names) with g++ and run the
    testbench on its tb_data: the compiled program's output must equal the ISA simulator's."""
    # compiled once per generated-file content (cached in build/csim like the ctypes libraries)
    exe = build_shared_library(f"tb-{project.board.name}", [project.out / f for f in project.syn_files + project.tb_files],
                               [project.out / "include", project.out / "generated"], {}, executable=True)
    run = subprocess.run([str(exe), str(project.out / "tb_data")], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS" in run.stdout
    # default folder (next to the testbench source), as csim_design runs it without arguments
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_cli_without_vendor_tools(tmp_path, monkeypatch):
    if find_vendor_tool() is not None:
        pytest.skip("vitis_hls is installed here: the no-tool path does not apply")
    from vitaccel.hlsgen.cli import hls_cmd

    out = tmp_path / "p"
    res = CliRunner().invoke(hls_cmd, ["--board", "pynq-z2", "--out", str(out), "--run"])
    assert res.exit_code == 0, res.output
    assert "vitis_hls / vitis-run not found on PATH" in res.output
    assert f"cd {out} && vitis_hls -f run_hls.tcl" in res.output
    assert "vitis-run --mode hls --tcl run_hls.tcl" in res.output
    assert (out / "run_hls.tcl").is_file()
    res = CliRunner().invoke(hls_cmd, ["--board", "zcu102", "--out", str(tmp_path / "q"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["part"] == load_board("zcu102").part and data["vendor_tool"] is None


def test_cli_bad_board(tmp_path):
    from vitaccel.cli import main

    assert main(["hls", "--board", "nonexistent-board", "--out", str(tmp_path / "x")]) == 2


def test_csynth_report_reader_shape(tmp_path):
    """The csynth.xml reader maps the documented fields into the `vitaccel estimate` resources shape (checked on a
    hand-written report in the documented layout; no real Vitis HLS report exists on this machine)."""
    from vitaccel.hlsgen.reports import csynth_xml_path, read_csynth_report

    assert read_csynth_report(tmp_path) is None
    path = csynth_xml_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        "<profile><PerformanceEstimates><SummaryOfTimingAnalysis><unit>ns</unit>"
        "<TargetClockPeriod>3.333</TargetClockPeriod><EstimatedClockPeriod>2.9</EstimatedClockPeriod>"
        "</SummaryOfTimingAnalysis><SummaryOfOverallLatency><Worst-caseLatency>300000</Worst-caseLatency>"
        "</SummaryOfOverallLatency></PerformanceEstimates><AreaEstimates><Resources><BRAM_18K>301</BRAM_18K>"
        "<DSP>1100</DSP><FF>90000</FF><LUT>120000</LUT><URAM>0</URAM></Resources></AreaEstimates></profile>")
    rep = read_csynth_report(tmp_path, "zcu102")
    board = load_board("zcu102")
    assert rep["resources"]["bram36"] == 151 and rep["resources"]["dsp"] == 1100
    assert rep["resources"]["dsp_available"] == board.dsp and rep["resources"]["fits"] is True
    assert rep["cycles"] == 300000 and abs(rep["latency_ms"] - 300000 * 3.333e-6) < 1e-9
