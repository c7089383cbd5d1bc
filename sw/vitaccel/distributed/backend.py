"""The served-model interface: what a board server runs, independent of how the model was made.

A board server (`vitaccel.distributed.serving`) serves exactly one `ServedModel`. The splitter adds its own
model kind (a quantized ViT sub-model running on a runtime device) by subclassing `ServedModel` and registering
a loader for its file type; the server, the protocol layer and the cluster client do not change.

Interface version: `SERVED_MODEL_API = 1`.

    class ServedModel:
        name: str                      # model name on the wire (ModelInfer.model_name)
        version: str                   # "1" by default
        platform: str                  # free text shown in ModelMetadata, e.g. "vitaccel_randproj"
        input_spec: TensorSpec         # ONE input, batch first: e.g. TensorSpec("images", "UINT8", (-1, 3, 32, 32))
        output_specs: tuple[TensorSpec, ...]   # must include FEATURES ("features", FP32, (-1, F)); "logits" optional
        thread_safe: bool              # False -> the server serialises infer() calls (one device, one queue)
        def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]   # batch matches input_spec; one entry per output
        def close(self) -> None        # release the device (optional)

Loader registry, keyed by file type: for a `.npz` file the type is the string stored under the key
`vitaccel_format` (so several model kinds can share the .npz container); for any other file it is the file
suffix (".vqm", ...). A loader is a callable `(path: Path, name: str | None) -> ServedModel`, or a lazy
"module:function" string so that registering costs no import (torch stays out of board processes).

The concrete model shipped here, `RandomProjectionModel` (file type "vitaccel.randproj", format version 1), is a
real, deterministic numpy feature extractor used by the tests and benchmarks:

    x        = (image.astype(float32) - 128) / 128, flattened per image in (c, h, w) order      (B, D) float32
    features = max(0, x @ weight.T + bias)                                                      (B, F) float32
    logits   = features @ head_weight.T + head_bias        (only if the file has a head)        (B, K) float32
"""

from __future__ import annotations

import importlib
import threading
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitaccel.errors import CheckpointError, ConfigError, InputError

__all__ = [
    "FEATURES",
    "LOGITS",
    "SERVED_MODEL_API",
    "RandomProjectionModel",
    "ServedModel",
    "TensorSpec",
    "load_served_model",
    "model_file_type",
    "register_loader",
    "registered_file_types",
    "save_random_projection_model",
]

SERVED_MODEL_API = 1
FEATURES = "features"
LOGITS = "logits"

