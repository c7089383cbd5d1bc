"""`vitaccel disasm FILE`: program listing (binary program or a compile output directory)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vitaccel.errors import ProgramError
from vitaccel.isa.spec import INSTR_BYTES, decode_program, disassemble


@click.command("disasm")
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per instruction (opcode + fields).")
@click.option("--no-index", is_flag=True, help="Omit the instruction index column.")
def disasm_cmd(file: Path, as_json: bool, no_index: bool) -> None:
    """Disassemble FILE: a binary program (program.bin) or a `vitaccel compile` output directory."""
    layers: list[str] | None = None
    if file.is_dir():
        man = file / "manifest.json"
        if man.is_file():
            ranges = json.loads(man.read_text()).get("layers", [])
            n = max((r["last"] for r in ranges), default=-1) + 1
            layers = [""] * n
            for r in ranges:
                for i in range(r["first"], r["last"] + 1):
                    layers[i] = r["layer"]
        file = file / "program.bin"
        if not file.is_file():
            raise ProgramError(f"{file}: not found (expected a compile output directory with program.bin)")
    data = file.read_bytes()
    if len(data) % INSTR_BYTES:
        raise ProgramError(f"{file}: {len(data)} bytes is not a multiple of the {INSTR_BYTES}-byte instruction")
    instrs = decode_program(data)
    if layers:
        for i, ins in enumerate(instrs):
            if i < len(layers):
                ins.note = layers[i]
    if as_json:
        for i, ins in enumerate(instrs):
            click.echo(json.dumps({"index": i, "op": ins.op.name, **ins.fields, "layer": ins.note or None}))
        return
    click.echo(disassemble(instrs, numbered=not no_index), nl=False)
