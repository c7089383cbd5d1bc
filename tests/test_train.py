"""Training recipes (tiny step counts here; the full runs are @pytest.mark.slow), metrics, cache and CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from vitaccel.errors import ConfigError
from vitaccel.models import get_config, load_checkpoint
from vitaccel.train import (
    DigitsRecipe,
    ScenesRecipe,
    cached_result,
    miou,
    rmse,
    train,
    train_m3vit_scenes,
    train_vit_digits,
)
from vitaccel.train import recipes as recipes_mod


def test_miou_matches_sklearn_jaccard():
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, size=(5, 16, 16))
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, 4, size=target.shape))
    ref = jaccard_score(target.ravel(), pred.ravel(), average="macro", labels=[0, 1, 2, 3])
    assert miou(pred, target, 4) == pytest.approx(ref, rel=1e-12)
    # a class absent from both prediction and target is ignored, not counted as 0
    assert miou(np.zeros((4, 4), int), np.zeros((4, 4), int), 5) == 1.0


def test_rmse():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 7.0])
    assert rmse(a, b) == pytest.approx(np.sqrt((0 + 4 + 16) / 3))


def test_train_vit_digits_few_steps(tmp_path):
    r = train_vit_digits(out=tmp_path / "d.pt", max_steps=3, progress=False)
    assert r.steps == 3 and 0.0 <= r.metrics["top1"] <= 1.0
    m = load_checkpoint(r.path, expected="vit-digits")
    assert m.checkpoint_meta["steps"] == 3 and m.checkpoint_meta["max_steps"] == 3
    # a truncated run is never taken as the cached full model
    assert cached_result("vit-digits", r.path) is None


def test_train_m3vit_scenes_few_steps(tmp_path):
    rec = ScenesRecipe(steps=2, batch_size=8, train_scenes=16, test_scenes=8)
    r = train_m3vit_scenes(out=tmp_path / "s.pt", recipe=rec, progress=False)
    assert r.steps == 2
    for k in ("miou", "depth_rmse", "depth_rmse_const", "miou_majority_class"):
        assert np.isfinite(r.metrics[k])
    m = load_checkpoint(r.path, expected="m3vit-scenes")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert tuple(m(x, "depth").shape) == (1, 1, 32, 32)


def test_cache_and_force(tmp_path, monkeypatch):
    small = DigitsRecipe(epochs=1, batch_size=256)

    def small_trainer(out=None, progress=True):
        return train_vit_digits(out=out, recipe=small, progress=progress)

    monkeypatch.setitem(recipes_mod._TRAINERS, "vit-digits", (small_trainer, lambda: small))
    first = train("vit-digits", progress=False, directory=str(tmp_path))
    assert not first.cached and first.path == tmp_path / "vit-digits.pt"
    second = train("vit-digits", progress=False, directory=str(tmp_path))
    assert second.cached and second.metrics["top1"] == first.metrics["top1"]
    third = train("vit-digits", force=True, progress=False, directory=str(tmp_path))
    assert not third.cached
    # a different recipe makes the cached file stale
    monkeypatch.setitem(
        recipes_mod._TRAINERS, "vit-digits", (small_trainer, lambda: dataclasses.replace(small, lr=1e-4))
    )
    assert cached_result("vit-digits", tmp_path / "vit-digits.pt") is None


def test_unknown_model_and_cli_errors(capsys):
    from vitaccel.cli import main

    with pytest.raises(ConfigError, match="trainable models: vit-digits, m3vit-scenes"):
        train("vit-tiny")
    assert main(["train", "--model", "vit-tiny"]) == 2
    assert "trainable models" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--all or --model" in capsys.readouterr().err


@pytest.mark.slow
def test_full_training_reaches_targets(tmp_path, capsys):
    """The real recipes (each <= 3 min on 2 cores): vit-digits >= 95 % top-1; m3vit-scenes mIoU well above the
    majority-class baseline and depth RMSE well below the constant predictor."""
    from vitaccel.cli import main

    assert main(["train", "--all", "--out-dir", str(tmp_path), "--json", "--no-progress"]) == 0
    res = {r["name"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    d = res["vit-digits"]["metrics"]
    s = res["m3vit-scenes"]["metrics"]
    assert d["top1"] >= 0.95
    assert s["miou"] >= 2 * s["miou_majority_class"]
    assert s["depth_rmse"] <= 0.6 * s["depth_rmse_const"]
    for r in res.values():
        # training runs on one thread, so CPU time is the wall time of an idle machine: <= 3 minutes
        assert r["metrics"]["train_cpu_seconds"] <= 180
        assert load_checkpoint(r["path"], expected=get_config(r["name"])) is not None


def test_scenes_recipe_validation(tmp_path):
    with pytest.raises(ConfigError, match="train_scenes 4 must be >= batch_size 8"):
        train_m3vit_scenes(out=tmp_path / "x.pt", recipe=ScenesRecipe(batch_size=8, train_scenes=4), progress=False)
