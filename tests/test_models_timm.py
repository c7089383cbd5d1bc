"""timm ViT/DeiT state-dict loading.

timm itself is optional: timm >= 0.4 imports torchvision at import time and there is no working CPU
torchvision for torch 2.13 here, so the real-timm test is skipped with the import error as the reason.
The other tests build a state dict with timm's exact VisionTransformer key layout (conv patch embedding
(dim, C, p, p), fused qkv, head) and check the loaded model against a functional forward that reads the
timm-layout tensors directly.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vitaccel.errors import CheckpointError
from vitaccel.models import ModelConfig, TaskSpec, build_model, get_config, load_timm_state_dict
from vitaccel.models.timm_loader import timm_available

SMALL = ModelConfig(
    name="vit-timm-test",
    img_size=(32, 32),
    in_chans=3,
    patch=8,
    dim=48,
    depth=2,
    heads=3,
    mlp_hidden=96,
    tasks=(TaskSpec("cls", "classify", 7),),
)


def timm_layout(cfg: ModelConfig, seed: int = 0, qkv_bias: bool = True) -> dict[str, torch.Tensor]:
    """Random tensors under timm VisionTransformer's names and shapes (class token, no LayerScale)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    d, p, c, hid = cfg.dim, cfg.patch, cfg.in_chans, cfg.mlp_hidden
    sd = {
        "cls_token": r(1, 1, d),
        "pos_embed": r(1, cfg.tokens, d),
        "patch_embed.proj.weight": r(d, c, p, p),
        "patch_embed.proj.bias": r(d),
    }
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        sd.update({
            b + "norm1.weight": 1 + r(d), b + "norm1.bias": r(d),
            b + "attn.qkv.weight": r(3 * d, d),
            b + "attn.proj.weight": r(d, d), b + "attn.proj.bias": r(d),
            b + "norm2.weight": 1 + r(d), b + "norm2.bias": r(d),
            b + "mlp.fc1.weight": r(hid, d), b + "mlp.fc1.bias": r(hid),
            b + "mlp.fc2.weight": r(d, hid), b + "mlp.fc2.bias": r(d),
        })
        if qkv_bias:
            sd[b + "attn.qkv.bias"] = r(3 * d)
    n = cfg.tasks[0].out_channels
    sd.update({"norm.weight": 1 + r(d), "norm.bias": r(d), "head.weight": r(n, d), "head.bias": r(n)})
    return sd


