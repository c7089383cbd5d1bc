"""Float model checkpoints: one file holding the format tag and version, the ModelConfig dict, the torch state
dict and free-form metadata (training recipe, metrics).

Layout (torch.save of a dict, loaded with weights_only=True):
    {"format": "vitaccel-float-checkpoint", "version": 1, "config": ModelConfig.to_dict(),
     "state_dict": {name: tensor}, "meta": {...plain JSON-like values...}}
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from vitaccel.errors import CheckpointError, ConfigError
from vitaccel.models.config import ModelConfig, get_config
from vitaccel.models.vit import VisionTransformer

CHECKPOINT_FORMAT = "vitaccel-float-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str], model: VisionTransformer, meta: dict[str, Any] | None = None
) -> Path:
    """Write model (its cfg, state dict) and meta to path atomically (temp file + rename). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate the raw payload (format tag, version, config); CheckpointError names the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / foreign files
        raise CheckpointError(f"checkpoint {path}: not a readable torch file ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path}: format {got!r}, expected {CHECKPOINT_FORMAT!r}")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {payload.get('version')!r}, expected {CHECKPOINT_VERSION}"
        )
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"checkpoint {path}: missing or invalid {key!r} entry")
    try:
        payload["config"] = ModelConfig.from_dict(payload["config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path}: invalid config: {exc}") from None
    payload.setdefault("meta", {})
    return payload


def load_checkpoint(
    path: str | os.PathLike[str], expected: ModelConfig | str | None = None
) -> VisionTransformer:
    """Rebuild the float model stored in path (eval mode). The returned model has `.cfg` and
    `.checkpoint_meta`. If `expected` (a config or registered name) is given, the stored config must equal it:
    CheckpointError lists the differing fields. A state dict that does not match the config (missing /
    unexpected keys, shapes) raises CheckpointError naming the tensors."""
    payload = read_checkpoint(path)
    cfg: ModelConfig = payload["config"]
    if expected is not None:
        exp = get_config(expected) if isinstance(expected, str) else expected
        if cfg != exp:
            raise CheckpointError(
                f"checkpoint {path}: architecture {cfg.name!r} does not match expected {exp.name!r}: "
                + "; ".join(cfg.diff(exp))
            )
    model = VisionTransformer(cfg)
    load_state_dict_checked(model, payload["state_dict"], where=f"checkpoint {path}")
    model.checkpoint_meta = payload["meta"]
    return model.eval()


def load_state_dict_checked(model: torch.nn.Module, state_dict: dict[str, Any], where: str) -> None:
    """load_state_dict with CheckpointError naming missing / unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: {tuple(state_dict[k].shape)} != expected {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors {_short(unexpected)}")
    if shapes:
        problems.append("shape mismatch " + "; ".join(shapes[:5]) + (" ..." if len(shapes) > 5 else ""))
    if problems:
        raise CheckpointError(f"{where}: state dict does not match model {model.cfg.name!r}: " + ", ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def _short(keys: list[str], n: int = 6) -> str:
    return "[" + ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "") + "]"
