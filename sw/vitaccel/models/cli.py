"""`vitaccel models`: list the named model configs with tokens, parameters and MACs per image."""

from __future__ import annotations

import json

import click

from vitaccel.models.config import count_params, get_config, list_configs, macs_per_image


def describe(name: str) -> dict:
    """Summary of one registered config (JSON-compatible)."""
    cfg = get_config(name)
    return {
        "name": cfg.name,
        "input": [cfg.in_chans, *cfg.img_size],
        "patch": cfg.patch,
        "tokens": cfg.tokens,
        "dim": cfg.dim,
        "depth": cfg.depth,
        "heads": cfg.heads,
        "mlp_hidden": cfg.mlp_hidden,
        "moe_blocks": list(cfg.moe_blocks),
        "num_experts": cfg.num_experts,
        "expert_hidden": cfg.expert_hidden,
        "top_k": cfg.top_k,
        "tasks": [t.to_dict() for t in cfg.tasks],
        "params": count_params(cfg),
        "macs_per_image": {t.name: macs_per_image(cfg, i) for i, t in enumerate(cfg.tasks)},
    }


@click.command("models")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def models_cmd(names: tuple[str, ...], as_json: bool) -> None:
    """List named model configs (all, or NAMES) with tokens, parameters and MACs per image (per task)."""
    rows = [describe(n) for n in (names or list_configs())]
    if as_json:
        click.echo(json.dumps({"models": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vitaccel model configs", caption="MMAC/image per task; MoE: blocks, experts x hidden, top-k")
    for col in ("name", "CxHxW", "patch", "tokens", "dim/depth/heads", "MoE", "tasks", "params", "MMAC/image"):
        table.add_column(col, justify="right" if col in ("tokens", "params", "patch") else "left",
                         no_wrap=col == "name")
    for r in rows:
        moe = (
            f"{','.join(map(str, r['moe_blocks']))}: {r['num_experts']}x{r['expert_hidden']} k{r['top_k']}"
            if r["moe_blocks"]
            else "-"
        )
        tasks = ", ".join(
            t["name"] if t["kind"] == "depth" else f"{t['name']}({t['out_channels']})" for t in r["tasks"]
        )
        macs = " / ".join(f"{v / 1e6:.1f}" for v in r["macs_per_image"].values())
        table.add_row(
            r["name"], "x".join(map(str, r["input"])), str(r["patch"]), str(r["tokens"]),
            f"{r['dim']}/{r['depth']}/{r['heads']}", moe, tasks, f"{r['params'] / 1e6:.3f} M", macs,
        )
    # piped output / an 80-column terminal would squeeze (and cut) the model names: never narrower than 150
    Console(width=max(Console().width, 150)).print(table)
