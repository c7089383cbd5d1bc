"""scikit-learn's digits (1,797 images, 8x8, gray levels 0..16, 10 classes) upsampled for vit-digits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitaccel.data.resize import resize, to_uint8
from vitaccel.errors import ConfigError


@dataclass(frozen=True)
class DigitsData:
    """uint8 images (N, C, H, W) in 0..255 and int64 labels 0..9, split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return 10


def load_digits_dataset(
    size: int | tuple[int, int] = 32, channels: int = 1, test_fraction: float = 0.2, seed: int = 0
) -> DigitsData:
    """Digits scaled to 0..255 (v * 255 / 16), bilinearly upsampled (half-pixel centres) to size, rounded to
    uint8 and replicated to `channels` (1 or 3). Stratified train/test split, fixed by seed (default 1437/360)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or min(hw) < 8:
        raise ConfigError(f"load_digits_dataset: size {size!r}, expected an int or (H, W) with H, W >= 8")
    if channels not in (1, 3):
        raise ConfigError(f"load_digits_dataset: channels {channels!r}, expected 1 or 3")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"load_digits_dataset: test_fraction {test_fraction!r}, expected a value in (0, 1)")
    bunch = load_digits()
    imgs = bunch.images.astype(np.float64) * (255.0 / 16.0)  # (N, 8, 8)
    up = to_uint8(resize(imgs, hw, "bilinear"))[:, None]  # (N, 1, H, W)
    if channels == 3:
        up = np.repeat(up, 3, axis=1)
    y = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=y
    )
    idx_train, idx_test = np.sort(idx_train), np.sort(idx_test)
    return DigitsData(
        np.ascontiguousarray(up[idx_train]), y[idx_train], np.ascontiguousarray(up[idx_test]), y[idx_test]
    )
