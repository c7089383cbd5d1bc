"""`vitaccel run`: run images through a compiled bundle on a device (isa, csim, rtlsim, pynq) with the driver."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import numpy as np

from vitaccel.boards.accel import parse_overrides


def _log(msg: str) -> None:
    click.echo(msg, err=True)


def summarize(kind: str, y: np.ndarray | None, acc: np.ndarray) -> dict[str, Any]:
    """Short per-image figures: classify -> top-5 (class, value); segment -> pixels per argmax class;
    depth -> min / mean / max. From the float output (int32 only: per-channel scales differ, so no argmax)."""
    if y is None:
        return {"int32_min": int(acc.min()), "int32_max": int(acc.max())}
    if kind == "classify":
        order = np.argsort(-y, kind="stable")[:5]
        return {"top5": [[int(i), float(y[i])] for i in order]}
    if kind == "segment":
        cls, counts = np.unique(np.argmax(y, axis=0), return_counts=True)
        return {"class_pixels": {str(int(c)): int(n) for c, n in zip(cls, counts)}}
    return {"depth_min": float(y.min()), "depth_mean": float(y.mean()), "depth_max": float(y.max())}


def check_writable(out: Path) -> None:
    """ConfigError now (before anything runs) unless the --out file can be written: its folder exists or can be
    created and is writable, and the path is not a directory."""
    from vitaccel.errors import ConfigError

    if out.is_dir():
        raise ConfigError(f"--out {out}: is a directory, expected a .npz file path")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder {parent} ({exc.strerror or exc}); expected a "
                          "writable .npz path") from None
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ConfigError(f"--out {out}: not writable (permission denied); expected a writable .npz path")


@click.command("run")
@click.option("--bundle", "bundle", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory written by `vitaccel compile --out DIR`.")
@click.option("--device", default="isa", show_default=True, help="isa, csim, rtlsim or pynq (or a registered name).")
@click.option("--task", default=None, help="Task name or index (default: the bundle's first task).")
@click.option("--bitfile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="pynq: the .bit (with the .hwh of the same name beside it).")
@click.option("--ip-name", default=None, help="pynq: the accelerator's IP name in the overlay (default: by VLNV).")
@click.option("--board", default=None, help="Emulated devices: board to build the accelerator for (default: the "
                                            "bundle's).")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Emulated devices: AcceleratorConfig override, as given to `vitaccel compile` (repeatable).")
@click.option("--qmodel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="QuantizedModel file the bundle came from: checked against the manifest's dequantization "
                   "scales, or supplies them when a manifest has none.")
@click.option("--int32", "int32", is_flag=True, help="Report the int32 head accumulators only (no dequantization).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds (> 0) to wait for ap_done per image [default: 10 on a board, 600 on emulated devices].")
@click.option("--throughput", type=click.IntRange(min=1), default=None, metavar="N",
              help="Also run a throughput test over N (>= 1) random images.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the outputs to this .npz (int32, and float unless --int32).")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def run_cmd(bundle: Path, device: str, task: str | None, bitfile: Path | None, ip_name: str | None,
            board: str | None, sets: tuple[str, ...], qmodel: Path | None, int32: bool, timeout: float | None,
            throughput: int | None, out: Path | None, as_json: bool, images: tuple[Path, ...]) -> None:
    """Run IMAGES (.npy uint8 (C,H,W) / (B,C,H,W), or .png/.jpg of the model's size) on a device."""
    from vitaccel.errors import ConfigError
    from vitaccel.runtime.bundle import Bundle
    from vitaccel.runtime.driver import Accelerator
    from vitaccel.runtime.images import load_images

    if not images and throughput is None:
        raise ConfigError("give IMAGES to run (or --throughput N)")
    if out is not None:
        check_writable(out)
    kwargs: dict[str, Any] = {}
    if device == "pynq":
        if board is not None or sets:
            raise ConfigError("--board / --set describe an emulated accelerator; the pynq device reads the bitstream")
        kwargs.update(bitfile=bitfile, ip_name=ip_name)
    else:
        if bitfile is not None or ip_name is not None:
            raise ConfigError(f"--bitfile / --ip-name are for --device pynq, not {device!r}")
        kwargs.update(board=board, overrides=parse_overrides(sets))
    output = "int32" if int32 else "float"
    task_key = task if task is None or not task.isdigit() else int(task)
    # bundle, --qmodel and every image are checked before the device is opened or anything runs
    loaded = Bundle.load(bundle, qmodel=qmodel)
    shape = loaded.task(task_key).input_shape
    batches = [(path, load_images(path, shape)) for path in images]
    with Accelerator(loaded, device, timeout_s=timeout, **kwargs) as acc:
        t = acc.load(task_key)
        ident = acc.identity or {}
        clock = float(t.manifest.get("accelerator", {}).get("clock_mhz", 0.0)) or None
        report: dict[str, Any] = {
            "device": acc.device.describe(), "bundle": str(bundle), "model": acc.bundle.model, "task": t.task,
            "kind": t.kind, "hardware": {k: f"0x{v:08x}" for k, v in ident.items()}, "images": []}
        ints, floats = [], []
        for path, batch in batches:
            for b, img in enumerate(batch):
                r = acc.run(img, t.task, output)
                ints.append(r.int32)
                if r.output is not None:
                    floats.append(r.output)
                name = str(path) if len(batch) == 1 else f"{path}[{b}]"
                ent = {"image": name, "cycles": r.cycles, "stall_cycles": r.stall_cycles,
                       "accelerator_ms": r.cycles / (clock * 1e3) if r.cycles and clock else None,
                       "wall_ms": r.seconds * 1e3,
                       "output_shape": list(r.output.shape if r.output is not None else r.int32.shape),
                       **summarize(t.kind, r.output, r.int32)}
                report["images"].append(ent)
                if not as_json:
                    cyc = f"{r.cycles} cycles ({ent['accelerator_ms']:.3f} ms at {clock:g} MHz)" if r.cycles and \
                        clock else "cycles not counted by this device"
                    figs = {k: v for k, v in ent.items() if k in ("top5", "class_pixels", "depth_min", "depth_mean",
                                                                   "depth_max", "int32_min", "int32_max")}
                    click.echo(f"{name}: {t.task} {ent['output_shape']} on {acc.device.name}: {cyc}, wall "
                               f"{ent['wall_ms']:.1f} ms; {json.dumps(figs)}")
        if throughput is not None:
            report["throughput"] = acc.throughput_test(throughput, t.task)
            if not as_json:
                tp = report["throughput"]
                click.echo(f"throughput ({throughput} images, {acc.device.name}): "
                           f"{tp['throughput_images_per_s']:.2f} images/s wall clock; accelerator latency "
                           f"{tp['accelerator_latency_ms'] if tp['accelerator_latency_ms'] is None else round(tp['accelerator_latency_ms'], 4)} ms")
        if out is not None and ints:
            arrays = {"int32": np.stack(ints)}
            if floats:
                arrays["output"] = np.stack(floats)
            np.savez(out, **arrays)
            _log(f"outputs -> {out}")
    if as_json:
        click.echo(json.dumps(report, indent=2))


__all__ = ["check_writable", "run_cmd", "summarize"]
