"""Quantizer + QuantizedModel on m3vit-micro: accuracy vs float, determinism, trace, save/load, bad input."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from vitaccel.errors import CheckpointError, ConfigError, InputError
from vitaccel.models.config import get_config
from vitaccel.models.vit import build_model
from vitaccel.quant import QuantizedModel, calibration_images, layer_sqnr, quantize
from vitaccel.quant.model import FORMAT_VERSION, expected_layer_names


@pytest.fixture(scope="module")
def micro():
    cfg = get_config("m3vit-micro")
    model = build_model(cfg, seed=0)
    # give LayerNorm affine params and biases non-trivial values so the folding is exercised
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for name, prm in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                prm.add_(0.05 * torch.randn(prm.shape, generator=g))
    calib, _ = calibration_images(cfg, 24, seed=0)
    qm = quantize(model, cfg, calib)
    test, _ = calibration_images(cfg, 30, seed=0)
    return cfg, model, qm, test[24:]


def float_out(model, images, task):
    with torch.no_grad():
        return model(torch.from_numpy(images.astype(np.float32) / 255.0), task).numpy()


@pytest.mark.parametrize("task", [0, 1])
def test_end_to_end_vs_float(micro, task):
    cfg, model, qm, test = micro
    out = qm.forward(test, task)
    ref = float_out(model, test, task)
    assert out["float"].shape == ref.shape
    assert out["int32"].dtype == np.int64 and out["int32"].shape == (len(test), cfg.num_patches,
                                                                     cfg.head_out_features(task))
    assert np.abs(out["int32"]).max() < 2**31
    rel = np.sqrt(np.mean((out["float"] - ref) ** 2) / np.mean(ref**2))
    assert rel <= 0.05  # measured ~0.013 (untrained weights, 24 calibration scenes)
    if cfg.tasks[task].kind == "segment":
        agree = np.mean(out["float"].argmax(1) == ref.argmax(1))
        assert agree >= 0.95


def test_layer_sqnr(micro):
    _, model, qm, test = micro
    rows = layer_sqnr(qm, model, test[:3], 1)
    names = [r["layer"] for r in rows]
    assert names[0] == "patch_embed" and names[-1] == "heads.1"
    assert {"blocks.1.moe", "blocks.0.mlp.act", "blocks.0.attn"} <= set(names)
    assert all(r["sqnr_db"] > 25 for r in rows), rows


def test_layer_list_is_lowerable(micro):
    cfg, _, qm, _ = micro
    assert [r.name for r in qm.layers] == expected_layer_names(cfg)
    for rec in qm.layers:
        for f in rec.params.__dataclass_fields__:
            v = getattr(rec.params, f)
            assert isinstance(v, int) or (isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.integer)), \
                (rec.name, f)


def test_deterministic(micro):
    cfg, model, qm, test = micro
    calib, _ = calibration_images(cfg, 24, seed=0)
    qm2 = quantize(model, cfg, calib)
    for a, b in zip(qm.layers, qm2.layers):
        for f in a.params.__dataclass_fields__:
            assert np.array_equal(getattr(a.params, f), getattr(b.params, f)), (a.name, f)
    assert np.array_equal(qm.forward(test, 0)["int32"], qm2.forward(test, 0)["int32"])


def test_trace_has_every_layer(micro):
    cfg, _, qm, test = micro
    tr = qm.trace(test[0], 1)
    for name in expected_layer_names(cfg):
        if name.startswith("heads.") and name != "heads.1":
            assert name not in tr
        else:
            assert name in tr, name
    assert tr["blocks.0.attn.probs"].shape == (cfg.heads, cfg.tokens, cfg.tokens)
    assert tr["blocks.0.attn.probs"].max() <= 255 and tr["blocks.0.attn.probs"].min() >= 0
    assert np.abs(tr["blocks.1.moe"]).max() <= 32767
    assert tr["blocks.1.moe.topk"].shape == (cfg.tokens, cfg.top_k)
    assert np.array_equal(tr["heads.1"], qm.forward(test[:1], 1)["int32"][0])


def test_percentile_method(micro):
    cfg, model, _, test = micro
    calib, _ = calibration_images(cfg, 8, seed=0)
    qp = quantize(model, cfg, calib, method="percentile", percentile=99.9)
    out = qp.forward(test, 0)["float"]
    ref = float_out(model, test, 0)
    assert np.sqrt(np.mean((out - ref) ** 2) / np.mean(ref**2)) <= 0.1
    with pytest.raises(ConfigError):
        quantize(model, cfg, calib, method="kl")


def test_float_and_uint8_calibration_agree(micro):
    cfg, model, _, _ = micro
    calib, _ = calibration_images(cfg, 4, seed=0)
    a = quantize(model, cfg, calib)
    b = quantize(model, cfg, calib.astype(np.float32) / 255.0)
    assert all(np.array_equal(x.params.weight, y.params.weight) for x, y in zip(a.layers, b.layers)
               if hasattr(x.params, "weight"))


def test_bad_calibration_data(micro):
    cfg, model, _, _ = micro
    x = np.random.default_rng(0).uniform(0, 1, size=(2, 3, 32, 32)).astype(np.float32)
    x[1, 2, 3, 4] = np.nan
    with pytest.raises(InputError, match="NaN/Inf"):
        quantize(model, cfg, x)
    x[1, 2, 3, 4] = np.inf
    with pytest.raises(InputError, match="NaN/Inf"):
        quantize(model, cfg, x)
    with pytest.raises(InputError, match="shape"):
        quantize(model, cfg, np.zeros((2, 3, 16, 16), dtype=np.uint8))


def test_forward_rejects_bad_images(micro):
    _, _, qm, test = micro
    with pytest.raises(InputError, match="dtype"):
        qm.forward(test.astype(np.float32), 0)
    with pytest.raises(InputError, match="shape"):
        qm.forward(test[:, :, :16], 0)
    with pytest.raises(ConfigError):
        qm.forward(test, 5)


def test_save_load_round_trip(micro, tmp_path):
    cfg, _, qm, test = micro
    path = qm.save(tmp_path / "m.npz")
    q2 = QuantizedModel.load(path, expect="m3vit-micro")
    assert q2.config == cfg
    for a, b in zip(qm.layers, q2.layers):
        assert (a.kind, a.name, a.src, a.dst, a.task) == (b.kind, b.name, b.src, b.dst, b.task)
        for f in a.params.__dataclass_fields__:
            va, vb = getattr(a.params, f), getattr(b.params, f)
            assert np.array_equal(va, vb) and np.asarray(va).dtype == np.asarray(vb).dtype, (a.name, f)
        for k in a.scales:
            assert np.array_equal(a.scales[k], b.scales[k])
    for t in (0, 1):
        o1, o2 = qm.forward(test, t), q2.forward(test, t)
        assert np.array_equal(o1["int32"], o2["int32"]) and np.array_equal(o1["float"], o2["float"])


def _rewrite_meta(src, dst, edit):
    with np.load(src) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(bytes(data["__meta__"]).decode())
    edit(meta, data)
    data["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(dst, **data)


def test_bad_files(micro, tmp_path):
    _, _, qm, _ = micro
    good = qm.save(tmp_path / "good.npz")
    with pytest.raises(CheckpointError, match="not found"):
        QuantizedModel.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(CheckpointError, match="expected a vitaccel-quantized-model"):
        QuantizedModel.load(junk)
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointError):
        QuantizedModel.load(trunc)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="__meta__"):
        QuantizedModel.load(other)

    ver = tmp_path / "ver.npz"
    _rewrite_meta(good, ver, lambda m, d: m.update(version=FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match=f"expected {FORMAT_VERSION}"):
        QuantizedModel.load(ver)
    fmt = tmp_path / "fmt.npz"
    _rewrite_meta(good, fmt, lambda m, d: m.update(format="something-else"))
    with pytest.raises(CheckpointError, match="expected 'vitaccel-quantized-model'"):
        QuantizedModel.load(fmt)
    with pytest.raises(CheckpointError, match="does not match the expected 'm3vit-scenes'"):
        QuantizedModel.load(good, expect="m3vit-scenes")

    def drop_layer(m, d):
        m["layers"].pop(3)

    dropped = tmp_path / "dropped.npz"
    _rewrite_meta(good, dropped, drop_layer)
    with pytest.raises(CheckpointError, match="expected"):
        QuantizedModel.load(dropped)

    def shrink(m, d):
        d["L0.weight"] = d["L0.weight"][:, :10]

    shrunk = tmp_path / "shrunk.npz"
    _rewrite_meta(good, shrunk, shrink)
    with pytest.raises(CheckpointError, match="patch_embed field weight"):
        QuantizedModel.load(shrunk)

    def lose_array(m, d):
        del d["L1.beta"]

    lost = tmp_path / "lost.npz"
    _rewrite_meta(good, lost, lose_array)
    with pytest.raises(CheckpointError, match=r"L1\.beta"):
        QuantizedModel.load(lost)

    # a corrupted member inside a valid zip container
    bad_member = tmp_path / "badmember.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad_member, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "L0.weight.npy":
                data = data[:40]
            zout.writestr(item, data)
    with pytest.raises(CheckpointError):
        QuantizedModel.load(bad_member)


def test_load_not_a_quantized_model(tmp_path):
    """A plain np.save array, random bytes or an object array: CheckpointError naming the file and the format,
    never TypeError / numpy's "pickled data" advice."""
    plain = tmp_path / "plain.npy"
    np.save(plain, np.arange(6, dtype=np.int32).reshape(2, 3))
    renamed = tmp_path / "plain_as.npz"
    renamed.write_bytes(plain.read_bytes())
    rand = tmp_path / "random.npz"
    rand.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    obj = tmp_path / "obj.npz"
    np.savez(obj, __meta__=np.array([{"a": 1}], dtype=object))
    for f in (plain, renamed, rand, obj):
        with pytest.raises(CheckpointError) as ei:
            QuantizedModel.load(f)
        msg = str(ei.value)
        assert str(f) in msg and "vitaccel-quantized-model" in msg, msg
        assert "allow_pickle" not in msg and "\n" not in msg, msg
    with pytest.raises(CheckpointError, match=r"plain int32 array of shape \(2, 3\)"):
        QuantizedModel.load(plain)


def test_cli_quantize(tmp_path):
    from click.testing import CliRunner

    from vitaccel.quant.cli import quantize_cmd

    out = tmp_path / "q.npz"
    res = CliRunner().invoke(quantize_cmd, ["--model", "m3vit-micro", "--calib", "4", "--report-images", "1",
                                            "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["model"] == "m3vit-micro" and set(summary["sqnr"]) == {"segment", "depth"}
    qm = QuantizedModel.load(out, expect="m3vit-micro")
    assert qm.info["calib_images"] == 4
