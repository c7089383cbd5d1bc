"""`vitaccel bench accuracy`: float vs int8 (golden QuantizedModel) accuracy of the trained example models.

vit-digits: top-1 on the scikit-learn digits test split (360 images) and argmax agreement.
m3vit-scenes: segmentation mIoU (and per-pixel argmax agreement) and depth RMSE (metres) on the fixed generated
test scenes. Checkpoints are trained on first use (minutes, cached in build/checkpoints).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
import numpy as np

from vitaccel.errors import ConfigError

CALIB_IMAGES = 128


def _quantized(name: str, method: str, progress: bool) -> tuple[Any, Any]:
    from vitaccel.quant import calibration_images, quantize
    from vitaccel.train.recipes import load_trained

    model = load_trained(name, progress=progress)
    calib, _ = calibration_images(model.cfg, CALIB_IMAGES, seed=0)
    return model, quantize(model, model.cfg, calib, method=method)


def _float_outputs(model: Any, images: np.ndarray, task: int, batch: int = 256) -> np.ndarray:
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i : i + batch].astype(np.float32) / 255.0)
            outs.append(model(x, task).numpy())
    return np.concatenate(outs)


def bench_digits(method: str = "minmax", progress: bool = False) -> list[dict[str, Any]]:
    """Top-1 of float and int8 vit-digits on the digits test split, and their argmax agreement."""
    from vitaccel.data import load_digits_dataset

    model, qm = _quantized("vit-digits", method, progress)
    cfg = model.cfg
    data = load_digits_dataset(size=cfg.img_size, channels=cfg.in_chans)
    f = _float_outputs(model, data.x_test, 0).argmax(1)
    q = qm.forward(data.x_test, 0)["float"].argmax(1)
    return [{
        "model": "vit-digits", "dataset": f"sklearn-digits-test({len(data.y_test)})", "metric": "top1",
        "float": float(np.mean(f == data.y_test)), "int8": float(np.mean(q == data.y_test)),
        "agreement": float(np.mean(f == q)),
    }]


def bench_scenes(method: str = "minmax", progress: bool = False) -> list[dict[str, Any]]:
    """mIoU and depth RMSE of float and int8 m3vit-scenes on the fixed generated test scenes."""
    from vitaccel.train.metrics import miou, rmse
    from vitaccel.train.recipes import scenes_test_set

    model, qm = _quantized("m3vit-scenes", method, progress)
    cfg = model.cfg
    images, masks, depths = scenes_test_set(size=cfg.img_size)
    seg = next(i for i, t in enumerate(cfg.tasks) if t.kind == "segment")
    dep = next(i for i, t in enumerate(cfg.tasks) if t.kind == "depth")
    k = cfg.tasks[seg].out_channels
    dataset = f"scenes-test({len(images)})"
    fs = _float_outputs(model, images, seg).argmax(1)
    qs = qm.forward(images, seg)["float"].argmax(1)
    fd = _float_outputs(model, images, dep)[:, 0]
    qd = qm.forward(images, dep)["float"][:, 0]
    return [
        {"model": "m3vit-scenes", "dataset": dataset, "metric": "miou", "float": miou(fs, masks, k),
         "int8": miou(qs, masks, k), "agreement": float(np.mean(fs == qs))},
        {"model": "m3vit-scenes", "dataset": dataset, "metric": "depth_rmse", "float": rmse(fd, depths),
         "int8": rmse(qd, depths), "agreement": None},
    ]


BENCHES = {"vit-digits": bench_digits, "m3vit-scenes": bench_scenes}


@click.command("accuracy")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]} on stdout.')
@click.option("--model", "models", multiple=True, help=f"Restrict to these models ({', '.join(BENCHES)}).")
@click.option("--method", type=click.Choice(["minmax", "percentile"]), default="minmax", show_default=True,
              help="Activation calibration method.")
def accuracy_cmd(as_json: bool, models: tuple[str, ...], method: str) -> None:
    """Float vs int8 accuracy of the trained example models (trains them first if needed)."""
    for m in models:
        if m not in BENCHES:
            raise ConfigError(f"bench accuracy: unknown model {m!r}; expected one of {', '.join(BENCHES)}")
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name in models or tuple(BENCHES):
        click.echo(f"[bench accuracy] {name} ...", err=True)
        results.extend(BENCHES[name](method, progress=sys.stderr.isatty()))
    if as_json:
        click.echo(json.dumps({"results": results, "seconds": round(time.perf_counter() - t0, 1)}, indent=2))
        return
    for r in results:
        agree = "-" if r["agreement"] is None else f"{r['agreement']:.4f}"
        click.echo(f"{r['model']:14s} {r['dataset']:24s} {r['metric']:10s} float {r['float']:.4f}  "
                   f"int8 {r['int8']:.4f}  agreement {agree}")
