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


def test_command_exit_codes_reach_the_shell() -> None:
    """A command that ends with click.exceptions.Exit(n) (e.g. `infer` when no board answered) must exit n."""
    import click

    from vitaccel import cli as cli_mod

    @click.command("fails-softly")
    def fails_softly() -> None:
        raise click.exceptions.Exit(1)

    cli_mod.cli.add_command(fails_softly)
    try:
        assert main(["fails-softly"]) == 1
    finally:
        cli_mod.cli.commands.pop("fails-softly", None)
