"""Compiled bundles: what `vitaccel compile --out DIR` writes, loaded and cross-checked before anything runs.

One task:   DIR/program.bin, image.bin, manifest.json ("format": "vitaccel-compiled-program"), program.asm
All tasks:  DIR/manifest.json {"model", "board", "programs": [{"task", "dir", ...}]} + DIR/<task>/ (as above)

Checks at load (ProgramError / ConfigError naming the file, the value and what was expected): manifest format and
ISA major version; program size = instructions x 32 bytes and its CRC-32 = manifest = image header; image size and
payload CRC (`verify_payload`); header config hash = manifest config hash; header input/output byte counts =
the manifest's uint8 input shape and int32 output shape. Nothing is padded, truncated or converted.

Dequantization scales (float per output channel, or one scalar): `manifest["output"]["dequant_scale"]`, which
`vitaccel compile` writes into every task's manifest. A bundle without it (hand-made or from an older compiler)
takes them from the QuantizedModel it was compiled from (`qmodel=` path or object); when both are given, the
QuantizedModel must match the bundle (model name, input / output shapes) and its head scales must equal the
manifest's (ConfigError naming both files otherwise). Without any scales the int32 accumulators are still
available; asking for float output raises ConfigError.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, ProgramError
from vitaccel.isa import spec
from vitaccel.isa.image import ImageHeader, parse_header, verify_payload

FORMAT = "vitaccel-compiled-program"


@dataclass
class CompiledTask:
    """One task's program + memory image + manifest, checked for consistency."""

    task: str
    task_index: int
    directory: Path
    manifest: dict[str, Any]
    program: bytes
    image: bytes
    header: ImageHeader
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int]
    kind: str
    dequant_scale: np.ndarray | None = None

    @property
    def instructions(self) -> int:
        return len(self.program) // spec.INSTR_BYTES

    def layer_at(self, index: int) -> str | None:
        """The layer that instruction `index` belongs to (manifest "layers" ranges), or None."""
        for r in self.manifest.get("layers", []):
            if int(r["first"]) <= index <= int(r["last"]):
                return str(r["layer"])
        return None

    def require_scales(self) -> None:
        """ConfigError (saying how to supply them) unless dequantization scales are known."""
        if self.dequant_scale is None:
            raise ConfigError(
                f"{self.directory / 'manifest.json'}: no output.dequant_scale, so the driver cannot produce float "
                "outputs; pass the QuantizedModel it was compiled from (qmodel=FILE, `vitaccel run --qmodel FILE`) "
                "or ask for the int32 accumulators (output='int32', `vitaccel run --int32`)")

    def dequantize(self, accs: np.ndarray) -> np.ndarray:
        """int32 head accumulators (B, rows, n) -> float32 in the float model's layout (classify (B, classes);
        segment / depth (B, channels, H, W)): acc * scale in float64, then float32, as
        QuantizedModel.dequantize_output does."""
        self.require_scales()
        y = np.asarray(accs, dtype=np.float64) * np.asarray(self.dequant_scale, dtype=np.float64)
        if self.kind == "classify":
            return y[:, 0, :].astype(np.float32)
        from vitaccel.quant.model import pixel_shuffle_np

        _, h, w = self.input_shape
        rows, n = self.output_shape
        p = math.isqrt(h * w // rows)
        ch = n // (p * p)
        return np.stack([pixel_shuffle_np(v, (h // p, w // p), p, ch) for v in y]).astype(np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: not found (a bundle is the directory written by `vitaccel compile --out DIR`)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def _hex(v: Any, where: str) -> int:
    try:
        return int(v, 16) if isinstance(v, str) else int(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {v!r} is not an integer / hex string") from None


def check_program(program: bytes, m: dict[str, Any], directory: Path) -> tuple[int, int]:
    """ProgramError unless `program` (DIR/program.bin) has the manifest's instruction count x 32 bytes and its
    program_crc32; returns (instructions, CRC-32). Shared by the bundle loader and `vitaccel disasm`."""
    mf, pf = directory / "manifest.json", directory / "program.bin"
    try:
        n_ins = int(m.get("instructions", -1))
    except (TypeError, ValueError):
        raise ConfigError(f"{mf}: instructions {m.get('instructions')!r}: expected an integer") from None
    if len(program) != n_ins * spec.INSTR_BYTES or n_ins <= 0:
        raise ProgramError(f"{pf}: {len(program)} bytes, manifest says {n_ins} instructions "
                           f"({n_ins * spec.INSTR_BYTES} bytes)")
    crc = zlib.crc32(program)
    if crc != _hex(m.get("program_crc32"), f"{mf}: program_crc32"):
        raise ProgramError(f"{pf}: CRC-32 0x{crc:08x}, manifest {mf} says {m.get('program_crc32')} (program.bin "
                           "corrupted or from another compilation)")
    return n_ins, crc


def task_dir(root: Path, entry: dict[str, Any]) -> Path:
    """The directory of one entry of a multi-task manifest's "programs" list."""
    name = str(entry.get("task"))
    sub = root / name  # the compiler writes DIR/<task>; "dir" may be an absolute path of the host
    if not sub.is_dir():
        sub = root / Path(str(entry.get("dir", name))).name
    return sub


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest.json as a dict; ConfigError naming the file when missing, not JSON or not an object."""
    return _read_json(path)


def load_task(directory: str | Path) -> CompiledTask:
    """Load and check one task's directory (program.bin, image.bin, manifest.json)."""
    d = Path(directory)
    mf = d / "manifest.json"
    m = _read_json(mf)
    if m.get("format") != FORMAT:
        raise ConfigError(f"{mf}: format {m.get('format')!r}, expected {FORMAT!r}")
    major = str(m.get("isa_version", "")).split(".")[0]
    if major != str(spec.ISA_MAJOR):
        raise ProgramError(f"{mf}: isa_version {m.get('isa_version')!r}, this runtime speaks ISA {spec.ISA_MAJOR}.x")
    for name in ("program.bin", "image.bin"):
        if not (d / name).is_file():
            raise ConfigError(f"{d / name}: not found")
    program = (d / "program.bin").read_bytes()
    image = (d / "image.bin").read_bytes()
    n_ins, crc = check_program(program, m, d)
    try:
        verify_payload(image)
        hdr = parse_header(image)
    except ProgramError as exc:
        raise ProgramError(f"{d / 'image.bin'}: {exc}") from None
    if hdr.program_crc32 != crc or hdr.instr_count != n_ins:
        raise ProgramError(f"{d / 'image.bin'}: header describes a program of {hdr.instr_count} instructions with "
                           f"CRC-32 0x{hdr.program_crc32:08x}; program.bin has {n_ins} and 0x{crc:08x} "
                           "(image and program from different compilations)")
    mhash = _hex(m.get("config_hash"), f"{mf}: config_hash")
    if mhash != hdr.config_hash:
        raise ProgramError(f"{d / 'image.bin'}: header config hash 0x{hdr.config_hash:08x}, manifest says "
                           f"0x{mhash:08x}")
    inp, out = m.get("input", {}), m.get("output", {})
    if inp.get("dtype") != "uint8" or len(inp.get("shape", [])) != 3:
        raise ConfigError(f"{mf}: input {inp!r}: expected dtype uint8 and shape [C, H, W]")
    if out.get("dtype") != "int32" or len(out.get("shape", [])) != 2:
        raise ConfigError(f"{mf}: output {out!r}: expected dtype int32 and shape [rows, n]")
    in_shape = tuple(int(v) for v in inp["shape"])
    out_shape = tuple(int(v) for v in out["shape"])
    if int(np.prod(in_shape)) != hdr.input_bytes:
        raise ProgramError(f"{mf}: input shape {list(in_shape)} is {int(np.prod(in_shape))} bytes, the image header "
                           f"says input_bytes={hdr.input_bytes}")
    if 4 * int(np.prod(out_shape)) != hdr.output_bytes:
        raise ProgramError(f"{mf}: output shape {list(out_shape)} int32 is {4 * int(np.prod(out_shape))} bytes, the "
                           f"image header says output_bytes={hdr.output_bytes}")
    kind = str(out.get("kind", ""))
    if kind not in ("classify", "segment", "depth"):
        raise ConfigError(f"{mf}: output.kind {kind!r}: expected classify, segment or depth")
    if kind == "classify" and out_shape[0] != 1:
        raise ConfigError(f"{mf}: classify output has {out_shape[0]} rows, expected 1 (the CLS token)")
    if kind != "classify":
        _, h, w = in_shape
        p2, rem = divmod(h * w, out_shape[0])
        p = math.isqrt(p2) if p2 > 0 else 0
        if rem or p * p != p2 or p == 0 or h % p or w % p or out_shape[1] % p2:
            raise ConfigError(f"{mf}: output {list(out_shape)} is not one row of channels x patch x patch per "
                              f"square patch of the {h}x{w} input")
    scale = None
    if "dequant_scale" in out:
        scale = _check_scale(np.asarray(out["dequant_scale"], dtype=np.float64), out_shape[1],
                             f"{mf}: output.dequant_scale")
    return CompiledTask(str(m.get("task", d.name)), int(m.get("task_index", 0)), d, m, program, image, hdr,
                        in_shape, out_shape, kind, scale)  # type: ignore[arg-type]


def _check_scale(s: np.ndarray, n: int, where: str) -> np.ndarray:
    if s.ndim > 1 or (s.ndim == 1 and s.size not in (1, n)):
        raise ConfigError(f"{where}: {s.size} values, expected 1 or {n} (one per output channel)")
    if not np.all(np.isfinite(s)):
        raise ConfigError(f"{where}: contains NaN / Inf")
    return s


class Bundle:
    """A bundle directory: one or several compiled tasks of one model for one accelerator configuration."""

    def __init__(self, root: Path, tasks: list[CompiledTask], model: str, board: str):
        if not tasks:
            raise ConfigError(f"{root}: bundle has no compiled programs")
        self.root, self.tasks, self.model, self.board = root, tasks, model, board

    @classmethod
    def load(cls, path: str | Path, qmodel: Any = None) -> Bundle:
        """Load DIR (single task or the multi-task layout); `qmodel` (path or QuantizedModel) supplies the
        dequantization scales of manifests without output.dequant_scale and is checked against those with it."""
        root = Path(path)
        if not root.is_dir():
            raise ConfigError(f"bundle {root}: not a directory (give the --out DIR of `vitaccel compile`)")
        top = _read_json(root / "manifest.json")
        if top.get("format") == FORMAT:
            tasks = [load_task(root)]
        elif isinstance(top.get("programs"), list) and top["programs"]:
            tasks = []
            for ent in top["programs"]:
                if not isinstance(ent, dict):
                    raise ConfigError(f"{root / 'manifest.json'}: programs entry {ent!r}: expected an object")
                tasks.append(load_task(task_dir(root, ent)))
        else:
            raise ConfigError(f"{root / 'manifest.json'}: neither a compiled program (format {FORMAT!r}) nor a "
                              "multi-task manifest with 'programs'")
        first = tasks[0].manifest
        b = cls(root, tasks, str(first.get("model")), str(first.get("board")))
        for t in tasks:
            if t.manifest.get("model") != b.model:
                raise ConfigError(f"{t.directory}: model {t.manifest.get('model')!r}, the bundle's is {b.model!r}")
        if qmodel is not None:
            b.attach_qmodel(qmodel)
        return b

    def attach_qmodel(self, qmodel: Any) -> None:
        """Check the QuantizedModel (path or object) against the bundle and take the dequantization scales of
        every task whose manifest has none; where the manifest has them, the model's must be equal."""
        src = "qmodel"
        if isinstance(qmodel, (str, Path)):
            from vitaccel.quant.model import QuantizedModel

            src = f"qmodel {qmodel}"
            qmodel = QuantizedModel.load(qmodel)
        mc = qmodel.config
        if mc.name != self.model:
            raise ConfigError(f"{src} is {mc.name!r} but the bundle {self.root} was compiled for {self.model!r}")
        for t in self.tasks:
            mf = t.directory / "manifest.json"
            if not 0 <= t.task_index < len(mc.tasks):
                raise ConfigError(f"{src} has {len(mc.tasks)} tasks, {mf} is task index {t.task_index}")
            spec_t = mc.tasks[t.task_index]
            if spec_t.name != t.task:
                raise ConfigError(f"{src} task {t.task_index} is {spec_t.name!r}, {mf} is {t.task!r}")
            in_shape = (int(mc.in_chans), int(mc.img_size[0]), int(mc.img_size[1]))
            if in_shape != t.input_shape:
                raise ConfigError(f"{src} takes input {list(in_shape)}, {mf} says {list(t.input_shape)} (a different "
                                  f"{mc.name!r} config)")
            s = np.asarray(qmodel.layer(f"heads.{t.task_index}").scales["dequant"], dtype=np.float64)
            s = _check_scale(s, t.output_shape[1], f"{src} heads.{t.task_index} dequant scale")
            if t.dequant_scale is not None:
                a, b = np.broadcast_to(s, t.output_shape[1:]), np.broadcast_to(t.dequant_scale, t.output_shape[1:])
                if not np.array_equal(a, b):
                    bad = int(np.flatnonzero(a != b)[0])
                    raise ConfigError(f"{src}: heads.{t.task_index} dequant scale [{bad}] = {a[bad]!r} but "
                                      f"{mf} output.dequant_scale[{bad}] = {b[bad]!r}; expected equal (the bundle "
                                      "was compiled from another QuantizedModel)")
            else:
                t.dequant_scale = s

    def task(self, task: int | str | None = None) -> CompiledTask:
        """By name, by the model's task index, or the only / first task when None."""
        if task is None:
            return self.tasks[0]
        for t in self.tasks:
            if t.task == task or (isinstance(task, int) and t.task_index == task) or \
                    (isinstance(task, str) and task.isdigit() and t.task_index == int(task)):
                return t
        raise ConfigError(f"bundle {self.root}: no task {task!r}; it has "
                          f"{', '.join(f'{t.task_index}:{t.task}' for t in self.tasks)}")

    @property
    def config_hashes(self) -> set[int]:
        return {t.header.config_hash for t in self.tasks}


__all__ = ["FORMAT", "Bundle", "CompiledTask", "check_program", "load_task", "read_manifest", "task_dir"]
