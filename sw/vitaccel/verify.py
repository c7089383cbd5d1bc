"""`vitaccel verify`: run a compiled program on a backend and compare bit-exactly with QuantizedModel.forward.

Backends are registered by name as "module:Class" strings (imported lazily), so the HLS (csim) and RTL (rtlsim)
packages plug in without this module importing them:

    from vitaccel.verify import register_backend
    register_backend("csim", "vitaccel.hlsgen.backend:CsimBackend")

A backend class is constructed with the AcceleratorConfig and implements

    run(program: bytes, image: bytes, inputs: np.ndarray) -> (output, cycles)

program = encoded instructions (program.bin), image = memory image (image.bin), inputs = the uint8 image
(C, H, W); output = the OUTPUT region after END (bytes / uint8 array of header.output_bytes, or the int32 array),
cycles = the backend's cycle count or None (rtlsim: the CYCLES register of the simulated RTL). `verify --json`
adds "model_cycles" (vitaccel.perf's count, via the ISA simulator) for every backend but isa, whose "cycles" is
that count. A failing program raises vitaccel.errors.ProgramError (the ISA
simulator's SimError carries .code and .index, matching the STATUS / ERROR_PC registers).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any, Protocol

import click
import numpy as np

from vitaccel.errors import ConfigError

BACKENDS: dict[str, str] = {
    "isa": "vitaccel.verify:IsaBackend",
    "csim": "vitaccel.hlsgen.backend:CsimBackend",
    "rtlsim": "vitaccel.rtlgen.backend:RtlsimBackend",
}


class Backend(Protocol):
    """What `vitaccel verify` (and the runtime devices) need from an implementation."""

    name: str

    def run(self, program: bytes, image: bytes, inputs: np.ndarray) -> tuple[Any, int | None]: ...


def register_backend(name: str, target: str) -> None:
    """Register (or replace) backend `name` as "module:Class"."""
    if ":" not in target:
        raise ConfigError(f"backend {name!r}: target {target!r} must be 'module:Class'")
    BACKENDS[name] = target


def get_backend(name: str, cfg: Any) -> Backend:
    """Instantiate backend `name` for AcceleratorConfig `cfg`; ConfigError if unknown or not installed."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; known: {', '.join(sorted(BACKENDS))}")
    mod_name, cls_name = BACKENDS[name].split(":")
    try:
        mod = importlib.import_module(mod_name)
        cls = getattr(mod, cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"backend {name!r} ({BACKENDS[name]}) is not available: {exc}") from None
    return cls(cfg)


class IsaBackend:
    """The ISA simulator as a backend (cycles from the performance model on the executed instructions)."""

    name = "isa"

    def __init__(self, cfg: Any):
        from vitaccel.sim import IsaSimulator

        self.sim = IsaSimulator(cfg)
        self.last: Any = None

    def run(self, program: bytes, image: bytes, inputs: np.ndarray) -> tuple[np.ndarray, int | None]:
        res = self.sim.run(program, image, inputs)
        self.last = res
        return res.output, res.cycles


def _as_int32(output: Any, rows: int, n: int) -> np.ndarray:
    a = np.asarray(output)
    if isinstance(output, (bytes, bytearray)) or a.dtype == np.uint8:
        a = np.frombuffer(bytes(np.asarray(bytearray(output) if isinstance(output, (bytes, bytearray))
                                           else a, dtype=np.uint8)), dtype="<i4")
    return a.astype(np.int64).reshape(rows, n)


