"""Fusion of per-board features into the final prediction.

Interface: any object with `fuse(features: list[np.ndarray | None]) -> np.ndarray`, where `features[i]` is board
i's FP32 feature batch (B, F_i) in cluster.yaml board order, or None when board i did not answer in time. A plain
callable with that signature is accepted too (`as_fusion`).

Shipped here:
- `ConcatFusion(feature_sizes)`: zero-fills missing boards and concatenates -> (B, sum F_i). The default.
- `MLPFusion`: zero-fill, concatenate, then an MLP (ReLU between layers, none after the last) -> (B, K) logits.
  Stored as an .npz, file type "vitaccel.fusion_mlp", format version 1: `vitaccel_format`, `format_version`,
  `feature_sizes` (N,) int64, `n_layers`, `w0`, `b0`, ... `w{L-1}`, `b{L-1}` with w_l of shape (out, in),
  optional `class_names`. The splitter trains it (with whole-board feature dropout, so zero-filled boards
  degrade gracefully) and writes it with `save_fusion_mlp`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vitaccel.errors import CheckpointError, ConfigError

__all__ = [
    "FUSION_MLP_FORMAT",
    "ConcatFusion",
    "Fusion",
    "MLPFusion",
    "as_fusion",
    "load_fusion",
    "save_fusion_mlp",
    "zero_fill",
]

FUSION_MLP_FORMAT = "vitaccel.fusion_mlp"
FUSION_MLP_VERSION = 1


@runtime_checkable
class Fusion(Protocol):
    """Combine per-board features (None = board missing) into one output batch."""

    def fuse(self, features: list[np.ndarray | None]) -> np.ndarray: ...


class _CallableFusion:
    def __init__(self, fn: Callable[[list[np.ndarray | None]], np.ndarray]) -> None:
        self._fn = fn

    def fuse(self, features: list[np.ndarray | None]) -> np.ndarray:
        return self._fn(features)


def as_fusion(obj: Fusion | Callable[[list[np.ndarray | None]], np.ndarray]) -> Fusion:
    """Accept a Fusion object or a plain function `fuse(features) -> array`."""
    if isinstance(obj, Fusion):
        return obj
    if callable(obj):
        return _CallableFusion(obj)
    raise TypeError(f"fusion must have a fuse(features) method or be callable, got {type(obj).__name__}")


def zero_fill(features: Sequence[np.ndarray | None], feature_sizes: Sequence[int]) -> np.ndarray:
    """Concatenate per-board features (B, F_i) float32, replacing a missing board by zeros (B, F_i)."""
    if len(features) != len(feature_sizes):
        raise ValueError(f"{len(features)} feature entries for {len(feature_sizes)} boards")
    present = [f for f in features if f is not None]
    if not present:
        raise ValueError("no board answered: nothing to fuse")
    batch = present[0].shape[0]
    parts = []
    for i, (f, size) in enumerate(zip(features, feature_sizes)):
        if f is None:
            parts.append(np.zeros((batch, size), dtype=np.float32))
        else:
            if f.shape != (batch, size):
                raise ValueError(f"board {i}: features {f.shape}, expected ({batch}, {size})")
            parts.append(np.asarray(f, dtype=np.float32))
    return np.concatenate(parts, axis=1)


class ConcatFusion:
    """Zero-fill missing boards and concatenate: (B, sum F_i) float32."""

    def __init__(self, feature_sizes: Sequence[int]) -> None:
        self.feature_sizes = [int(s) for s in feature_sizes]

    def fuse(self, features: list[np.ndarray | None]) -> np.ndarray:
        return zero_fill(features, self.feature_sizes)


class MLPFusion:
    """Zero-fill, concatenate, MLP with ReLU between layers: (B, K) float32 logits."""

    def __init__(
        self,
        feature_sizes: Sequence[int],
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.feature_sizes = [int(s) for s in feature_sizes]
        self.weights = [np.ascontiguousarray(w, dtype=np.float32) for w in weights]
        self.biases = [np.ascontiguousarray(b, dtype=np.float32) for b in biases]
        self.class_names = list(class_names) if class_names is not None else None
        if not self.weights or len(self.weights) != len(self.biases):
            raise CheckpointError(f"fusion MLP: {len(self.weights)} weights and {len(self.biases)} biases")
        width = sum(self.feature_sizes)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
                raise CheckpointError(
                    f"fusion MLP layer {i}: w{i} {w.shape} / b{i} {b.shape}, expected (out, {width}) / (out,)"
                )
            width = w.shape[0]
        if self.class_names is not None and len(self.class_names) != width:
            raise CheckpointError(f"fusion MLP: {len(self.class_names)} class names for {width} outputs")

    def fuse(self, features: list[np.ndarray | None]) -> np.ndarray:
        x = zero_fill(features, self.feature_sizes)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w.T + b
            if i < last:
                x = np.maximum(x, np.float32(0.0))
        return x


def save_fusion_mlp(
    path: str | Path,
    feature_sizes: Sequence[int],
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write an MLPFusion file (format above); the arguments are checked by constructing the MLPFusion first."""
    MLPFusion(feature_sizes, weights, biases, class_names)
    arrays: dict[str, np.ndarray] = {
        "vitaccel_format": np.array(FUSION_MLP_FORMAT),
        "format_version": np.array(FUSION_MLP_VERSION),
        "feature_sizes": np.array(feature_sizes, dtype=np.int64),
        "n_layers": np.array(len(weights)),
    }
    for i, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"w{i}"] = np.asarray(w, dtype=np.float32)
        arrays[f"b{i}"] = np.asarray(b, dtype=np.float32)
    if class_names is not None:
        arrays["class_names"] = np.array(list(class_names))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)
    return p


def load_fusion(path: str | Path, feature_sizes: Sequence[int], where: str = "fusion_model") -> Fusion:
    """Load a fusion model file and check it against the cluster's per-board `feature_sizes`.

    Errors name `where` (the config field) and the file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{where}: {p}: file not found")
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: {p}: not a readable .npz fusion model ({exc})") from exc
    with z:
        fmt = str(z["vitaccel_format"][()]) if "vitaccel_format" in z.files else None
        if fmt != FUSION_MLP_FORMAT:
            raise ConfigError(f"{where}: {p}: file type {fmt!r}, expected '{FUSION_MLP_FORMAT}'")
        version = int(z["format_version"]) if "format_version" in z.files else -1
        if version != FUSION_MLP_VERSION:
            raise ConfigError(f"{where}: {p}: format_version {version}, this vitaccel reads {FUSION_MLP_VERSION}")
        sizes = [int(s) for s in z["feature_sizes"]]
        if sizes != [int(s) for s in feature_sizes]:
            raise ConfigError(
                f"{where}: {p}: trained for per-board feature sizes {sizes}, "
                f"cluster boards have {list(feature_sizes)} (same order as boards:)"
            )
        n = int(z["n_layers"])
        try:
            weights = [z[f"w{i}"] for i in range(n)]
            biases = [z[f"b{i}"] for i in range(n)]
        except KeyError as exc:
            raise ConfigError(f"{where}: {p}: missing layer array {exc}") from exc
        names = [str(s) for s in z["class_names"]] if "class_names" in z.files else None
    try:
        return MLPFusion(sizes, weights, biases, names)
    except CheckpointError as exc:
        raise ConfigError(f"{where}: {p}: {exc}") from exc
