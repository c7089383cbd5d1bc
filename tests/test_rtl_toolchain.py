"""vitaccel.toolchain: finding Verilator / Icarus / yosys and the RTL lint (verilator -Wall, iverilog, yosys)."""

from __future__ import annotations

import subprocess

import pytest

from vitaccel import toolchain


def test_verilator_wrapper_reports_a_version():
    v = toolchain.verilator()
    if not v.found:
        pytest.skip(v.reason)
    out = subprocess.run([v.path, "--version"], capture_output=True, text=True, env=toolchain.tool_env()).stdout
    major, minor = toolchain._parse_version(out)
    assert "Verilator" in out and (major, minor) >= toolchain.MIN_VERILATOR


def test_tool_env_puts_python_and_verilator_first():
    env = toolchain.tool_env({"PATH": "/usr/bin"})
    first = env["PATH"].split(":")
    assert first[-1] == "/usr/bin" and len(first) >= 2


def test_simulator_unknown_name():
    with pytest.raises(ValueError, match="icarus or verilator"):
        toolchain.simulator("modelsim")


def test_lint_rtl_clean():
    """Every hw/rtl module passes verilator --lint-only -Wall, iverilog -g2012 and the yosys front end."""
    if not (toolchain.verilator().found or toolchain.icarus().found):
        pytest.skip("neither verilator nor iverilog available")
    assert toolchain.rtl_modules(), "no RTL modules found"
    assert toolchain.lint_rtl(verbose=False) == 0
