"""`vitaccel train`: train (or reuse cached) example models into build/checkpoints."""

from __future__ import annotations

import json

import click

from vitaccel.errors import ConfigError


@click.command("train")
@click.option("--all", "all_", is_flag=True, help="Train every trainable model (vit-digits, m3vit-scenes).")
@click.option("--model", "models", multiple=True, metavar="NAME", help="Model to train (repeatable).")
@click.option("--force", is_flag=True, help="Retrain even if a matching cached checkpoint exists.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Checkpoint directory (default build/checkpoints or $VITACCEL_CHECKPOINT_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def train_cmd(all_: bool, models: tuple[str, ...], force: bool, out_dir: str | None, as_json: bool,
              no_progress: bool) -> None:
    """Train the small example models on the CPU (each <= 3 min on 2 cores); cached unless --force."""
    from vitaccel.train.recipes import TRAINABLE, train

    if all_ == bool(models):
        raise ConfigError(f"train: give either --all or --model NAME (trainable: {', '.join(TRAINABLE)})")
    names = list(TRAINABLE) if all_ else list(models)
    for n in names:
        if n not in TRAINABLE:
            raise ConfigError(f"train: no recipe for model {n!r}; trainable models: {', '.join(TRAINABLE)}")
    results = [train(n, force=force, progress=not no_progress, directory=out_dir) for n in names]
    if as_json:
        click.echo(json.dumps({"results": [r.to_dict() for r in results]}, indent=2))
        return
    for r in results:
        m = r.metrics
        if "top1" in m:
            figs = f"test top-1 {100 * m['top1']:.2f}%"
        else:
            figs = (
                f"test mIoU {m['miou']:.3f} (majority-class baseline {m['miou_majority_class']:.3f}), "
                f"depth RMSE {m['depth_rmse']:.3f} m (constant predictor {m['depth_rmse_const']:.3f} m)"
            )
        how = "cached" if r.cached else f"trained {r.steps} steps in {r.seconds:.1f} s"
        click.echo(f"{r.name}: {figs}; {how}; {r.path}")