def verify_model(qm: Any, board: str, backend: str = "isa", tasks: list[int] | None = None, images: int = 1,
                 seed: int = 0, overrides: dict[str, Any] | None = None, log: Any = None) -> list[dict[str, Any]]:
    """Compile `qm` for every task (or `tasks`), run `images` inputs on the backend and compare with
    QuantizedModel.forward. One result dict per task (the `verify --json` shape)."""
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.compiler import compile_model

    cfg = derive_accelerator_config(board, overrides)
    mc = qm.config
    be = get_backend(backend, cfg)
    rng = np.random.default_rng(seed)
    inputs = rng.integers(0, 256, size=(images, mc.in_chans, *mc.img_size), dtype=np.uint8)
    out = []
    for ti in tasks if tasks is not None else range(len(mc.tasks)):
        cp = compile_model(qm, cfg, ti)
        rows, n = cp.manifest["output"]["shape"]
        ref = qm.forward(inputs, ti)["int32"]
        same, compared, maxdiff, cycles = True, 0, 0, None
        model_cycles = None
        if backend != "isa":  # the performance model's count for the first image (isa: "cycles" is that count)
            from vitaccel.sim import IsaSimulator

            model_cycles = IsaSimulator(cfg).run(cp.program, cp.image, inputs[0]).cycles
        for b in range(images):
            output, cyc = be.run(cp.program, cp.image, inputs[b])
            got = _as_int32(output, rows, n)
            diff = np.abs(got - ref[b].reshape(rows, n))
            same &= bool(np.array_equal(got, ref[b].reshape(rows, n)))
            compared += got.size
            maxdiff = max(maxdiff, int(diff.max()) if diff.size else 0)
            cycles = cyc if cycles is None else cycles
        if log:
            log(f"{mc.name} / {mc.tasks[ti].name} on {cfg.board} [{backend}]: "
                f"{'bit-exact' if same else 'MISMATCH'} ({compared} values, max |diff| {maxdiff}, cycles {cycles}"
                + (f", model cycles {model_cycles})" if model_cycles is not None else ")"))
        out.append({"backend": backend, "model": mc.name, "board": cfg.board, "task": mc.tasks[ti].name,
                    "bit_exact": same, "outputs_compared": compared, "max_abs_diff": maxdiff,
                    "cycles": None if cycles is None else int(cycles)})
        if backend != "isa":
            out[-1]["model_cycles"] = None if model_cycles is None else int(model_cycles)
    return out


@click.command("verify")
@click.option("--backend", default="isa", show_default=True, help=f"One of {', '.join(BACKENDS)}.")
@click.option("--model", default=None, help="Model name.")
@click.option("--board", required=True, help="Board name or YAML path.")
@click.option("--task", default=None, help="Task name or index (default: every task).")
@click.option("--qmodel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="QuantizedModel file (.npz from `vitaccel quantize`) to verify.")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Float checkpoint to quantize first (when no --qmodel is given).")
@click.option("--synthetic", is_flag=True, help="Synthetic integer parameters (fast, no torch).")
@click.option("--images", type=click.IntRange(min=1), default=1, show_default=True,
              help="Random uint8 input images per task (>= 1).")
@click.option("--seed", default=0, show_default=True,
              help="Seed of the random input images and of the float init / synthetic parameters.")
@click.option("--json", "as_json", is_flag=True, help="JSON list (one object per task) on stdout.")
def verify_cmd(backend: str, model: str | None, board: str, task: str | None, qmodel: Path | None,
               checkpoint: Path | None, synthetic: bool, images: int, seed: int, as_json: bool) -> None:
    """Check a backend bit-exactly against the golden QuantizedModel (exit code 1 on a mismatch)."""
    from vitaccel.compiler.source import load_qmodel

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    qm = load_qmodel(model, qmodel, checkpoint, synthetic=synthetic, seed=seed, log=log)
    tasks = None
    if task is not None:
        tasks = [qm.config.task_index(int(task) if task.isdigit() else task)]
    res = verify_model(qm, board, backend, tasks, images, seed, log=log)
    if as_json:
        click.echo(json.dumps(res, indent=2))
    if not all(r["bit_exact"] for r in res):
        bad = ", ".join(f"{r['task']} (max |diff| {r['max_abs_diff']})" for r in res if not r["bit_exact"])
        click.echo(f"vitaccel verify: {backend} is NOT bit-exact for {bad}", err=True)
        sys.exit(1)


__all__ = ["BACKENDS", "Backend", "IsaBackend", "get_backend", "register_backend", "verify_cmd", "verify_model"]
