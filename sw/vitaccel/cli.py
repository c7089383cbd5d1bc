"""The `vitaccel` command line.

Subcommands live in the modules that own them and are imported lazily, so `vitaccel --help` is fast and a
board without torch can still run the runtime commands. Each entry maps a command name to "module:attribute"
(a click.Command). Errors derived from VitaccelError are printed as one clear line, exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from vitaccel import __version__
from vitaccel.errors import VitaccelError

# command name -> (import path "module:attr", one-line help shown in `vitaccel --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "boards": ("vitaccel.boards.cli:boards_cmd", "List board configs and their derived accelerator configs."),
    "models": ("vitaccel.models.cli:models_cmd", "List named model configs."),
    "train": ("vitaccel.train.cli:train_cmd", "Train the small example models (vit-digits, m3vit-scenes)."),
    "quantize": ("vitaccel.quant.cli:quantize_cmd", "Calibrate and quantize a model into a QuantizedModel file."),
    "compile": ("vitaccel.compiler.cli:compile_cmd", "Compile a QuantizedModel to a program + memory image."),
    "disasm": ("vitaccel.isa.cli:disasm_cmd", "Disassemble a program (instruction stream) file."),
    "verify": ("vitaccel.verify:verify_cmd", "Check a backend (isa, csim, rtlsim) bit-exactly against the golden model."),
    "estimate": ("vitaccel.perf.cli:estimate_cmd", "Performance / roofline estimate (and --rtl resource estimate)."),
    "bitstream": ("vitaccel.vivado.cli:bitstream_cmd", "Vivado block design + bitstream (.bit + .hwh) for a board."),
    "run": ("vitaccel.runtime.cli:run_cmd", "Run images on a device (isa, csim, rtlsim, pynq) through the driver."),
    "hls": ("vitaccel.hlsgen.cli:hls_cmd", "Generate the Vitis HLS project (and run it when vitis_hls is present)."),
    "split": ("vitaccel.distributed.split_cli:split_cmd", "ED-ViT style class-wise split of a classifier over boards."),
    "serve": ("vitaccel.distributed.cli:serve_cmd", "Serve a (sub-)model over gRPC (Open Inference Protocol)."),
    "infer": ("vitaccel.distributed.cli:infer_cmd", "Run images through a cluster of boards and fuse the results."),
    "bench": ("vitaccel.bench.cli:bench_cmd", "Benchmarks (numerics, accuracy, perf, split); JSON with --json."),
    "demo": ("vitaccel.demo:demo_cmd", "The main job end to end on a real image; report in build/demo."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)  # commands added with add_command (plugins, tests)
        target, _ = COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vitaccel")
def cli() -> None:
    """vitaccel: quantized ViT and multi-task MoE ViT accelerators for edge FPGAs."""


def run_click(group: click.Command, argv: list[str] | None = None) -> int:
    """Run a click command/group; VitaccelError -> one line on stderr and exit code 2; returns the exit code.

    The one place that maps errors and exit codes for every vitaccel entry point (`vitaccel`, and modules run
    with `python -m`)."""
    try:
        # standalone_mode=False: click returns a command's exit code (click.exceptions.Exit) instead of raising
        rv = group.main(args=argv, prog_name="vitaccel", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except VitaccelError as exc:
        click.echo(f"vitaccel: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("vitaccel: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vitaccel` command."""
    return run_click(cli, argv)

if __name__ == "__main__":
    sys.exit(main())
