"""Input images for `vitaccel run`: .npy arrays or image files, as uint8 (C, H, W) of the bundle's input shape.

Nothing is resized or rescaled: a file whose size differs from the model's input is refused (InputError naming
both sizes). .npy: a uint8 array (C, H, W) or a batch (B, C, H, W). Image files (.png, .jpg, ...): read with
Pillow (present on PYNQ images; `pip install pillow` elsewhere), converted to RGB (3 channels) or L (1 channel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitaccel.errors import InputError


def load_images(path: str | Path, shape: tuple[int, int, int]) -> np.ndarray:
    """One file -> uint8 batch (B, C, H, W) with (C, H, W) == shape."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: not found")
    c, h, w = shape
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # numpy's own text advises allow_pickle: not for an image file
            raise InputError(f"{p}: not a valid .npy array file; expected a uint8 array ({c}, {h}, {w}) or "
                             f"(B, {c}, {h}, {w}) saved with numpy.save") from None
        if not isinstance(arr, np.ndarray):
            arr.close()
            raise InputError(f"{p}: a .npz archive, expected a .npy uint8 array ({c}, {h}, {w}) or "
                             f"(B, {c}, {h}, {w})")
        if arr.dtype != np.uint8:
            raise InputError(f"{p}: dtype {arr.dtype}, expected uint8 pixels (the driver never casts)")
        if arr.shape != (c, h, w) and (arr.ndim != 4 or arr.shape[1:] != (c, h, w)):
            raise InputError(f"{p}: shape {arr.shape}, expected ({c}, {h}, {w}) or (B, {c}, {h}, {w})")
        if arr.ndim == 4 and arr.shape[0] == 0:
            raise InputError(f"{p}: shape {arr.shape} is an empty batch (0 images), expected at least one image")
        return np.ascontiguousarray(arr[None] if arr.ndim == 3 else arr)
    try:
        from PIL import Image
    except ImportError:
        raise InputError(f"{p}: reading image files needs Pillow (pip install pillow); or pass a uint8 .npy "
                         f"array of shape ({c}, {h}, {w})") from None
    if c not in (1, 3):
        raise InputError(f"{p}: the model takes {c} channels; image files give 1 (L) or 3 (RGB): pass a .npy array")
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB" if c == 3 else "L"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError):  # PIL.UnidentifiedImageError is an OSError
        raise InputError(f"{p}: not a valid image file; expected a .npy uint8 array or a PNG / JPEG image of "
                         f"{w}x{h} pixels") from None
    if arr.shape[:2] != (h, w):
        raise InputError(f"{p}: {arr.shape[1]}x{arr.shape[0]} pixels (WxH), the model takes {w}x{h}; resize it "
                         "first (the runtime never resizes)")
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr[None])


__all__ = ["load_images"]
