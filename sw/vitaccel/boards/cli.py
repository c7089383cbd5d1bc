"""`vitaccel boards`: list board configs with their derived AcceleratorConfig."""

from __future__ import annotations

import json
from typing import Any

import click

from vitaccel.boards.accel import derive_accelerator_config, parse_overrides
from vitaccel.boards.config import list_boards, load_board


def board_summary(name: str, overrides: dict[str, Any] | None = None) -> dict:
    """Board facts and derived accelerator parameters (with AcceleratorConfig `overrides`) as one JSON-able dict."""
    b = load_board(name)
    a = derive_accelerator_config(b, overrides)
    return {
        "name": b.name,
        "display_name": b.display_name,
        "part": b.part,
        "board_part": b.board_part,
        "ps_type": b.ps_type,
        "clock_mhz": b.pl_clock_mhz,
        "resources": {"lut": b.lut, "ff": b.ff, "dsp": b.dsp, "bram36": b.bram36, "uram": b.uram},
        "ddr_peak_gbps": b.ddr_peak_gbps,
        "accelerator": {**a.to_dict(), "macs_per_cycle": a.macs_per_cycle, "array_dsps": a.array_dsps,
                        "peak_gmacs": a.peak_gmacs, "stream_gbps": a.stream_gbps,
                        "config_hash": f"0x{a.config_hash():08x}"},
    }


@click.command("boards")
@click.option("--board", "board_name", default=None, help="Show one board (name or path to a YAML file).")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="AcceleratorConfig override, as given to `vitaccel compile` (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def boards_cmd(board_name: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """List board configs (board_configs/*.yaml) and the accelerator each one derives."""
    overrides = parse_overrides(sets)
    names = [board_name] if board_name else list_boards()
    rows = [board_summary(n, overrides) for n in names]
    if as_json:
        click.echo(json.dumps({"boards": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vitaccel boards (board_configs/)")
    for col in ("board", "part", "PS", "MHz", "DSP", "BRAM36", "URAM", "DDR GB/s", "array", "GMAC/s", "act KiB",
                "wgt KiB x2"):
        table.add_column(col)
    for r in rows:
        a = r["accelerator"]
        table.add_row(r["name"], r["part"], r["ps_type"], f"{r['clock_mhz']:g}", str(r["resources"]["dsp"]),
                      str(r["resources"]["bram36"]), str(r["resources"]["uram"]), f"{r['ddr_peak_gbps']:g}",
                      f"{a['array_rows']}x{a['array_cols']}", f"{a['peak_gmacs']:.0f}",
                      str(a["act_buffer_bytes"] // 1024), str(a["weight_buffer_bytes"] // 1024))
    Console(width=max(Console().width, 150)).print(table)
