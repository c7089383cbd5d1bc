"""Training recipes for the small example models and their evaluation metrics."""

from __future__ import annotations

from vitaccel.train.metrics import confusion_matrix, miou, miou_from_confusion, rmse, top1
from vitaccel.train.recipes import (
    TRAINABLE,
    DigitsRecipe,
    ScenesRecipe,
    TrainResult,
    cached_result,
    checkpoint_path,
    default_checkpoint_dir,
    ensure_checkpoint,
    evaluate_digits,
    evaluate_scenes,
    load_trained,
    scenes_test_set,
    train,
    train_m3vit_scenes,
    train_vit_digits,
)

__all__ = [
    "TRAINABLE",
    "DigitsRecipe",
    "ScenesRecipe",
    "TrainResult",
    "cached_result",
    "checkpoint_path",
    "confusion_matrix",
    "default_checkpoint_dir",
    "ensure_checkpoint",
    "evaluate_digits",
    "evaluate_scenes",
    "load_trained",
    "miou",
    "miou_from_confusion",
    "rmse",
    "scenes_test_set",
    "top1",
    "train",
    "train_m3vit_scenes",
    "train_vit_digits",
]
