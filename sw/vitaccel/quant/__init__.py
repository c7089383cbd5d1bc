"""Post-training quantizer and QuantizedModel (golden integer execution, save/load).

`QuantizedModel` (vitaccel.quant.model) needs numpy only; `quantize` / `layer_sqnr` (vitaccel.quant.quantizer)
import torch lazily when called.
"""

from __future__ import annotations

from typing import Any

from vitaccel.quant.model import FORMAT, FORMAT_VERSION, GeluParams, LayerRecord, QuantizedModel

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "GeluParams",
    "LayerRecord",
    "QuantizedModel",
    "calibration_images",
    "layer_sqnr",
    "quantize",
]


def __getattr__(name: str) -> Any:
    if name in ("quantize", "layer_sqnr", "calibration_images", "calibrate"):
        from vitaccel.quant import quantizer

        return getattr(quantizer, name)
    raise AttributeError(f"module 'vitaccel.quant' has no attribute {name!r}")
