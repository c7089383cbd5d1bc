"""A quantized class-wise sub-model as a served model (file type "vitaccel.split_submodel", format version 1).

Files (written by `vitaccel split` into its output folder, one pair per board):

    <name>.npz          descriptor: vitaccel_format, format_version, name, classes (k,) int64 (the group, as
                        indices into the full model's classes), num_classes (C), aux (0/1), qmodel (file name of
                        the QuantizedModel next to it), qmodel_sha256
    <name>.qmodel.npz   the QuantizedModel (vitaccel.quant) of the pruned ViT; its single classify head has
                        k + 1 (+ C with aux) outputs: [group classes..., other, (all C classes: auxiliary)]

Served tensors (backend.ServedModel interface): input "images" UINT8 (-1, in_chans, H, W); outputs
"features" FP32 (-1, F) with F = k + 1 + aux*C + 1 = the dequantized head outputs followed by a constant 1.0
(presence: a board that did not answer is zero-filled by the fusion, so the fusion MLP sees presence 0), and
"logits" FP32 (-1, k + 1) (the group head only). The sub-model runs on the golden integer model
(QuantizedModel.forward, bit-exact with the accelerator contract); a hardware runtime device can replace it
without changing this interface.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vitaccel.distributed.backend import FEATURES, LOGITS, ServedModel, TensorSpec, register_loader
from vitaccel.errors import CheckpointError

__all__ = [
    "SUBMODEL_FORMAT",
    "SUBMODEL_VERSION",
    "QuantizedSubModel",
    "feature_size",
    "load_submodel",
    "save_submodel",
    "submodel_features",
]

SUBMODEL_FORMAT = "vitaccel.split_submodel"
SUBMODEL_VERSION = 1


def feature_size(k: int, num_classes: int, aux: bool) -> int:
    """Length of one board's feature vector: group logits + other + (aux all-class logits) + presence."""
    return k + 1 + (num_classes if aux else 0) + 1


def submodel_features(head_out: np.ndarray) -> np.ndarray:
    """Feature vectors (B, F) float32 from dequantized head outputs (B, k+1(+C)): append the presence 1.0."""
    h = np.asarray(head_out, dtype=np.float32)
    return np.concatenate([h, np.ones((h.shape[0], 1), dtype=np.float32)], axis=1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_submodel(
    path: str | Path, name: str, qmodel: Any, classes: Sequence[int], num_classes: int, aux: bool
) -> Path:
    """Write `<path>` (descriptor) and `<stem>.qmodel.npz` (the QuantizedModel) next to it. Returns `path`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    qpath = p.with_name(p.name.removesuffix(".npz") + ".qmodel.npz")
    qmodel.save(qpath)
    k = len(classes)
    out = qmodel.config.head_out_features(0)
    if out != k + 1 + (num_classes if aux else 0):
        raise CheckpointError(f"sub-model {name}: head has {out} outputs, expected {k} classes + other + aux")
    arrays = {
        "vitaccel_format": np.array(SUBMODEL_FORMAT),
        "format_version": np.array(SUBMODEL_VERSION),
        "name": np.array(name),
        "classes": np.asarray(list(classes), dtype=np.int64),
        "num_classes": np.array(int(num_classes)),
        "aux": np.array(int(bool(aux))),
        "qmodel": np.array(qpath.name),
        "qmodel_sha256": np.array(_sha256(qpath)),
    }
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)
    return p


class QuantizedSubModel(ServedModel):
    """Serves one quantized sub-model: images -> features (head outputs + presence) and group logits."""

    platform = "vitaccel_split_golden"
    thread_safe = True  # QuantizedModel.forward is a pure function of read-only integer parameters

    def __init__(self, name: str, qmodel: Any, classes: Sequence[int], num_classes: int, aux: bool) -> None:
        self.name = name
        self.qmodel = qmodel
        self.classes = [int(c) for c in classes]
        self.num_classes = int(num_classes)
        self.aux = bool(aux)
        cfg = qmodel.config
        h, w = cfg.img_size
        self.input_spec = TensorSpec("images", "UINT8", (-1, cfg.in_chans, h, w))
        k = len(self.classes)
        self.output_specs = (
            TensorSpec(FEATURES, "FP32", (-1, feature_size(k, self.num_classes, self.aux))),
            TensorSpec(LOGITS, "FP32", (-1, k + 1)),
        )

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the integer sub-model on a uint8 batch; see the module docstring for the outputs."""
        self.input_spec.check(batch, "input")
        head = self.qmodel.forward(np.ascontiguousarray(batch), 0)["float"]
        return {FEATURES: submodel_features(head), LOGITS: np.ascontiguousarray(head[:, : len(self.classes) + 1])}


def load_submodel(path: str | Path, name: str | None = None) -> QuantizedSubModel:
    """Load a descriptor written by `save_submodel` (checks format, version and the QuantizedModel's hash)."""
    from vitaccel.quant import QuantizedModel

    p = Path(path)
    with np.load(p, allow_pickle=False) as z:
        fmt = str(z["vitaccel_format"][()]) if "vitaccel_format" in z.files else None
        if fmt != SUBMODEL_FORMAT:
            raise CheckpointError(f"{p}: file type {fmt!r}, expected {SUBMODEL_FORMAT!r}")
        version = int(z["format_version"]) if "format_version" in z.files else -1
        if version != SUBMODEL_VERSION:
            raise CheckpointError(f"{p}: {SUBMODEL_FORMAT} format_version {version}, this vitaccel reads {SUBMODEL_VERSION}")
        missing = [k for k in ("name", "classes", "num_classes", "aux", "qmodel", "qmodel_sha256") if k not in z.files]
        if missing:
            raise CheckpointError(f"{p}: {SUBMODEL_FORMAT} file lacks {missing}")
        stored_name = str(z["name"][()])
        classes = [int(c) for c in z["classes"]]
        num_classes = int(z["num_classes"])
        aux = bool(int(z["aux"]))
        qname = str(z["qmodel"][()])
        digest = str(z["qmodel_sha256"][()])
    qpath = p.parent / qname
    if Path(qname).name != qname:
        raise CheckpointError(f"{p}: qmodel entry {qname!r} must be a file name in the same folder")
    if not qpath.is_file():
        raise CheckpointError(f"{p}: quantized model {qpath} not found (copy it next to the descriptor)")
    if _sha256(qpath) != digest:
        raise CheckpointError(f"{p}: {qpath} does not match the sha256 recorded in the descriptor")
    qmodel = QuantizedModel.load(qpath)
    k = len(classes)
    if qmodel.config.head_out_features(0) != k + 1 + (num_classes if aux else 0):
        raise CheckpointError(
            f"{p}: quantized model head has {qmodel.config.head_out_features(0)} outputs, descriptor says "
            f"{k} classes + other" + (f" + {num_classes} aux" if aux else "")
        )
    return QuantizedSubModel(name or stored_name, qmodel, classes, num_classes, aux)


def _loader(path: Path, name: str | None) -> QuantizedSubModel:
    return load_submodel(path, name)


register_loader(SUBMODEL_FORMAT, "vitaccel.distributed.submodel:_loader")
