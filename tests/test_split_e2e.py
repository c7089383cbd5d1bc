"""End to end: a small split of the trained digits classifier over two boards, files served by the backend."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("torch")


@dataclass
class _Subset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@pytest.fixture(scope="module")
def small_split(tmp_path_factory):
    from vitaccel.data import load_digits_dataset
    from vitaccel.distributed.placement import parse_links
    from vitaccel.distributed.split import SplitOptions, run_split
    from vitaccel.train.recipes import load_trained

    net = load_trained("vit-digits", progress=False)
    d = load_digits_dataset(seed=0)
    rng = np.random.default_rng(0)
    tr = np.sort(rng.permutation(len(d.y_train))[:300])
    data = _Subset(d.x_train[tr], d.y_train[tr], d.x_test[:90], d.y_test[:90])
    boards = ("zcu102", "pynq-z2")
    opts = SplitOptions(boards=boards, granule=32, epochs=2, calib_images=32, fusion_epochs=150,
                        links=parse_links("1000@0.05,pynq-z2=100@0.2", boards))
    out = tmp_path_factory.mktemp("split")
    plan = run_split(net, data, opts, out, class_names=[str(i) for i in range(10)])
    return plan, out, data


def test_plan_structure_and_files(small_split):
    plan, out, _ = small_split
    groups = plan["groups"]
    assert sorted(c for g in groups for c in g["classes"]) == list(range(10))
    for g in groups:
        s = g["shape"]
        assert s["dim"] % 32 == 0 and s["mlp_hidden"] % 32 == 0  # granule respected
        assert g["int8_bytes"] < plan["full_model"]["int8_bytes"] or g["macs"] == plan["full_model"]["macs"]
        assert (out / g["file"]).is_file()
    on_disk = json.loads((out / "plan.json").read_text())
    assert on_disk["boards"] == ["zcu102", "pynq-z2"]
    assert on_disk["placement"]["e2e_ms"] == pytest.approx(plan["placement"]["e2e_ms"])
    # the link of pynq-z2 (100 Mbit/s, 0.2 ms) is part of the predicted latency
    rows = {r["board"]: r for r in plan["placement"]["per_submodel"]}
    assert rows["pynq-z2"]["link_latency_ms"] == pytest.approx(0.2)
    assert rows["pynq-z2"]["finish_ms"] >= rows["pynq-z2"]["compute_ms"] + 0.4
    assert (out / "cluster.yaml").is_file() and (out / "fusion.npz").is_file()


def test_accuracy_and_fault_tolerance(small_split):
    plan, _, _ = small_split
    acc = plan["accuracy"]
    assert acc["full_int8"] > 0.9
    assert acc["split_int8"] > 0.8
    for v in acc["one_board_down"].values():
        assert v > 0.4  # the auxiliary all-class logits of the remaining board keep it well above chance


def test_served_files_match_offline_features(small_split):
    from vitaccel.distributed.backend import load_served_model
    from vitaccel.distributed.fusion import load_fusion

    plan, out, data = small_split
    import vitaccel.distributed.submodel  # noqa: F401  (registers the loader)

    models = [load_served_model(out / g["file"]) for g in plan["groups"]]
    feats = [m.infer(data.x_test[:10])["features"] for m in models]
    offline = plan["_objects"]["test_features"]
    for f, o in zip(feats, offline):
        np.testing.assert_array_equal(f, o[:10])  # the served sub-model is the same integer model
        assert np.all(f[:, -1] == 1.0)  # presence feature
    fus = load_fusion(out / "fusion.npz", [f.shape[1] for f in feats])
    pred = fus.fuse(feats).argmax(1)
    offline_pred = plan["_objects"]["fusion"].fuse([o[:10] for o in offline]).argmax(1)
    np.testing.assert_array_equal(pred, offline_pred)


@pytest.mark.slow
def test_bench_split_two_boards_with_serving(tmp_path):
    """`vitaccel bench split` for 2 boards: schema, targets-related fields, loopback serving and fault run."""
    from vitaccel.distributed.bench import run_bench

    doc = run_bench((2,), tmp_path, epochs=3, granule=None, serve=True, requests=30, deadline_ms=1000.0,
                    fault_images=40, seed=0)
    (row,) = doc["results"]
    for key in ("boards", "acc_full", "acc_split", "acc_one_board_down", "max_submodel_bytes", "size_reduction",
                "predicted_latency_ms", "measured_p50_ms", "measured_p99_ms"):
        assert key in row, key
    assert row["boards"] == 2
    assert row["measured_p50_ms"] is not None and row["measured_p99_ms"] >= row["measured_p50_ms"] > 0
    assert row["max_submodel_bytes"] * row["size_reduction"] == pytest.approx(row["full_model_bytes"])
    fault = row["fault_run"]
    assert fault["answered"] == fault["images"] == 40  # one board killed: every request still answered
    assert fault["acc_one_board_down_served"] > 0.5
