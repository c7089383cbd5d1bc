"""`vitaccel disasm FILE`: program listing (binary program or a compile output directory).

FILE may be a program.bin, one task's compile directory (program.bin + manifest.json) or the directory of a
multi-task `vitaccel compile --out DIR` (DIR/manifest.json with "programs" + DIR/<task>/): every task is listed,
each after a `; task NAME (index I): PATH` comment line, or only the one `--task` names. When a manifest.json is
present the program is checked against it first (size and CRC-32, the runtime bundle loader's own check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from vitaccel.errors import ConfigError, ProgramError
from vitaccel.isa.spec import INSTR_BYTES, decode_program, disassemble


@dataclass
class _Program:
    task: str | None
    task_index: int | None
    path: Path  # program.bin
    manifest: dict[str, Any] | None


def _layers(m: dict[str, Any], where: Path) -> list[str]:
    try:
        ranges = [(int(r["first"]), int(r["last"]), str(r["layer"])) for r in m.get("layers", [])]
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}: malformed 'layers' list (expected objects with first, last, layer)") from None
    n = max((last for _, last, _ in ranges), default=-1) + 1
    layers = [""] * n
    for first, last, name in ranges:
        for i in range(max(first, 0), last + 1):
            layers[i] = name
    return layers


def _single(directory: Path, m: dict[str, Any] | None) -> _Program:
    prog = directory / "program.bin"
    if not prog.is_file():
        raise ProgramError(f"{prog}: not found (expected a compile output directory with program.bin)")
    task = None if m is None else m.get("task")
    index = None if m is None or "task_index" not in m else m.get("task_index")
    return _Program(None if task is None else str(task), None if index is None else int(index), prog, m)


def _select(programs: list[_Program], task: str | None, where: Path) -> list[_Program]:
    if task is None:
        return programs
    for p in programs:
        if p.task == task or (task.isdigit() and p.task_index == int(task)):
            return [p]
    have = ", ".join(f"{p.task_index}:{p.task}" for p in programs if p.task is not None) or "no named tasks"
    raise ConfigError(f"{where}: no task {task!r}; it has {have}")


def _programs(file: Path, task: str | None) -> list[_Program]:
    from vitaccel.runtime.bundle import FORMAT, read_manifest, task_dir

    if not file.is_dir():
        man = file.parent / "manifest.json"
        m = read_manifest(man) if file.name == "program.bin" and man.is_file() else None
        if m is not None and m.get("format") != FORMAT:
            m = None
        if task is not None:
            if m is None:
                raise ConfigError(f"--task {task}: {file} is a bare program; --task selects a task of a compile "
                                  "output directory")
            return _select([_Program(m.get("task"), m.get("task_index"), file, m)], task, file)
        return [_Program(None, None, file, m)]
    man = file / "manifest.json"
    if not man.is_file():
        if task is not None:
            raise ConfigError(f"--task {task}: {file} has no manifest.json naming its tasks")
        return [_single(file, None)]
    top = read_manifest(man)
    if top.get("format") == FORMAT:
        return _select([_single(file, top)], task, file)
    entries = top.get("programs")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{man}: neither a compiled program (format {FORMAT!r}) nor a multi-task manifest with "
                          "a 'programs' list")
    progs = []
    for i, ent in enumerate(entries):
        sub = task_dir(file, ent)
        sm = read_manifest(sub / "manifest.json")
        p = _single(sub, sm)
        p.task = p.task or str(ent.get("task"))
        p.task_index = p.task_index if p.task_index is not None else i
        progs.append(p)
    return _select(progs, task, file)


def _decode(p: _Program) -> list[Any]:
    data = p.path.read_bytes()
    if p.manifest is not None:
        from vitaccel.runtime.bundle import check_program

        check_program(data, p.manifest, p.path.parent)
    if len(data) % INSTR_BYTES:
        raise ProgramError(f"{p.path}: {len(data)} bytes is not a multiple of the {INSTR_BYTES}-byte instruction")
    instrs = decode_program(data)
    if p.manifest is not None:
        layers = _layers(p.manifest, p.path.parent / "manifest.json")
        for i, ins in enumerate(instrs):
            if i < len(layers):
                ins.note = layers[i]
    return instrs


@click.command("disasm")
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--task", default=None,
              help="Task name or index of a compile output directory (default: every task, each with a header).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per instruction (opcode + fields).")
@click.option("--no-index", is_flag=True, help="Omit the instruction index column.")
def disasm_cmd(file: Path, task: str | None, as_json: bool, no_index: bool) -> None:
    """Disassemble FILE: a binary program (program.bin) or a `vitaccel compile` output directory (every task)."""
    programs = _programs(file, task)
    decoded = [(p, _decode(p)) for p in programs]  # check every program before printing any
    multi = len(programs) > 1
    for p, instrs in decoded:
        if as_json:
            extra = {"task": p.task} if p.task is not None else {}
            for i, ins in enumerate(instrs):
                click.echo(json.dumps({**extra, "index": i, "op": ins.op.name, **ins.fields,
                                       "layer": ins.note or None}))
            continue
        if multi:
            click.echo(f"; task {p.task} (index {p.task_index}): {p.path} ({len(instrs)} instructions)")
        click.echo(disassemble(instrs, numbered=not no_index), nl=False)
