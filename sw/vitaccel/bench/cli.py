"""`vitaccel bench`: the benchmark group. Subcommands live in the modules that own them and load lazily:

numerics -> this module (vitaccel.bench.numerics), accuracy -> vitaccel.bench.accuracy:accuracy_cmd,
perf -> vitaccel.perf.bench:perf_cmd, split -> vitaccel.distributed.bench:split_cmd,
rtlsim -> vitaccel.rtlgen.rtlsim.bench:rtlsim_cmd.
With --json each prints {"results": [...]} on stdout; progress and logs go to stderr.
"""

from __future__ import annotations

import importlib
import json

import click

# name -> ("module:attr", one-line help)
BENCH_COMMANDS: dict[str, tuple[str, str]] = {
    "numerics": ("vitaccel.bench.cli:numerics_cmd", "Integer GELU/softmax/LayerNorm vs published methods."),
    "accuracy": ("vitaccel.bench.accuracy:accuracy_cmd", "Float vs int8 accuracy of the example models."),
    "perf": ("vitaccel.perf.bench:perf_cmd", "Golden-model and accelerator performance."),
    "split": ("vitaccel.distributed.bench:split_cmd", "Multi-board split benchmark."),
    "rtlsim": ("vitaccel.rtlgen.rtlsim.bench:rtlsim_cmd", "Verilator harness of vitaccel_top: build time, clocks/s."),
}


class LazyBenchGroup(click.Group):
    """Subcommands imported on first use (a missing module is reported as a clear click error)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BENCH_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in BENCH_COMMANDS:
            return None
        module_name, attr = BENCH_COMMANDS[cmd_name][0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise click.ClickException(f"bench {cmd_name}: {module_name} is not available ({exc})") from exc
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(n, BENCH_COMMANDS[n][1]) for n in self.list_commands(ctx)])


@click.group("bench", cls=LazyBenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
def bench_cmd() -> None:
    """Benchmarks; each takes --json (JSON on stdout, progress on stderr)."""


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


@click.command("numerics")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]} on stdout.')
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic inputs.")
@click.option(
    "--op",
    "ops",
    multiple=True,
    type=click.Choice(["gelu", "softmax", "layernorm"]),
    help="Only these ops (repeatable; default all).",
)
def numerics_cmd(as_json: bool, seed: int, ops: tuple[str, ...]) -> None:
    """vitaccel's integer GELU / softmax / LayerNorm vs I-BERT, I-ViT, FQ-ViT and hls4ml on the same quantized inputs."""
    from vitaccel.bench import numerics

    results = numerics.run(seed=seed, ops=ops or ("gelu", "softmax", "layernorm"))
    if as_json:
        click.echo(json.dumps({"results": [r.to_json() for r in results]}, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vitaccel bench numerics (seed {seed}); errors vs float on the same quantized inputs")
    for col in ("op", "case", "method", "project", "max abs err", "mean abs err", "out LSB", "max |sum-1|"):
        table.add_column(col, justify="right" if "err" in col or "LSB" in col or "sum" in col else "left")
    for r in results:
        style = "bold green" if r.project else None
        table.add_row(r.op, r.case, r.method, "yes" if r.project else "", _fmt(r.max_abs_err),
                      _fmt(r.mean_abs_err), _fmt(r.out_lsb), _fmt(r.max_sum_err), style=style)
    console = Console()
    if console.width < 140:  # not a wide terminal (a pipe, CI): do not truncate the method names
        console = Console(width=140)
    console.print(table)


__all__ = ["BENCH_COMMANDS", "bench_cmd", "numerics_cmd"]