# v2 datatype names a TensorSpec may use (kept in step with protocol.DATATYPE_TO_NUMPY; no gRPC import here)
_DATATYPES = {
    "BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1",
    "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}  # fmt: skip


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor: v2 datatype ("UINT8", "FP32", ...) and shape; -1 marks the (first, batch) dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.datatype not in _DATATYPES:
            raise ConfigError(f"TensorSpec '{self.name}': datatype '{self.datatype}' is not one of {sorted(_DATATYPES)}")
        shape = tuple(int(d) for d in self.shape)
        if not shape or shape[0] != -1 or any(d <= 0 for d in shape[1:]):
            raise ConfigError(
                f"TensorSpec '{self.name}': shape {shape} must be (-1, d1, ...) with a batch dimension -1 first "
                "and positive other dimensions"
            )
        object.__setattr__(self, "shape", shape)

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype (little-endian) of this spec."""
        return np.dtype(_DATATYPES[self.datatype])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """The shape of one batch element (the spec's shape without the batch dimension)."""
        return self.shape[1:]

    def check(self, array: np.ndarray, what: str = "tensor") -> None:
        """Raise InputError unless `array` has this spec's dtype and shape (any batch size >= 1)."""
        if np.dtype(array.dtype).newbyteorder("=") != self.dtype.newbyteorder("="):
            raise InputError(f"{what} '{self.name}': dtype {array.dtype}, expected {self.dtype} ({self.datatype})")
        if array.ndim != len(self.shape) or tuple(array.shape[1:]) != self.item_shape or array.shape[0] < 1:
            raise InputError(
                f"{what} '{self.name}': shape {tuple(array.shape)}, expected (B, {', '.join(map(str, self.item_shape))})"
                " with B >= 1"
            )


class ServedModel(ABC):
    """One model served by one board server. Subclass it and register a loader (see the module docstring)."""

    name: str
    version: str = "1"
    platform: str = "vitaccel"
    input_spec: TensorSpec
    output_specs: tuple[TensorSpec, ...]
    thread_safe: bool = False

    @abstractmethod
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the model on `batch` (already checked against `input_spec`); return every output in `output_specs`.

        Raise vitaccel.errors.InputError for a batch the model cannot take (sent back as INVALID_ARGUMENT);
        any other exception is a server fault (INTERNAL).
        """

    def close(self) -> None:  # noqa: B027 - optional hook, intentionally a no-op by default
        """Release resources (device handles); called once when the server stops."""

    def output_spec(self, name: str) -> TensorSpec:
        """The output spec called `name` (KeyError if none)."""
        for spec in self.output_specs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def validate(self) -> None:
        """Check the static interface: a name, one input spec, an FP32 "features" output of shape (-1, F)."""
        if not isinstance(getattr(self, "name", None), str) or not self.name:
            raise CheckpointError(f"{type(self).__name__}: served model has no name")
        if not isinstance(getattr(self, "input_spec", None), TensorSpec):
            raise CheckpointError(f"model '{self.name}': input_spec must be a TensorSpec")
        names = [s.name for s in self.output_specs]
        if len(set(names)) != len(names) or self.input_spec.name in names:
            raise CheckpointError(f"model '{self.name}': tensor names must be unique, got {names}")
        try:
            feat = self.output_spec(FEATURES)
        except KeyError:
            raise CheckpointError(f"model '{self.name}': outputs {names} lack the required '{FEATURES}'") from None
        if feat.datatype != "FP32" or len(feat.shape) != 2:
            raise CheckpointError(
                f"model '{self.name}': output '{FEATURES}' must be FP32 (-1, F), got {feat.datatype} {feat.shape}"
            )


Loader = Callable[[Path, "str | None"], ServedModel]
_LOADERS: dict[str, Loader | str] = {}
_LOADERS_LOCK = threading.Lock()


def register_loader(file_type: str, loader: Loader | str) -> None:
    """Register `loader` for `file_type` (an .npz `vitaccel_format` string, or a suffix such as ".vqm").

    `loader` is a callable `(path, name_override) -> ServedModel` or a "module:function" string imported on first
    use. Registering the same type again replaces the previous loader.
    """
    with _LOADERS_LOCK:
        _LOADERS[file_type] = loader


def registered_file_types() -> list[str]:
    """The file types that have a loader."""
    with _LOADERS_LOCK:
        return sorted(_LOADERS)


def model_file_type(path: str | Path) -> str:
    """The registry key of a model file: the `vitaccel_format` entry of an .npz, else the suffix."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: model file not found")
    if p.suffix.lower() != ".npz":
        return p.suffix.lower()
    try:
        with np.load(p, allow_pickle=False) as z:
            if "vitaccel_format" not in z.files:
                raise CheckpointError(f"{p}: .npz has no 'vitaccel_format' entry naming its model format")
            return str(z["vitaccel_format"][()])
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{p}: not a readable .npz file ({exc})") from exc


def load_served_model(path: str | Path, name: str | None = None) -> ServedModel:
    """Load the model file at `path` with the loader registered for its file type; `name` overrides its name."""
    p = Path(path)
    ftype = model_file_type(p)
    with _LOADERS_LOCK:
        loader = _LOADERS.get(ftype)
    if loader is None:
        raise CheckpointError(
            f"{p}: no served-model loader for file type '{ftype}' (registered: {', '.join(registered_file_types())})"
        )
    if isinstance(loader, str):
        module_name, _, attr = loader.partition(":")
        loader = getattr(importlib.import_module(module_name), attr)
    model = loader(p, name)
    if not isinstance(model, ServedModel):
        raise CheckpointError(f"{p}: loader for '{ftype}' returned {type(model).__name__}, not a ServedModel")
    model.validate()
    return model


# ---------------------------------------------------------------------------------------------------------------
# The numpy random-projection feature extractor (file type "vitaccel.randproj")

RANDPROJ_FORMAT = "vitaccel.randproj"
RANDPROJ_VERSION = 1


class RandomProjectionModel(ServedModel):
    """Deterministic numpy feature extractor: fixed projection + ReLU (+ optional linear head). See module doc."""

    platform = "vitaccel_randproj_numpy"
    thread_safe = True  # pure function of its read-only weights

    def __init__(
        self,
        name: str,
        input_shape: Sequence[int],
        weight: np.ndarray,
        bias: np.ndarray,
        head_weight: np.ndarray | None = None,
        head_bias: np.ndarray | None = None,
    ) -> None:
        self.name = name
        self.input_shape = tuple(int(d) for d in input_shape)
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        d = int(np.prod(self.input_shape))
        f = self.weight.shape[0]
        if self.weight.shape != (f, d) or self.bias.shape != (f,):
            raise CheckpointError(
                f"model '{name}': weight {self.weight.shape} / bias {self.bias.shape} do not fit input "
                f"{self.input_shape} (expected ({f}, {d}) and ({f},))"
            )
        self.input_spec = TensorSpec("images", "UINT8", (-1, *self.input_shape))
        outputs = [TensorSpec(FEATURES, "FP32", (-1, f))]
        self.head_weight = self.head_bias = None
        if head_weight is not None:
            self.head_weight = np.ascontiguousarray(head_weight, dtype=np.float32)
            self.head_bias = np.ascontiguousarray(
                np.zeros(self.head_weight.shape[0]) if head_bias is None else head_bias, dtype=np.float32
            )
            k = self.head_weight.shape[0]
            if self.head_weight.shape != (k, f) or self.head_bias.shape != (k,):
                raise CheckpointError(
                    f"model '{name}': head_weight {self.head_weight.shape} / head_bias {self.head_bias.shape} "
                    f"do not fit {f} features (expected ({k}, {f}) and ({k},))"
                )
            outputs.append(TensorSpec(LOGITS, "FP32", (-1, k)))
        self.output_specs = tuple(outputs)
        for arr in (self.weight, self.bias, self.head_weight, self.head_bias):
            if arr is not None:
                arr.setflags(write=False)

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Features (B, F) float32 and, with a head, logits (B, K) float32, for a uint8 batch (B, C, H, W)."""
        self.input_spec.check(batch, "input")
        x = (batch.reshape(batch.shape[0], -1).astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
        feats = np.maximum(x @ self.weight.T + self.bias, np.float32(0.0))
        out = {FEATURES: feats}
        if self.head_weight is not None:
            out[LOGITS] = feats @ self.head_weight.T + self.head_bias
        return out


def save_random_projection_model(
    path: str | Path,
    name: str,
    input_shape: Sequence[int],
    features: int,
    classes: int = 0,
    seed: int = 0,
) -> Path:
    """Write a random-projection model file (weights N(0, 1/D), bias N(0, 0.1^2), from `seed`); return its path.

    `classes > 0` adds a linear head (logits). The file is an .npz with `vitaccel_format`, `format_version`,
    `name`, `input_shape`, `weight` (F, D), `bias` (F,), and optionally `head_weight` (K, F), `head_bias` (K,).
    """
    rng = np.random.default_rng(seed)
    d = int(np.prod(input_shape))
    arrays = {
        "vitaccel_format": np.array(RANDPROJ_FORMAT),
        "format_version": np.array(RANDPROJ_VERSION),
        "name": np.array(name),
        "input_shape": np.array(input_shape, dtype=np.int64),
        "weight": (rng.standard_normal((features, d)) / np.sqrt(d)).astype(np.float32),
        "bias": (0.1 * rng.standard_normal(features)).astype(np.float32),
    }
    if classes > 0:
        arrays["head_weight"] = (rng.standard_normal((classes, features)) / np.sqrt(features)).astype(np.float32)
        arrays["head_bias"] = np.zeros(classes, dtype=np.float32)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as fh:  # a file object keeps numpy from appending a second ".npz"
        np.savez(fh, **arrays)
    return p


def _load_random_projection(path: Path, name: str | None) -> RandomProjectionModel:
    with np.load(path, allow_pickle=False) as z:
        version = int(z["format_version"]) if "format_version" in z.files else -1
        if version != RANDPROJ_VERSION:
            raise CheckpointError(
                f"{path}: {RANDPROJ_FORMAT} format_version {version}, this vitaccel reads {RANDPROJ_VERSION}"
            )
        missing = [k for k in ("name", "input_shape", "weight", "bias") if k not in z.files]
        if missing:
            raise CheckpointError(f"{path}: {RANDPROJ_FORMAT} file lacks {missing}")
        return RandomProjectionModel(
            name=name or str(z["name"][()]),
            input_shape=[int(d) for d in z["input_shape"]],
            weight=z["weight"],
            bias=z["bias"],
            head_weight=z["head_weight"] if "head_weight" in z.files else None,
            head_bias=z["head_bias"] if "head_bias" in z.files else None,
        )


register_loader(RANDPROJ_FORMAT, _load_random_projection)
# The quantized ViT sub-models written by `vitaccel split` (vitaccel.distributed.submodel). Registered lazily by
# module path, so serving a random-projection model never imports the splitter.
register_loader("vitaccel.split_submodel", "vitaccel.distributed.submodel:_loader")