def timm_style_forward(sd: dict[str, torch.Tensor], cfg: ModelConfig, x: torch.Tensor) -> torch.Tensor:
    """timm ViT forward on normalised images, written against the timm-layout tensors."""
    d, nh = cfg.dim, cfg.heads
    x = (x - torch.tensor(cfg.norm_mean).view(1, -1, 1, 1)) / torch.tensor(cfg.norm_std).view(1, -1, 1, 1)
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=cfg.patch)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([sd["cls_token"].expand(len(x), -1, -1), t], 1) + sd["pos_embed"]
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        h = F.layer_norm(t, (d,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], 1e-6)
        qkv = F.linear(h, sd[b + "attn.qkv.weight"], sd.get(b + "attn.qkv.bias"))
        qkv = qkv.reshape(len(x), -1, 3, nh, d // nh).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(len(x), -1, d)
        t = t + F.linear(a, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
        h = F.layer_norm(t, (d,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], 1e-6)
        h = F.linear(F.gelu(F.linear(h, sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"])),
                     sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"])
        t = t + h
    t = F.layer_norm(t, (d,), sd["norm.weight"], sd["norm.bias"], 1e-6)
    return F.linear(t[:, 0], sd["head.weight"], sd["head.bias"])


def test_timm_layout_loads_and_matches():
    sd = timm_layout(SMALL)
    m = build_model(SMALL).eval()
    mapping = load_timm_state_dict(m, sd)
    assert mapping["heads.0.weight"] == "head.weight"
    assert mapping["patch_embed.proj.weight"] == "patch_embed.proj.weight"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m(x), timm_style_forward(sd, SMALL, x), rtol=1e-4, atol=1e-4)


def test_timm_layout_prefixes_and_no_qkv_bias():
    sd = {"module." + k: v for k, v in timm_layout(SMALL, qkv_bias=False).items()}
    m = build_model(SMALL).eval()
    mapping = load_timm_state_dict(m, sd)
    assert torch.equal(m.blocks[1].attn.qkv.bias, torch.zeros(3 * SMALL.dim))
    assert "qkv_bias=False" in mapping["blocks.0.attn.qkv.bias"]
    x = torch.rand(1, 3, 32, 32)
    plain = {k[len("module."):]: v for k, v in sd.items()}
    with torch.no_grad():
        torch.testing.assert_close(m(x), timm_style_forward(plain, SMALL, x), rtol=1e-4, atol=1e-4)


def test_deit_tiny_layout_fits_vit_tiny():
    cfg = get_config("vit-tiny")
    sd = timm_layout(cfg)
    assert len(sd) == 152  # deit_tiny_patch16_224 has 152 tensors
    m = build_model(cfg)
    load_timm_state_dict(m, sd)
    assert torch.equal(m.patch_embed.proj.weight, sd["patch_embed.proj.weight"].reshape(192, 768))


def test_ignore_head_keeps_own_head():
    sd = timm_layout(SMALL)
    sd["head.weight"], sd["head.bias"] = torch.zeros(1000, SMALL.dim), torch.zeros(1000)
    m = build_model(SMALL)
    before = m.heads[0].weight.clone()
    with pytest.raises(CheckpointError, match=r"'head.weight' has shape \(1000, 48\), expected \(7, 48\)"):
        load_timm_state_dict(build_model(SMALL), sd)
    load_timm_state_dict(m, sd, ignore_head=True)
    assert torch.equal(m.heads[0].weight, before)
    assert torch.equal(m.blocks[0].mlp.fc1.weight, sd["blocks.0.mlp.fc1.weight"])


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda sd: sd.update(dist_token=torch.zeros(1, 1, 48)), "distillation token"),
        (lambda sd: sd.update({"blocks.0.ls1.gamma": torch.ones(48)}), "LayerScale"),
        (lambda sd: sd.update({"fc_norm.weight": torch.ones(48)}), "fc_norm"),
        (lambda sd: sd.update({"blocks.0.attn.q_norm.weight": torch.ones(16)}), "unrecognised timm key"),
        (lambda sd: sd.pop("blocks.1.mlp.fc2.bias"), "lacks tensors for ['blocks.1.mlp.fc2.bias']"),
        (lambda sd: sd.update(pos_embed=torch.zeros(1, 16, 48)), "no CLS position"),
        (lambda sd: sd.update(pos_embed=torch.zeros(1, 197, 48)), "'pos_embed' has shape (1, 197, 48), expected (1, 17, 48)"),
        (lambda sd: sd.update({"patch_embed.proj.weight": torch.zeros(48, 3, 16, 16)}), "expected conv kernel (48, 3, 8, 8)"),
        (lambda sd: sd.update({"blocks.5.norm1.weight": torch.ones(48)}), "model depth is 2"),
    ],
)
def test_timm_errors(edit, needle):
    sd = timm_layout(SMALL)
    edit(sd)
    with pytest.raises(CheckpointError) as exc:
        load_timm_state_dict(build_model(SMALL), sd)
    assert needle in str(exc.value)


def test_timm_into_moe_model_refused():
    with pytest.raises(CheckpointError, match="moe_blocks"):
        load_timm_state_dict(build_model("m3vit-micro"), timm_layout(SMALL))


def test_real_timm_deit_tiny():
    ok, info = timm_available()
    if not ok:
        pytest.skip(f"real timm not testable here ({info}); the timm key layout is covered by the tests above")
    import timm

    tm = timm.create_model("deit_tiny_patch16_224", pretrained=False).eval()
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    m = build_model("vit-tiny").eval()
    load_timm_state_dict(m, tm)
    x = torch.rand(2, 3, 224, 224)
    cfg = m.cfg
    xn = (x - torch.tensor(cfg.norm_mean).view(1, 3, 1, 1)) / torch.tensor(cfg.norm_std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(m(x), tm(xn), rtol=1e-4, atol=1e-4)
