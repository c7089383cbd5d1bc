"""Speed of the golden model on m3vit-tiny (one image, one task <= 2 s on one core). Marked slow."""

from __future__ import annotations

import time

import pytest

from vitaccel.models.config import get_config
from vitaccel.models.vit import build_model
from vitaccel.quant import calibration_images, quantize


@pytest.mark.slow
def test_m3vit_tiny_one_image_under_two_seconds():
    from threadpoolctl import threadpool_limits

    cfg = get_config("m3vit-tiny")
    qm = quantize(build_model(cfg, seed=0), cfg, calibration_images(cfg, 2)[0])
    image = calibration_images(cfg, 3)[0][2:]
    with threadpool_limits(limits=1):
        qm.forward(image, 0)  # warm-up
        best = min(_timed(qm, image, t) for t in (0, 1, 0))
    assert best <= 2.0, f"golden m3vit-tiny took {best:.2f} s per image"


def _timed(qm, image, task):
    t0 = time.perf_counter()
    qm.forward(image, task)
    return time.perf_counter() - t0
