"""Where the QuantizedModel of `compile` / `verify` / `estimate` comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitaccel.errors import ConfigError


def load_qmodel(model: str | None, qmodel: str | Path | None = None, checkpoint: str | Path | None = None,
                calib: int = 8, synthetic: bool = False, seed: int = 0, log: Any = None) -> Any:
    """QuantizedModel from (first match): a QuantizedModel file (--qmodel); a float checkpoint (--checkpoint)
    quantized on `calib` calibration images; synthetic integer parameters (--synthetic, no torch); the trained
    checkpoint build/checkpoints/<model>.pt when it exists; else the randomly initialised float model (seed)
    quantized on calibration images."""
    from vitaccel.quant.model import QuantizedModel

    say = log or (lambda msg: None)
    if qmodel is not None:
        say(f"loading quantized model {qmodel}")
        return QuantizedModel.load(qmodel, expect=model)
    if model is None:
        raise ConfigError("give --model (or --qmodel FILE)")
    from vitaccel.models.config import get_config

    cfg = get_config(model)
    if synthetic:
        from vitaccel.compiler.synthetic import synthetic_qmodel

        say(f"synthetic integer parameters for {cfg.name} (seed {seed})")
        return synthetic_qmodel(cfg, seed=seed)
    from vitaccel.quant import calibration_images, quantize

    if checkpoint is None:
        try:
            from vitaccel.train.recipes import checkpoint_path

            cand = checkpoint_path(cfg.name)
            if cand.is_file():
                checkpoint = cand
        except (ImportError, ConfigError, ValueError, KeyError):
            checkpoint = None
    if checkpoint is not None:
        from vitaccel.models.checkpoint import load_checkpoint

        say(f"quantizing checkpoint {checkpoint}")
        fmodel = load_checkpoint(checkpoint, expected=cfg)
    else:
        from vitaccel.models import build_model

        say(f"quantizing the randomly initialised {cfg.name} (seed {seed}); pass --checkpoint for trained weights")
        fmodel = build_model(cfg, seed=seed)
    images, _ = calibration_images(cfg, calib, seed=seed)
    return quantize(fmodel, cfg, images)


__all__ = ["load_qmodel"]
