"""Training recipes for the small example models (CPU, minutes): vit-digits and m3vit-scenes.

Checkpoints go to build/checkpoints/<name>.pt (override with $VITACCEL_CHECKPOINT_DIR) and are cached: a file
whose config equals the registry entry and whose recorded recipe equals the current recipe is reused.
Concurrent callers (pytest -n 2) serialise on a lock file, so a checkpoint is trained once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from vitaccel.data.digits import DigitsData, load_digits_dataset
from vitaccel.data.scenes import NUM_SCENE_CLASSES, SceneGenerator
from vitaccel.errors import CheckpointError, ConfigError
from vitaccel.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from vitaccel.models.config import get_config
from vitaccel.models.vit import VisionTransformer, build_model
from vitaccel.train.metrics import confusion_matrix, miou_from_confusion, rmse

RECIPE_VERSION = 1


@dataclass(frozen=True)
class DigitsRecipe:
    """vit-digits: Adam with linear warm-up and cosine decay, random +-shift pixel translation."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    max_shift: int = 3
    seed: int = 0
    data_seed: int = 0
    version: int = RECIPE_VERSION


@dataclass(frozen=True)
class ScenesRecipe:
    """m3vit-scenes: both tasks per step (one forward per task: gates differ), loss = (class-balanced) CE(segment) +
    depth_weight * MSE(depth in metres) / depth_var; Adam, warm-up + cosine decay; fixed generated train set."""

    steps: int = 1200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    train_scenes: int = 12000
    train_seed: int = 0
    test_seed: int = 1
    test_scenes: int = 512
    depth_weight: float = 1.0
    balance_classes: bool = True  # CE class weights proportional to 1/sqrt(pixel frequency), mean 1
    seed: int = 0
    version: int = RECIPE_VERSION


TRAINABLE = ("vit-digits", "m3vit-scenes")


@dataclass
class TrainResult:
    """Outcome of a training run or cache hit: checkpoint path, metrics on the test split, wall time (s)."""

    name: str
    path: Path
    metrics: dict[str, float]
    seconds: float
    steps: int
    cached: bool = False
    recipe: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


