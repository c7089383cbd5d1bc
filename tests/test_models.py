"""Float models: configs, shapes, structure contract, MoE routing, pixel shuffle, checkpoints, bad inputs.

Every numeric check compares against an independent computation written here (loops, conv2d, functional ops)."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch
from torch.nn import functional as F

from vitaccel.errors import CheckpointError, ConfigError, InputError
from vitaccel.models import (
    ModelConfig,
    TaskSpec,
    build_model,
    count_params,
    get_config,
    list_configs,
    load_checkpoint,
    macs_per_image,
    save_checkpoint,
)
from vitaccel.models.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION
from vitaccel.models.vit import MoE, pixel_shuffle

NAMED = ["vit-tiny", "m3vit-tiny", "m3vit-micro", "vit-digits", "m3vit-scenes"]


# ---- configs -----------------------------------------------------------------------------------------------
def test_registry_lists_required_names():
    assert set(NAMED) <= set(list_configs())


@pytest.mark.parametrize(
    ("name", "tokens", "dim", "depth", "heads", "moe"),
    [
        ("vit-tiny", 197, 192, 12, 3, ()),
        ("m3vit-tiny", 129, 192, 12, 3, (1, 3, 5, 7, 9, 11)),
        ("m3vit-micro", 17, 64, 2, 2, (1,)),
    ],
)
def test_spec_sizes(name, tokens, dim, depth, heads, moe):
    cfg = get_config(name)
    assert (cfg.tokens, cfg.dim, cfg.depth, cfg.heads, cfg.moe_blocks) == (tokens, dim, depth, heads, moe)
    h, w = cfg.img_size
    assert 1 + (h // cfg.patch) * (w // cfg.patch) == tokens


def test_m3vit_tiny_is_edge_moe_workload():
    cfg = get_config("m3vit-tiny")
    assert cfg.img_size == (128, 256) and cfg.in_chans == 3 and cfg.patch == 16
    assert (cfg.mlp_hidden, cfg.num_experts, cfg.expert_hidden, cfg.top_k) == (768, 16, 384, 2)
    assert [(t.kind, t.out_channels) for t in cfg.tasks] == [("segment", 7), ("depth", 1)]
    assert cfg.ln_eps == 1e-6
    # research note: about 0.78 GMAC (encoder) and 17.9 M weights (experts 14.2 M)
    enc = macs_per_image(cfg, "depth") - cfg.num_patches * cfg.dim * cfg.patch**2
    assert 0.75e9 < enc < 0.80e9
    assert 17.5e6 < count_params(cfg) < 18.5e6


def test_vit_tiny_matches_deit_tiny_param_count():
    # DeiT-Tiny has 5,717,416 parameters (published model card figure)
    assert count_params(get_config("vit-tiny")) == 5_717_416


def test_unknown_config_lists_known_names():
    with pytest.raises(ConfigError) as exc:
        get_config("vit-huge")
    msg = str(exc.value)
    assert "vit-huge" in msg
    for n in NAMED:
        assert n in msg


def test_config_round_trip_and_frozen():
    for name in list_configs():
        cfg = get_config(name)
        d = json.loads(json.dumps(cfg.to_dict()))
        assert ModelConfig.from_dict(d) == cfg
    cfg = get_config("m3vit-micro")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.dim = 3  # type: ignore[misc]


def test_config_validation_errors():
    base = get_config("m3vit-micro").to_dict()
    with pytest.raises(ConfigError, match="unknown field"):
        ModelConfig.from_dict({**base, "bogus": 1})
    with pytest.raises(ConfigError, match="missing field"):
        ModelConfig.from_dict({k: v for k, v in base.items() if k != "dim"})
    with pytest.raises(ConfigError, match="patch"):
        ModelConfig.from_dict({**base, "patch": 7})
    with pytest.raises(ConfigError, match="top_k"):
        ModelConfig.from_dict({**base, "top_k": 5})
    with pytest.raises(ConfigError, match="moe_blocks"):
        ModelConfig.from_dict({**base, "moe_blocks": [2]})
    with pytest.raises(ConfigError, match="kind"):
        TaskSpec("x", "detect", 3)
    with pytest.raises(ConfigError, match="norm_mean"):
        ModelConfig.from_dict({**base, "norm_mean": [0.5]})


# ---- shapes and structure ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMED)
def test_shapes_every_config(name):
    cfg = get_config(name)
    model = build_model(cfg).eval()
    h, w = cfg.img_size
    b = 1 if cfg.dim > 64 else 2  # keep the 12-block configs cheap
    x = torch.rand(b, cfg.in_chans, h, w)
    with torch.no_grad():
        for ti, t in enumerate(cfg.tasks):
            y = model(x, ti)
            want = (b, t.out_channels) if t.kind == "classify" else (b, t.out_channels, h, w)
            assert tuple(y.shape) == want
            assert torch.isfinite(y).all()
        assert tuple(model.forward_features(x, cfg.tasks[-1].name).shape) == (b, cfg.tokens, cfg.dim)
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)


def test_state_dict_keys_follow_contract():
    cfg = get_config("m3vit-micro")
    keys = set(build_model(cfg).state_dict())
    allowed = [
        r"patch_embed\.proj\.(weight|bias)",
        r"cls_token",
        r"pos_embed",
        r"blocks\.\d+\.norm[12]\.(weight|bias)",
        r"blocks\.\d+\.attn\.(qkv|proj)\.(weight|bias)",
        r"blocks\.\d+\.mlp\.fc[12]\.(weight|bias)",
        r"blocks\.\d+\.moe\.gates\.\d+\.weight",
        r"blocks\.\d+\.moe\.experts\.\d+\.fc[12]\.(weight|bias)",
        r"norm\.(weight|bias)",
        r"heads\.\d+\.(weight|bias)",
    ]
    for k in keys:
        assert any(re.fullmatch(p, k) for p in allowed), k
    m = build_model(cfg)
    assert tuple(m.patch_embed.proj.weight.shape) == (64, 3 * 8 * 8)
    assert tuple(m.pos_embed.shape) == (1, 17, 64) and tuple(m.cls_token.shape) == (1, 1, 64)
    assert hasattr(m.blocks[0], "mlp") and not hasattr(m.blocks[0], "moe")
    assert hasattr(m.blocks[1], "moe") and not hasattr(m.blocks[1], "mlp")
    assert len(m.blocks[1].moe.gates) == 2 and m.blocks[1].moe.gates[0].bias is None
    assert tuple(m.blocks[1].moe.experts[3].fc1.weight.shape) == (64, 64)
    assert tuple(m.heads[0].weight.shape) == (4 * 64, 64) and tuple(m.heads[1].weight.shape) == (64, 64)


def test_build_model_deterministic_and_leaves_global_rng():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = build_model("m3vit-micro", seed=5)
    after = torch.rand(3)
    assert torch.equal(before, after)
    b = build_model("m3vit-micro", seed=5)
    c = build_model("m3vit-micro", seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["blocks.0.attn.qkv.weight"], sc["blocks.0.attn.qkv.weight"])


# ---- patch embedding and pixel shuffle ordering ------------------------------------------------------------
def test_patch_embed_equals_strided_conv():
    cfg = get_config("m3vit-micro")
    m = build_model(cfg)
    x = torch.randn(2, 3, 32, 32)
    w = m.patch_embed.proj.weight.reshape(cfg.dim, 3, 8, 8)  # (c, py, px) flattening
    ref = F.conv2d(x, w, m.patch_embed.proj.bias, stride=8).flatten(2).transpose(1, 2)
    torch.testing.assert_close(m.patch_embed(x), ref, rtol=1e-5, atol=1e-5)


def test_pixel_shuffle_ordering_by_loops():
    b, gh, gw, c, p = 2, 2, 3, 2, 4
    y = torch.randn(b, gh * gw, c * p * p)
    out = pixel_shuffle(y, (gh, gw), p, c)
    assert tuple(out.shape) == (b, c, gh * p, gw * p)
    for bi in range(b):
        for gy in range(gh):
            for gx in range(gw):
                for ch in range(c):
                    for py in range(p):
                        for px in range(p):
                            v = y[bi, gy * gw + gx, (ch * p + py) * p + px]
                            assert out[bi, ch, gy * p + py, gx * p + px] == v


# ---- MoE routing -------------------------------------------------------------------------------------------
def _ref_moe(x, gate_w, experts, k):
    """Per-token reference: softmax by math.exp over all experts, stable order (-p, index), top k, no
    renormalisation, explicit expert MLPs with erf GELU."""
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        logits = [float(v) for v in gate_w @ x[n]]
        mx = max(logits)
        ex = [math.exp(v - mx) for v in logits]
        s = sum(ex)
        probs = [v / s for v in ex]
        order = sorted(range(len(probs)), key=lambda e: (-probs[e], e))[:k]
        for e in order:
            fc1, fc2 = experts[e]
            hid = fc1.weight @ x[n] + fc1.bias
            hid = 0.5 * hid * (1 + torch.erf(hid / math.sqrt(2)))
            out[n] += probs[e] * (fc2.weight @ hid + fc2.bias)
    return out


def test_moe_matches_reference_with_ties():
    torch.manual_seed(0)
    dim, e_num, k = 6, 5, 2
    moe = MoE(dim, e_num, 8, k, num_tasks=2).double()
    with torch.no_grad():
        for p in moe.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        # task 1: experts 1, 2, 3 share one gate row -> exact probability ties for every token
        g = moe.gates[1].weight
        g[2] = g[1]
        g[3] = g[1]
        g[1] += 10.0 * g[0].abs().sum()  # tied experts also win for most tokens below
    x = torch.randn(7, dim, dtype=torch.float64)
    x[3] = 0.0  # all logits zero: every expert ties -> experts 0 and 1, weights 1/5 each
    exps = [(ex.fc1, ex.fc2) for ex in moe.experts]
    with torch.no_grad():
        for task in (0, 1):
            got = moe(x, task)
            ref = _ref_moe(x, moe.gates[task].weight, exps, k)
            torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
        # the all-zero token: output = (e0(0) + e1(0)) / 5, not renormalised
        manual = sum(ex.fc2(F.gelu(ex.fc1(torch.zeros(dim, dtype=torch.float64)))) for ex in moe.experts[:2]) / 5
        torch.testing.assert_close(moe(x, 1)[3], manual)
        # routing for tied tokens: lower index wins
        probs, weights, idx = moe.route(x, 1)
        for n in range(x.shape[0]):
            order = sorted(range(e_num), key=lambda e: (-float(probs[n, e]), e))[:k]
            assert idx[n].tolist() == order
        assert idx[3].tolist() == [0, 1]
        torch.testing.assert_close(weights[3], torch.full((2,), 0.2, dtype=torch.float64))


def test_moe_batched_shape_and_unvisited_experts():
    moe = MoE(4, 3, 5, 1, num_tasks=1)
    with torch.no_grad():
        moe.gates[0].weight.zero_()
        moe.gates[0].weight[2, 0] = 100.0
    x = torch.zeros(2, 3, 4)
    x[..., 0] = 1.0
    calls = []
    for e, ex in enumerate(moe.experts):
        ex.register_forward_hook(lambda mod, inp, out, e=e: calls.append((e, inp[0].shape[0])))
    y = moe(x)
    assert tuple(y.shape) == (2, 3, 4)
    assert calls == [(2, 6)]  # only expert 2 runs, on all 6 tokens


# ---- full model vs an independent functional forward -------------------------------------------------------
def _functional_forward(sd, cfg, x, task):
    x = (x - torch.tensor(cfg.norm_mean).view(1, -1, 1, 1)) / torch.tensor(cfg.norm_std).view(1, -1, 1, 1)
    b = x.shape[0]
    p, d, nh = cfg.patch, cfg.dim, cfg.heads
    w = sd["patch_embed.proj.weight"].reshape(d, cfg.in_chans, p, p)
    tok = F.conv2d(x, w, sd["patch_embed.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    tok = torch.cat([sd["cls_token"].expand(b, 1, d), tok], 1) + sd["pos_embed"]

    def ln(t, pre):
        return F.layer_norm(t, (d,), sd[pre + ".weight"], sd[pre + ".bias"], cfg.ln_eps)

    def lin(t, pre):
        return F.linear(t, sd[pre + ".weight"], sd.get(pre + ".bias"))

    for i in range(cfg.depth):
        pre = f"blocks.{i}"
        h = ln(tok, pre + ".norm1")
        qkv = lin(h, pre + ".attn.qkv")
        q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        heads = []
        for hh in range(nh):
            sl = slice(hh * d // nh, (hh + 1) * d // nh)
            heads.append(F.scaled_dot_product_attention(q[..., sl], k[..., sl], v[..., sl]))
        tok = tok + lin(torch.cat(heads, -1), pre + ".attn.proj")
        h = ln(tok, pre + ".norm2")
        if i in cfg.moe_blocks:
            g = torch.softmax(F.linear(h, sd[f"{pre}.moe.gates.{task}.weight"]), -1)
            y = torch.zeros_like(h)
            for e in range(cfg.num_experts):
                # expert e contributes where it is among the top_k (ranks by count of strictly larger
                # probabilities plus equal ones at lower index)
                ge = g[..., e : e + 1]
                lower = torch.arange(cfg.num_experts) < e
                rank = (g > ge).sum(-1, keepdim=True) + ((g == ge) & lower).sum(-1, keepdim=True)
                sel = (rank < cfg.top_k).to(h.dtype)
                eo = lin(F.gelu(lin(h, f"{pre}.moe.experts.{e}.fc1")), f"{pre}.moe.experts.{e}.fc2")
                y = y + sel * ge * eo
            tok = tok + y
        else:
            tok = tok + lin(F.gelu(lin(h, pre + ".mlp.fc1")), pre + ".mlp.fc2")
    tok = ln(tok, "norm")
    spec = cfg.tasks[task]
    out = lin(tok, f"heads.{task}")
    if spec.kind == "classify":
        return out[:, 0]
    out = out[:, 1:]
    gh, gw = cfg.grid
    img = torch.zeros(b, spec.out_channels, gh * p, gw * p)
    for gy in range(gh):
        for gx in range(gw):
            img[:, :, gy * p : (gy + 1) * p, gx * p : (gx + 1) * p] = out[:, gy * gw + gx].reshape(
                b, spec.out_channels, p, p
            )
    return img


@pytest.mark.parametrize("name", ["m3vit-micro", "vit-digits", "m3vit-scenes"])
def test_model_matches_functional_reference(name):
    cfg = get_config(name)
    model = build_model(cfg, seed=3).eval()
    with torch.no_grad():  # larger weights than the init so routing and attention are non-trivial
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    sd = model.state_dict()
    x = torch.rand(3, cfg.in_chans, *cfg.img_size)
    with torch.no_grad():
        for ti in range(len(cfg.tasks)):
            torch.testing.assert_close(model(x, ti), _functional_forward(sd, cfg, x, ti), rtol=1e-4, atol=1e-4)


def test_mac_count_matches_hooks():
    for name in ("m3vit-micro", "vit-digits"):
        cfg = get_config(name)
        model = build_model(cfg).eval()
        macs = [0]

        def hook(mod, inp, out, macs=macs):
            macs[0] += inp[0].numel() // inp[0].shape[-1] * mod.in_features * mod.out_features

        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.register_forward_hook(hook)
        for ti in range(len(cfg.tasks)):
            macs[0] = 0
            with torch.no_grad():
                model(torch.rand(1, cfg.in_chans, *cfg.img_size), ti)
            attn = cfg.depth * 2 * cfg.tokens * cfg.tokens * cfg.dim  # Q.K^T and A.V
            assert macs[0] + attn == macs_per_image(cfg, ti)


# ---- bad inputs --------------------------------------------------------------------------------------------
def test_bad_inputs_raise_input_error():
    cfg = get_config("m3vit-micro")
    m = build_model(cfg)
    good = torch.rand(1, 3, 32, 32)
    cases = [
        (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), "uint8"),
        (good.double(), "float64"),
        (torch.rand(1, 1, 32, 32), "(1, 1, 32, 32)"),
        (torch.rand(3, 32, 32), "(3, 32, 32)"),
        (torch.rand(1, 3, 64, 32), "(1, 3, 64, 32)"),
        (good * 255, "[0, 1]"),
        (good.numpy(), "ndarray"),
    ]
    nan = good.clone()
    nan[0, 1, 2, 3] = float("nan")
    cases.append((nan, "NaN"))
    for x, needle in cases:
        with pytest.raises(InputError) as exc:
            m(x)
        msg = str(exc.value)
        assert needle in msg and "expected" in msg, msg
    with pytest.raises(ConfigError, match="task index 2"):
        m(good, 2)
    with pytest.raises(ConfigError, match="unknown task"):
        m(good, "normals")


# ---- checkpoints -------------------------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    m = build_model("m3vit-micro", seed=1).eval()
    path = save_checkpoint(tmp_path / "a.pt", m, {"note": "hello", "metrics": {"miou": 0.5}})
    back = load_checkpoint(path, expected="m3vit-micro")
    assert back.cfg == m.cfg and back.checkpoint_meta["note"] == "hello"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        for t in (0, 1):
            assert torch.equal(m(x, t), back(x, t))
    assert not back.training


def test_checkpoint_errors(tmp_path):
    m = build_model("m3vit-micro")
    path = save_checkpoint(tmp_path / "a.pt", m)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path, expected="m3vit-scenes")
    assert "depth: 2 != 4" in str(exc.value) and "expert_hidden" in str(exc.value)

    payload = torch.load(path, weights_only=True)
    payload["version"] = CHECKPOINT_VERSION + 98
    torch.save(payload, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match=f"format version {CHECKPOINT_VERSION + 98}, expected {CHECKPOINT_VERSION}"):
        load_checkpoint(tmp_path / "v.pt")

    payload = torch.load(path, weights_only=True)
    payload["format"] = "something-else"
    torch.save(payload, tmp_path / "f.pt")
    with pytest.raises(CheckpointError, match=CHECKPOINT_FORMAT):
        load_checkpoint(tmp_path / "f.pt")

    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["blocks.1.moe.gates.1.weight"]
    payload["state_dict"]["heads.0.weight"] = torch.zeros(3, 64)
    torch.save(payload, tmp_path / "s.pt")
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(tmp_path / "s.pt")
    assert "blocks.1.moe.gates.1.weight" in str(exc.value) and "heads.0.weight: (3, 64)" in str(exc.value)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_checkpoint(tmp_path / "junk.pt")


# ---- CLI ---------------------------------------------------------------------------------------------------
def test_models_cli_json(capsys):
    from vitaccel.cli import main

    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["models"]}
    assert set(NAMED) <= set(rows)
    assert rows["m3vit-tiny"]["tokens"] == 129 and rows["vit-tiny"]["tokens"] == 197
    assert rows["m3vit-micro"]["params"] == sum(p.numel() for p in build_model("m3vit-micro").parameters())
    assert main(["models", "no-such-model"]) == 2
    assert "known models" in capsys.readouterr().err


def test_models_cli_table_keeps_full_names_when_piped(capsys, monkeypatch):
    """Piped / 80-column output: the rich table must print every model name whole (no '…' truncation)."""
    from vitaccel.cli import main
    from vitaccel.models.config import list_configs

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    for name in list_configs():
        assert any(name in line.split("│")[1] for line in out.splitlines() if line.count("│") > 2), name
