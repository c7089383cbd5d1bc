"""Separable image resampling in numpy (no PIL / torchvision): bilinear with half-pixel centres and
area (box) averaging, both as dense 1-D resampling matrices applied along H and W."""

from __future__ import annotations

import numpy as np

from vitaccel.errors import InputError


def resample_matrix(n_in: int, n_out: int, method: str = "bilinear") -> np.ndarray:
    """(n_out, n_in) float64 matrix M with out = M @ in along one axis; rows sum to 1.

    bilinear: output sample j sits at input coordinate (j + 0.5) * n_in / n_out - 0.5 (half-pixel centres,
    torch's align_corners=False), clamped at 0 below and to the last pixel above.
    area: output sample j averages the input interval [j, j + 1) * n_in / n_out weighted by overlap.
    """
    if n_in < 1 or n_out < 1:
        raise InputError(f"resample: sizes must be >= 1, got {n_in} -> {n_out}")
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    if method == "bilinear":
        for j in range(n_out):
            src = max((j + 0.5) * scale - 0.5, 0.0)
            i0 = min(int(np.floor(src)), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            w1 = src - i0
            m[j, i0] += 1.0 - w1
            m[j, i1] += w1
    elif method == "area":
        for j in range(n_out):
            lo, hi = j * scale, (j + 1) * scale
            for i in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[j, i] = (min(hi, i + 1) - max(lo, i)) / scale
    else:
        raise InputError(f"resample: method {method!r}, expected 'bilinear' or 'area'")
    return m


def resize(img: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize the last two axes (H, W) of img to size=(H', W'); returns float64 (no rounding)."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim < 2:
        raise InputError(f"resize: expected an array (..., H, W), got shape {img.shape}")
    ry = resample_matrix(img.shape[-2], size[0], method)
    rx = resample_matrix(img.shape[-1], size[1], method)
    return ry @ img @ rx.T


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half up, floor(x + 0.5), clip to 0..255 and cast to uint8."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)
