"""Data sets that need no download: scikit-learn digits (upsampled), procedural multi-task scenes, and
scikit-learn's sample photo. Images are uint8; models take float32 = uint8 / 255."""

from __future__ import annotations

from vitaccel.data.digits import DigitsData, load_digits_dataset
from vitaccel.data.photo import SAMPLE_PHOTOS, load_sample_photo
from vitaccel.data.resize import resample_matrix, resize, to_uint8
from vitaccel.data.scenes import (
    NUM_SCENE_CLASSES,
    Scene,
    SceneGenerator,
    Shape,
    background_depth,
    shape_coverage,
)

__all__ = [
    "NUM_SCENE_CLASSES",
    "SAMPLE_PHOTOS",
    "DigitsData",
    "Scene",
    "SceneGenerator",
    "Shape",
    "background_depth",
    "load_digits_dataset",
    "load_sample_photo",
    "resample_matrix",
    "resize",
    "shape_coverage",
    "to_uint8",
]
