"""`vitaccel compile`: QuantizedModel -> program.bin, program.asm, image.bin, manifest.json (one per task)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vitaccel.boards.accel import parse_overrides
from vitaccel.isa.spec import disassemble


def _log(msg: str) -> None:
    click.echo(msg, err=True)


def write_outputs(cp, out: Path) -> None:  # type: ignore[no-untyped-def]
    """Write one compiled program's files into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "program.bin").write_bytes(cp.program)
    (out / "image.bin").write_bytes(cp.image)
    (out / "program.asm").write_text(disassemble(cp.instructions))
    (out / "manifest.json").write_text(json.dumps(cp.manifest, indent=2) + "\n")


@click.command("compile")
@click.option("--model", "model", default=None, help="Model name (vitaccel models).")
@click.option("--board", required=True, help="Board name or board YAML path.")
@click.option("--task", default=None, help="Task name or index (default: every task, one program each).")
@click.option("--qmodel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="QuantizedModel file (vitaccel quantize).")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Float checkpoint, quantized on calibration images first.")
@click.option("--synthetic", is_flag=True, help="Synthetic integer parameters (shape-only; no torch).")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE",
              help="AcceleratorConfig override, e.g. --set array_rows=16 (repeatable).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def compile_cmd(model: str | None, board: str, task: str | None, qmodel: Path | None, checkpoint: Path | None,
                synthetic: bool, overrides: tuple[str, ...], out: Path, as_json: bool) -> None:
    """Compile a model for a board: program + memory image + manifest per task (docs/isa.md)."""
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.compiler.lower import compile_model
    from vitaccel.compiler.source import load_qmodel

    cfg = derive_accelerator_config(board, parse_overrides(overrides))
    qm = load_qmodel(model, qmodel, checkpoint, synthetic=synthetic, log=_log)
    mc = qm.config
    tasks = [mc.task_index(int(task) if task is not None and task.isdigit() else task)] if task is not None \
        else list(range(len(mc.tasks)))
    summary = []
    for ti in tasks:
        cp = compile_model(qm, cfg, ti)
        dest = out if len(tasks) == 1 else out / mc.tasks[ti].name
        write_outputs(cp, dest)
        m = cp.manifest
        summary.append({"task": m["task"], "dir": str(dest), "instructions": m["instructions"],
                        "image_bytes": m["image_bytes"], "act_peak_bytes": m["act"]["peak_bytes"],
                        "config_hash": m["config_hash"]})
        _log(f"{mc.name} / {m['task']} on {cfg.board}: {m['instructions']} instructions, image "
             f"{m['image_bytes']} bytes -> {dest}")
    if len(tasks) > 1:
        (out / "manifest.json").write_text(json.dumps({"model": mc.name, "board": cfg.board, "programs": summary},
                                                      indent=2) + "\n")
    if as_json:
        click.echo(json.dumps({"model": mc.name, "board": cfg.board, "programs": summary}, indent=2))
