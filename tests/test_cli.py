"""The `vitaccel` entry point: every registered command imports, has --help, and errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from vitaccel.bench.cli import BENCH_COMMANDS, bench_cmd
from vitaccel.cli import COMMANDS, cli, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("name", sorted(BENCH_COMMANDS))
def test_every_bench_command_has_help(name: str) -> None:
    result = CliRunner().invoke(bench_cmd, [name, "--help"])
    assert result.exit_code == 0, result.output


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_unknown_model_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quantize", "--model", "vit-huge", "--out", "x.npz"]) == 2
    err = capsys.readouterr().err
    assert "vit-huge" in err and "Traceback" not in err


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "vitaccel.cli", "--version"], capture_output=True, text=True,
                         check=True)
    assert "vitaccel" in out.stdout
