"""Float reference models: named configs (torch-free), ViT / M3ViT torch models, checkpoints, timm loader.

`get_config`, `list_configs`, `ModelConfig`, `TaskSpec`, `count_params`, `macs_per_image` import without torch.
`build_model`, `VisionTransformer`, `save_checkpoint`, `load_checkpoint`, `load_timm_state_dict` import torch
on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from vitaccel.models.config import (
    SCENE_CLASSES,
    ModelConfig,
    TaskSpec,
    count_params,
    get_config,
    list_configs,
    macs_per_image,
    register_config,
)

_LAZY = {
    "build_model": "vitaccel.models.vit",
    "VisionTransformer": "vitaccel.models.vit",
    "num_parameters": "vitaccel.models.vit",
    "patchify": "vitaccel.models.vit",
    "pixel_shuffle": "vitaccel.models.vit",
    "topk_lower_index": "vitaccel.models.vit",
    "save_checkpoint": "vitaccel.models.checkpoint",
    "load_checkpoint": "vitaccel.models.checkpoint",
    "read_checkpoint": "vitaccel.models.checkpoint",
    "CHECKPOINT_VERSION": "vitaccel.models.checkpoint",
    "load_timm_state_dict": "vitaccel.models.timm_loader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vitaccel.models' has no attribute {name!r}")


__all__ = [
    "SCENE_CLASSES",
    "ModelConfig",
    "TaskSpec",
    "count_params",
    "get_config",
    "list_configs",
    "macs_per_image",
    "register_config",
    *sorted(_LAZY),
]
