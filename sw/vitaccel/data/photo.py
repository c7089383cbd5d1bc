"""A real photo that ships with scikit-learn (china.jpg / flower.jpg), centre-cropped and resized."""

from __future__ import annotations

import numpy as np

from vitaccel.data.resize import resize, to_uint8
from vitaccel.errors import ConfigError

SAMPLE_PHOTOS = ("china.jpg", "flower.jpg")


def load_sample_photo(size: tuple[int, int] = (128, 256), name: str = "china.jpg") -> np.ndarray:
    """uint8 image (3, H, W): the largest centred crop with aspect W/H, then area-averaged (downscaling) or
    bilinear (upscaling) to size=(H, W). china.jpg is 427 x 640 pixels."""
    from sklearn.datasets import load_sample_image

    if name not in SAMPLE_PHOTOS:
        raise ConfigError(f"load_sample_photo: unknown photo {name!r}, expected one of {SAMPLE_PHOTOS}")
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"load_sample_photo: size {size!r}, expected (H, W) with H, W >= 1")
    img = load_sample_image(name)  # (H0, W0, 3) uint8
    h0, w0 = img.shape[:2]
    h, w = int(size[0]), int(size[1])
    # largest crop with the target aspect ratio, centred
    if w0 * h >= h0 * w:
        ch, cw = h0, max(1, round(h0 * w / h))
    else:
        ch, cw = max(1, round(w0 * h / w)), w0
    y0, x0 = (h0 - ch) // 2, (w0 - cw) // 2
    crop = img[y0 : y0 + ch, x0 : x0 + cw].transpose(2, 0, 1).astype(np.float64)
    method = "area" if ch >= h and cw >= w else "bilinear"
    return to_uint8(resize(crop, (h, w), method))
