"""`vitaccel split`: ED-ViT-style class-wise split of a trained classifier over heterogeneous boards."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from vitaccel.errors import ConfigError

__all__ = ["load_classifier_and_data", "split_cmd"]


def load_classifier_and_data(model: str, checkpoint: str | None, seed: int = 0) -> tuple[Any, Any, list[str]]:
    """(float model, dataset, class names) for a classifier: a checkpoint file, else the project's trained one.

    Only classifiers with a dataset in vitaccel.data are supported (vit-digits: scikit-learn digits).
    """
    from vitaccel.models import get_config, load_checkpoint

    cfg = get_config(model)
    if cfg.tasks[0].kind != "classify":
        raise ConfigError(f"--model {model}: task 0 is {cfg.tasks[0].kind!r}; vitaccel split needs a classifier")
    if cfg.name != "vit-digits":
        raise ConfigError(
            f"--model {model}: no training/evaluation dataset is wired for it; supported: vit-digits "
            "(scikit-learn digits via vitaccel.data.load_digits_dataset)"
        )
    if checkpoint:
        net = load_checkpoint(checkpoint, expected=cfg)
    else:
        from vitaccel.train.recipes import load_trained

        net = load_trained(cfg.name, progress=False)
    from vitaccel.data import load_digits_dataset

    data = load_digits_dataset(size=cfg.img_size[0], channels=cfg.in_chans, seed=seed)
    return net, data, [str(i) for i in range(cfg.tasks[0].out_channels)]


def _board_list(text: str) -> tuple[str, ...]:
    boards = tuple(b.strip() for b in text.split(",") if b.strip())
    if not boards:
        raise ConfigError("--boards: expected a comma-separated list of board names, e.g. zcu102,kv260,pynq-z2")
    return boards


def summary_lines(plan: dict[str, Any]) -> list[str]:
    """Human-readable report of a split plan."""
    acc = plan["accuracy"]
    lines = [
        f"split of {plan['model']} over {', '.join(plan['boards'])} (granule {plan['granule']}: {plan['granule_source']})",
        f"accuracy on {acc['test_images']} test images: full float {acc['full_float']:.4f}, full int8 "
        f"{acc['full_int8']:.4f}, split int8 + fusion {acc['split_int8']:.4f}",
    ]
    if acc["one_board_down"]:
        lines.append("one board down: " + ", ".join(f"{b} {v:.4f}" for b, v in acc["one_board_down"].items())
                     + f" (mean {acc['one_board_down_mean']:.4f})")
    lines.append(f"full model: {plan['full_model']['int8_bytes']} bytes int8, {plan['full_model']['macs'] / 1e6:.2f} MMAC")
    for g in plan["groups"]:
        s = g["shape"]
        lines.append(
            f"  {g['name']} -> {g['board']}: classes {g['classes']}, dim {s['dim']} heads {s['heads']}x{s['head_dim']} "
            f"mlp {s['mlp_hidden']}, {g['macs'] / 1e6:.2f} MMAC{'' if g['budget_met'] else ' (over budget: granule)'}, "
            f"{g['int8_bytes']} bytes int8 ({g['size_reduction']:.2f}x smaller), group-vs-other acc "
            f"{g['test_acc_group_vs_other']:.4f}, predicted {g['predicted_latency_ms']:.3f} ms"
        )
    lines.append(plan["placement_explanation"])
    return lines


@click.command("split")
@click.option("--model", "model_name", required=True, help="Classifier config name (e.g. vit-digits).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Float checkpoint (default: the project's trained checkpoint, trained if missing).")
@click.option("--boards", required=True, help="Comma-separated board names or YAML paths, one sub-model each.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--granule", type=int, default=None,
              help="Pruning unit in channels (default: the boards' tile width, array_cols).")
@click.option("--ratio", type=float, default=0.5, show_default=True,
              help="MAC budget of a sub-model = ratio * N * its class-load share * full MACs (capped at 1x).")
@click.option("--slack", type=float, default=0.25, show_default=True, help="Group size tolerance around the board share.")
@click.option("--epochs", type=int, default=40, show_default=True, help="Fine-tuning epochs per sub-model.")
@click.option("--no-aux", is_flag=True, help="Do not add the auxiliary all-class logits (less fault tolerance).")
@click.option("--drop", type=float, default=0.3, show_default=True, help="Whole-board dropout while training the fusion.")
@click.option("--links", default=None,
              help="Link rates: 'MBPS[@LAT_MS]' for all and/or 'board=MBPS[@LAT_MS]', comma-separated "
                   "(default 1000 Mbit/s, 0.05 ms).")
@click.option("--uplink-mbps", type=float, default=1000.0, show_default=True, help="Coordinator uplink, Mbit/s.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of grouping restarts, pruning, fine-tuning and fusion training (same seed, same split).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout (progress on stderr).")
def split_cmd(model_name: str, checkpoint: str | None, boards: str, out_dir: str, granule: int | None, ratio: float,
              slack: float, epochs: int, no_aux: bool, drop: float, links: str | None, uplink_mbps: float, seed: int,
              as_json: bool) -> None:
    """Partition the classes over the boards (confusable classes together, sizes from board capacity), prune one
    sub-model per group in tile-width units, fine-tune, quantize, train a dropout-robust fusion MLP, place the
    sub-models (including link transfer time) and write sub-models, fusion.npz, cluster.yaml and plan.json."""
    from vitaccel.distributed.placement import parse_links
    from vitaccel.distributed.split import SplitOptions, run_split

    board_names = _board_list(boards)
    from vitaccel.boards import load_board

    for b in board_names:  # fail fast, before the model is loaded
        load_board(b)
    if granule is not None and granule < 1:
        raise ConfigError(f"--granule {granule}: expected a positive number of channels")
    if not ratio > 0:
        raise ConfigError(f"--ratio {ratio}: expected > 0")
    if not 0 <= drop < 1:
        raise ConfigError(f"--drop {drop}: expected 0 <= drop < 1")
    opts = SplitOptions(
        boards=board_names, granule=granule, ratio=ratio, slack=slack, epochs=epochs, aux=not no_aux, drop=drop,
        links=parse_links(links, board_names), uplink_mbps=uplink_mbps, seed=seed,
    )
    net, data, names = load_classifier_and_data(model_name, checkpoint, seed)

    def progress(msg: str) -> None:
        click.echo(msg, err=True)

    plan = run_split(net, data, opts, Path(out_dir), progress=progress, class_names=names)
    plan.pop("_objects", None)
    if as_json:
        from vitaccel.distributed.split import _json_default

        json.dump(plan, sys.stdout, indent=2, default=_json_default)
        sys.stdout.write("\n")
    else:
        for line in summary_lines(plan):
            click.echo(line)
        click.echo(f"wrote {out_dir}/plan.json, fusion.npz, cluster.yaml and {len(plan['groups'])} sub-models")
