"""Evaluation metrics in numpy (usable on float or dequantized integer outputs)."""

from __future__ import annotations

import numpy as np


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax (ties -> lowest index) equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = target class, columns = predicted class."""
    idx = target.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def miou_from_confusion(cm: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean IoU over classes with a non-empty union, per-class IoU with NaN for empty unions)."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return float(np.nanmean(iou)), iou


def miou(pred: np.ndarray, target: np.ndarray, num_classes: int) -> float:
    """Mean intersection over union of integer label maps, accumulated over all pixels of all images."""
    return miou_from_confusion(confusion_matrix(pred, target, num_classes))[0]


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean square error over all elements (same units as the inputs)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))
