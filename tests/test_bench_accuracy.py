"""Issue targets on the trained example models, through the code of `vitaccel bench accuracy`.

vit-digits: int8 top-1 within 0.5 points of float, argmax agreement >= 99 %.
m3vit-scenes (slow, trains ~2 min if missing): mIoU within 1 point, depth RMSE within 5 % of float.
Float and int8 are computed independently (torch float model vs the integer golden model).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from vitaccel.bench.accuracy import bench_digits, bench_scenes
from vitaccel.cli import main


def test_vit_digits_int8_matches_float() -> None:
    (r,) = bench_digits()
    assert r["metric"] == "top1" and r["dataset"].startswith("sklearn-digits-test(360)")
    assert r["float"] >= 0.95  # the model is trained, not a degenerate classifier
    assert abs(r["float"] - r["int8"]) <= 0.005
    assert r["agreement"] >= 0.99


@pytest.mark.slow
def test_m3vit_scenes_int8_matches_float() -> None:
    miou, depth = bench_scenes()
    assert miou["metric"] == "miou" and depth["metric"] == "depth_rmse"
    assert abs(miou["float"] - miou["int8"]) <= 0.01
    assert abs(depth["int8"] - depth["float"]) <= 0.05 * depth["float"]


def test_cli_json_shape(capsys) -> None:
    assert main(["bench", "accuracy", "--json", "--model", "vit-digits"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [set(r) for r in rows] == [{"model", "dataset", "metric", "float", "int8", "agreement"}]


def test_unknown_model_is_a_clear_error(capsys) -> None:
    assert main(["bench", "accuracy", "--model", "resnet"]) == 2
    assert "unknown model 'resnet'" in capsys.readouterr().err