# ---- paths, locking, threads -------------------------------------------------------------------------------
def default_checkpoint_dir() -> Path:
    """$VITACCEL_CHECKPOINT_DIR, else <project root>/build/checkpoints (project root = the directory holding
    pyproject.toml above this package), else ./build/checkpoints."""
    env = os.environ.get("VITACCEL_CHECKPOINT_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "sw" / "vitaccel").is_dir():
            return parent / "build" / "checkpoints"
    return Path.cwd() / "build" / "checkpoints"


def checkpoint_path(name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """<directory or default_checkpoint_dir()>/<name>.pt"""
    return (Path(directory) if directory is not None else default_checkpoint_dir()) / f"{name}.pt"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _threads(n: int = 1) -> Iterator[None]:
    """Intra-op threads while training (default 1). These models multiply 17 x 64 token matrices: a second
    OpenMP thread gains little, and under load (pytest -n 2 on the 2-core machines) spinning threads cost more
    CPU than they save, so one thread per training process is both the fastest and the fairest choice."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, frac))))

    return f


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _to_float(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32) / 255.0


# ---- vit-digits --------------------------------------------------------------------------------------------
def _shift_batch(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    """Translate each image by integers in [-max_shift, max_shift] (zero fill)."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    pad = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    sh = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=gen)
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = int(sh[i, 0]), int(sh[i, 1])
        out[i] = pad[i, :, dy : dy + h, dx : dx + w]
    return out


@torch.no_grad()
def evaluate_digits(model: VisionTransformer, data: DigitsData | None = None) -> dict[str, float]:
    """Top-1 accuracy of model on the digits test split."""
    data = data or load_digits_dataset(size=model.cfg.img_size, channels=model.cfg.in_chans)
    model.eval()
    logits = model(_to_float(data.x_test)).numpy()
    return {"top1": float(np.mean(np.argmax(logits, 1) == data.y_test)), "test_images": len(data.y_test)}


def train_vit_digits(
    out: str | os.PathLike[str] | None = None,
    recipe: DigitsRecipe | None = None,
    max_steps: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train vit-digits from scratch on scikit-learn digits, save the checkpoint to `out` (default
    build/checkpoints/vit-digits.pt) and return test top-1. max_steps truncates the run (tests)."""
    recipe = recipe or DigitsRecipe()
    cfg = get_config("vit-digits")
    path = Path(out) if out is not None else checkpoint_path(cfg.name)
    t0, c0 = time.perf_counter(), time.process_time()
    data = load_digits_dataset(size=cfg.img_size, channels=cfg.in_chans, seed=recipe.data_seed)
    x_train, y_train = _to_float(data.x_train), torch.from_numpy(data.y_train)
    n = len(y_train)
    steps_per_epoch = (n + recipe.batch_size - 1) // recipe.batch_size
    total = recipe.epochs * steps_per_epoch
    if max_steps is not None:
        total = min(total, max_steps)
    with _threads():
        model = build_model(cfg, seed=recipe.seed)
        gen = torch.Generator().manual_seed(recipe.seed)
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total, recipe.warmup_steps))
        step, loss_ema = 0, None
        with _progress(progress) as bar:
            task = bar.add_task("train vit-digits", total=total, info="")
            model.train()
            while step < total:
                perm = torch.randperm(n, generator=gen)
                for i in range(0, n, recipe.batch_size):
                    if step >= total:
                        break
                    idx = perm[i : i + recipe.batch_size]
                    xb = _shift_batch(x_train[idx], gen, recipe.max_shift)
                    loss = F.cross_entropy(model(xb), y_train[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    step += 1
                    lv = loss.item()
                    loss_ema = lv if loss_ema is None else 0.95 * loss_ema + 0.05 * lv
                    bar.update(task, advance=1, info=f"loss {loss_ema:.3f}")
        metrics = evaluate_digits(model, data)
    seconds = time.perf_counter() - t0
    metrics["train_seconds"] = round(seconds, 2)
    metrics["train_cpu_seconds"] = round(time.process_time() - c0, 2)  # process CPU time (1 training thread)
    meta = {"recipe": asdict(recipe), "steps": step, "metrics": metrics, "max_steps": max_steps}
    save_checkpoint(path, model, meta)
    return TrainResult(cfg.name, path, metrics, seconds, step, False, asdict(recipe))


# ---- m3vit-scenes ------------------------------------------------------------------------------------------
def scenes_test_set(recipe: ScenesRecipe | None = None, size: tuple[int, int] = (32, 32)):
    """The fixed m3vit-scenes test scenes: (images uint8, masks uint8, depth float32)."""
    recipe = recipe or ScenesRecipe()
    return SceneGenerator(recipe.test_seed, size).batch(0, recipe.test_scenes)


@torch.no_grad()
def evaluate_scenes(
    model: VisionTransformer, images: np.ndarray, masks: np.ndarray, depths: np.ndarray, batch: int = 256
) -> dict[str, float]:
    """Segmentation mIoU / pixel accuracy and depth RMSE (m) of a 2-task (segment, depth) model, with the
    chance baselines: mIoU of predicting the most frequent class everywhere, and depth RMSE of predicting
    the test set's mean depth everywhere."""
    model.eval()
    cfg = model.cfg
    seg_t = next(i for i, t in enumerate(cfg.tasks) if t.kind == "segment")
    dep_t = next(i for i, t in enumerate(cfg.tasks) if t.kind == "depth")
    k = cfg.tasks[seg_t].out_channels
    cm = np.zeros((k, k), dtype=np.int64)
    sq = 0.0
    for i in range(0, len(images), batch):
        x = _to_float(images[i : i + batch])
        pred = model(x, seg_t).argmax(1).numpy()
        cm += confusion_matrix(pred, masks[i : i + batch], k)
        d = model(x, dep_t)[:, 0].numpy().astype(np.float64)
        sq += float(((d - depths[i : i + batch]) ** 2).sum())
    m, per_class = miou_from_confusion(cm)
    counts = np.bincount(masks.ravel(), minlength=k)
    cm_const = np.zeros((k, k), dtype=np.int64)
    cm_const[:, int(np.argmax(counts))] = counts
    return {
        "miou": m,
        "pixel_acc": float(np.trace(cm) / cm.sum()),
        "iou_per_class": [float(v) for v in per_class],
        "miou_majority_class": miou_from_confusion(cm_const)[0],
        "depth_rmse": float(np.sqrt(sq / depths.size)),
        "depth_rmse_const": rmse(np.full_like(depths, depths.mean()), depths),
        "test_images": len(images),
    }


def train_m3vit_scenes(
    out: str | os.PathLike[str] | None = None,
    recipe: ScenesRecipe | None = None,
    max_steps: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train m3vit-scenes (segment + depth) on generated scenes, save to `out` (default
    build/checkpoints/m3vit-scenes.pt) and return test mIoU / depth RMSE with baselines."""
    recipe = recipe or ScenesRecipe()
    cfg = get_config("m3vit-scenes")
    if [t.kind for t in cfg.tasks] != ["segment", "depth"] or cfg.tasks[0].out_channels != NUM_SCENE_CLASSES:
        raise ConfigError(f"m3vit-scenes must have tasks segment({NUM_SCENE_CLASSES}), depth; got {cfg.tasks}")
    if recipe.train_scenes < recipe.batch_size or recipe.steps < 1:
        raise ConfigError(
            f"scenes recipe: train_scenes {recipe.train_scenes} must be >= batch_size {recipe.batch_size} "
            f"and steps {recipe.steps} >= 1"
        )
    path = Path(out) if out is not None else checkpoint_path(cfg.name)
    total = recipe.steps if max_steps is None else min(recipe.steps, max_steps)
    t0, c0 = time.perf_counter(), time.process_time()
    n_train = min(recipe.train_scenes, max(total * recipe.batch_size, recipe.batch_size))
    images, masks, depths = SceneGenerator(recipe.train_seed, cfg.img_size).batch(0, n_train)
    x_all = _to_float(images)
    m_all = torch.from_numpy(masks.astype(np.int64))
    d_all = torch.from_numpy(depths)
    d_mean, d_var = float(depths.mean()), float(depths.var())
    class_w = None
    if recipe.balance_classes:
        freq = np.bincount(masks.ravel(), minlength=NUM_SCENE_CLASSES) / masks.size
        w = 1.0 / np.sqrt(np.maximum(freq, 1e-4))
        class_w = torch.tensor(w / w.mean(), dtype=torch.float32)
    with _threads():
        model = build_model(cfg, seed=recipe.seed)
        with torch.no_grad():
            model.heads[1].bias.fill_(d_mean)  # start the depth head at the mean training depth
        gen = torch.Generator().manual_seed(recipe.seed)
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total, recipe.warmup_steps))
        step, ema = 0, None
        with _progress(progress) as bar:
            task = bar.add_task("train m3vit-scenes", total=total, info="")
            model.train()
            while step < total:
                perm = torch.randperm(n_train, generator=gen)
                for i in range(0, n_train - recipe.batch_size + 1, recipe.batch_size):
                    if step >= total:
                        break
                    idx = perm[i : i + recipe.batch_size]
                    xb = x_all[idx]
                    flip = torch.rand(len(idx), generator=gen) < 0.5  # horizontal flip keeps classes/depth
                    xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                    mb = torch.where(flip[:, None, None], m_all[idx].flip(-1), m_all[idx])
                    db = torch.where(flip[:, None, None], d_all[idx].flip(-1), d_all[idx])
                    seg_loss = F.cross_entropy(model(xb, 0), mb, weight=class_w)
                    dep_loss = F.mse_loss(model(xb, 1)[:, 0], db) / d_var
                    loss = seg_loss + recipe.depth_weight * dep_loss
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    step += 1
                    cur = (seg_loss.item(), dep_loss.item())
                    ema = cur if ema is None else (0.95 * ema[0] + 0.05 * cur[0], 0.95 * ema[1] + 0.05 * cur[1])
                    bar.update(task, advance=1, info=f"seg {ema[0]:.3f} depth {ema[1]:.3f}")
        metrics = evaluate_scenes(model, *scenes_test_set(recipe, cfg.img_size))
    seconds = time.perf_counter() - t0
    metrics["train_seconds"] = round(seconds, 2)
    metrics["train_cpu_seconds"] = round(time.process_time() - c0, 2)  # process CPU time (1 training thread)
    meta = {"recipe": asdict(recipe), "steps": step, "metrics": metrics, "max_steps": max_steps}
    save_checkpoint(path, model, meta)
    return TrainResult(cfg.name, path, metrics, seconds, step, False, asdict(recipe))


# ---- cache -------------------------------------------------------------------------------------------------
_TRAINERS: dict[str, tuple[Callable[..., TrainResult], type]] = {
    "vit-digits": (train_vit_digits, DigitsRecipe),
    "m3vit-scenes": (train_m3vit_scenes, ScenesRecipe),
}


def cached_result(name: str, path: Path) -> TrainResult | None:
    """The TrainResult of a valid cached checkpoint (config and full recipe match), else None."""
    _, recipe_cls = _TRAINERS[name]
    if not path.is_file():
        return None
    try:
        payload = read_checkpoint(path)
    except CheckpointError:
        return None
    meta = payload["meta"]
    if payload["config"] != get_config(name) or meta.get("recipe") != asdict(recipe_cls()):
        return None
    if meta.get("max_steps") is not None:
        return None
    m = meta.get("metrics", {})
    return TrainResult(name, path, m, float(m.get("train_seconds", 0.0)), int(meta.get("steps", 0)), True, meta["recipe"])


def train(name: str, force: bool = False, progress: bool = True, directory: str | None = None) -> TrainResult:
    """Train `name` (one of TRAINABLE) unless a valid cached checkpoint exists (force retrains)."""
    if name not in _TRAINERS:
        raise ConfigError(f"no training recipe for model {name!r}; trainable models: {', '.join(TRAINABLE)}")
    path = checkpoint_path(name, directory)
    with _file_lock(path):
        if not force:
            hit = cached_result(name, path)
            if hit is not None:
                return hit
        trainer, _ = _TRAINERS[name]
        return trainer(out=path, progress=progress)


def ensure_checkpoint(name: str, progress: bool = True) -> Path:
    """Path of a trained checkpoint for `name` (vit-digits | m3vit-scenes), training it first if missing or
    stale. Safe to call from parallel processes."""
    return train(name, force=False, progress=progress).path


def load_trained(name: str, progress: bool = True) -> VisionTransformer:
    """ensure_checkpoint(name) and load it (eval mode, config checked against the registry)."""
    return load_checkpoint(ensure_checkpoint(name, progress=progress), expected=name)
