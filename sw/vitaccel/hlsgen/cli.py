"""`vitaccel hls`: generate the Vitis HLS project for a board; run it when Vitis HLS is on PATH."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vitaccel.boards.accel import parse_overrides
from vitaccel.errors import ConfigError


@click.command("hls")
@click.option("--board", required=True, help="Board name (board_configs/<name>.yaml) or path to a board YAML.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder (default build/hls/<board>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="AcceleratorConfig override, e.g. --set array_rows=8 (repeatable).")
@click.option("--model", default=None, help="Model whose compiled program the testbench runs (default m3vit-micro, "
              "synthetic parameters).")
@click.option("--task", default=0, show_default=True, help="Task index of that model.")
@click.option("--run", "do_run", is_flag=True, help="Run vitis_hls / vitis-run on the generated tcl if present.")
@click.option("--steps", default=None, help="With --run: subset of 'csim csynth cosim export' (quoted list).")
@click.option("--check-tcl/--no-check-tcl", default=True, show_default=True,
              help="Check the generated tcl in tclsh against stub Vitis HLS commands.")
@click.option("--json", "as_json", is_flag=True, help="JSON summary on stdout.")
def hls_cmd(board: str, out_dir: Path | None, overrides: tuple[str, ...], model: str | None, task: int,
            do_run: bool, steps: str | None, check_tcl: bool, as_json: bool) -> None:
    """Generate a complete Vitis HLS project (kernel, generated headers, testbench + data, run_hls.tcl,
    hls_config.cfg). Without vitis_hls / vitis-run on PATH it stops after generation and prints the command
    to run on a machine that has them."""
    from vitaccel.boards import load_board
    from vitaccel.hlsgen.project import find_vendor_tool, generate_project, run_vendor_flow

    b = load_board(board)
    out = out_dir if out_dir is not None else Path("build") / "hls" / b.name
    tb_data = None
    if model is not None:
        from vitaccel.boards import derive_accelerator_config
        from vitaccel.hlsgen.testprog import default_tb_data

        tb_data = default_tb_data(derive_accelerator_config(b, parse_overrides(overrides)), model=model, task=task)
    proj = generate_project(b, out, parse_overrides(overrides), tb_data=tb_data)
    summary: dict[str, object] = {
        "board": b.name, "part": b.part, "clock_mhz": proj.cfg.clock_mhz, "out": str(proj.out),
        "array": f"{proj.cfg.array_rows}x{proj.cfg.array_cols}", "files": len(proj.syn_files) + len(proj.tb_files)
        + len(proj.headers) + len(proj.generated), "commands": proj.commands(),
    }
    log = sys.stderr if as_json else sys.stdout
    print(f"generated Vitis HLS project for {b.name} ({b.part}, {proj.cfg.clock_mhz:g} MHz, "
          f"{proj.cfg.array_rows}x{proj.cfg.array_cols} array) in {proj.out}", file=log)
    if check_tcl:
        from vitaccel.hlsgen.tclcheck import check_tcl as run_check

        calls = run_check(proj)
        summary["tcl_check"] = {"ok": True, "commands": [c.name for c in calls]}
        print(f"tcl check (tclsh + stub Vitis HLS commands): ok, {len(calls)} commands", file=log)
    tool = find_vendor_tool()
    if tool is None:
        summary["vendor_tool"] = None
        print("vitis_hls / vitis-run not found on PATH: stopping after generation. On a machine with Vitis HLS "
              "run:\n  " + "\n  ".join(proj.commands().values()), file=log)
        if do_run:
            summary["ran"] = False
    elif do_run:
        print(f"running {tool[0]} ({tool[1]}) in {proj.out}; log: {proj.out / 'vitis_hls.log'}", file=log)
        rc = run_vendor_flow(proj, steps)
        summary.update(vendor_tool=tool[0], ran=True, exit_code=rc)
        from vitaccel.hlsgen.reports import read_csynth_report

        rep = read_csynth_report(proj.out, b.name)
        if rep is not None:
            summary["synthesis"] = rep
        if rc != 0:
            if as_json:
                click.echo(json.dumps(summary, indent=2))
            raise ConfigError(f"{tool[0]} failed with exit code {rc}; see {proj.out / 'vitis_hls.log'}")
    else:
        summary["vendor_tool"] = tool[0]
        print(f"{tool[0]} found; add --run to run it, or:\n  " + "\n  ".join(proj.commands().values()), file=log)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
