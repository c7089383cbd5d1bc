"""Fusion MLP trained with whole-board dropout: robust to a missing board; stored MLP == trained network."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vitaccel.distributed.fusion import MLPFusion, load_fusion, save_fusion_mlp
from vitaccel.distributed.split import fused_accuracy, train_fusion
from vitaccel.distributed.submodel import submodel_features


def synthetic_boards(n: int, seed: int, noises=(0.1, 1.2, 1.2), classes: int = 6):
    """Board b sees 2 * one-hot(class) + N(0, noises[b]^2) noise, plus the presence 1 (board 0 is the best)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    feats = []
    for nz in noises:
        onehot = np.eye(classes)[y] * 2.0
        feats.append(submodel_features(onehot + rng.normal(0, nz, onehot.shape)))
    return feats, y


def test_dropout_training_makes_fusion_robust():
    f_tr, y_tr = synthetic_boards(600, 0)
    f_te, y_te = synthetic_boards(1000, 1)
    sizes = [f.shape[1] for f in f_tr]
    robust = MLPFusion(sizes, *train_fusion(f_tr, y_tr, 6, 32, 200, drop=0.4, seed=0))
    plain = MLPFusion(sizes, *train_fusion(f_tr, y_tr, 6, 32, 200, drop=0.0, seed=0))
    assert fused_accuracy(robust, f_te, y_te) >= fused_accuracy(plain, f_te, y_te) - 0.01 > 0.95
    gain = 0.0
    for missing in ([0], [1], [2], [0, 2]):
        kept = [i for i in range(3) if i not in missing]
        # independent reference: a fusion trained only on the boards that are left (the best it can do)
        ref = MLPFusion([sizes[i] for i in kept], *train_fusion([f_tr[i] for i in kept], y_tr, 6, 32, 200, 0.0, 0))
        acc_ref = fused_accuracy(ref, [f_te[i] for i in kept], y_te)
        acc_r = fused_accuracy(robust, f_te, y_te, missing=missing)
        acc_p = fused_accuracy(plain, f_te, y_te, missing=missing)
        assert acc_r >= acc_ref - 0.04, (missing, acc_r, acc_ref)  # degrades gracefully
        assert acc_r >= acc_p - 0.01, (missing, acc_r, acc_p)
        gain += acc_r - acc_p
    assert gain > 0.02  # dropout training helps where it matters (board 0 missing)


def test_fusion_file_round_trip(tmp_path):
    import torch

    f_tr, y_tr = synthetic_boards(300, 2, noises=(0.5, 0.5), classes=4)
    sizes = [f.shape[1] for f in f_tr]
    w, b = train_fusion(f_tr, y_tr, 4, 16, 50, drop=0.3, seed=1)
    path = save_fusion_mlp(tmp_path / "fusion.npz", sizes, w, b, ["a", "b", "c", "d"])
    fus = load_fusion(path, sizes)
    # independent evaluation of the stored layers with torch (zero-fill, linear, relu, linear)
    x = np.concatenate([f_tr[0], np.zeros_like(f_tr[1])], axis=1)
    ref = torch.relu(torch.tensor(x).double() @ torch.tensor(w[0]).double().T + torch.tensor(b[0]).double())
    ref = ref @ torch.tensor(w[1]).double().T + torch.tensor(b[1]).double()
    np.testing.assert_allclose(fus.fuse([f_tr[0], None]), ref.numpy(), rtol=1e-4, atol=1e-4)
