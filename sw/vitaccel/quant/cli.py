"""`vitaccel quantize`: calibrate a float model and write a QuantizedModel file (+ a per-layer SQNR report)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click


@click.command("quantize")
@click.option("--model", "model_name", required=True, help="Registered model name (see `vitaccel models`).")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Trained float checkpoint; without it the float model is initialised with --seed.")
@click.option("--calib", type=click.IntRange(min=1), default=32, show_default=True,
              help="Number of calibration images (procedural scenes / digits; seeded random pixels otherwise).")
@click.option("--method", type=click.Choice(["minmax", "percentile"]), default="minmax", show_default=True,
              help="Activation range statistic for the int8 activations.")
@click.option("--percentile", type=click.FloatRange(min=0.0, max=100.0, min_open=True), default=99.99,
              show_default=True, help="Percentile of |x| for --method percentile.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the float init and the data.")
@click.option("--report-images", type=click.IntRange(min=0), default=2, show_default=True,
              help="Held-out images for the per-layer SQNR report (0: no report).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (.npz).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def quantize_cmd(model_name: str, checkpoint: Path | None, calib: int, method: str, percentile: float, seed: int,
                 report_images: int, out_path: Path, as_json: bool) -> None:
    """Calibrate MODEL on CALIB images, quantize it (docs/numerics.md) and save it to OUT."""
    from vitaccel.models.config import get_config
    from vitaccel.quant.quantizer import calibration_images, layer_sqnr, quantize

    cfg = get_config(model_name)
    if checkpoint is not None:
        from vitaccel.models.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint, expected=cfg)
        origin = str(checkpoint)
    else:
        from vitaccel.models.vit import build_model

        model = build_model(cfg, seed=seed)
        origin = f"untrained (seed {seed})"
    images, source = calibration_images(cfg, calib, seed)
    click.echo(f"quantizing {cfg.name} ({origin}) on {calib} images from {source}, method {method}", err=True)
    qm = quantize(model, cfg, images, method=method, percentile=percentile, progress=not as_json)
    qm.info.update({"float_model": origin, "calib_source": source})
    qm.save(out_path)
    summary: dict = {"model": cfg.name, "out": str(out_path), "float_model": origin, "calib_images": calib,
                     "calib_source": source, "method": method,
                     "percentile": percentile if method == "percentile" else None, "sqnr": {}}
    if report_images:
        held_out, _ = calibration_images(cfg, calib + report_images, seed)
        held_out = held_out[calib:]
        for ti, spec in enumerate(cfg.tasks):
            rows = layer_sqnr(qm, model, held_out, ti)
            summary["sqnr"][spec.name] = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                                           for k, v in r.items()} for r in rows]
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    click.echo(f"wrote {out_path}")
    for task, rows in summary["sqnr"].items():
        worst = min(rows, key=lambda r: r["sqnr_db"] if r["sqnr_db"] is not None else math.inf)
        click.echo(f"task {task}: output SQNR {rows[-1]['sqnr_db']:.1f} dB, worst layer {worst['layer']} "
                   f"{worst['sqnr_db']:.1f} dB")
        for r in rows:
            click.echo(f"  {r['layer']:<28} {r['kind']:<12} {r['sqnr_db']:6.1f} dB")
