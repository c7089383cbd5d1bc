"""Load a timm ViT / DeiT state dict (e.g. deit_tiny_patch16_224) into a vitaccel VisionTransformer.

timm is optional: this works on a plain dict of tensors with timm's key layout, or on a timm model object.
Key mapping (timm -> vitaccel):
    cls_token, pos_embed                      -> same (pos_embed must include the CLS position: 1 + N tokens)
    patch_embed.proj.weight (dim, C, p, p)    -> patch_embed.proj.weight (dim, C*p*p): the conv kernel flattened
                                                 in (c, ky, kx) order, which is our (c, py, px) patch order
    patch_embed.proj.bias                     -> same
    blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.* -> same (qkv without bias -> zero bias)
    norm.*                                    -> norm.*
    head.weight / head.bias                   -> heads.0.weight / heads.0.bias
Unsupported timm features raise CheckpointError: distillation token (DeiT *_distilled), register tokens,
LayerScale, global average pooling with fc_norm, a pos_embed without the CLS position, MoE configs.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from vitaccel.errors import CheckpointError
from vitaccel.models.vit import VisionTransformer

_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")
_UNSUPPORTED = {
    "dist_token": "a distillation token (DeiT *_distilled models)",
    "head_dist.weight": "a distillation head (DeiT *_distilled models)",
    "reg_token": "register tokens",
    "fc_norm.weight": "global average pooling with fc_norm (vitaccel classifies from the CLS token)",
}


def load_timm_state_dict(
    model: VisionTransformer, state_dict: Any, ignore_head: bool = False
) -> dict[str, str]:
    """Copy a timm ViT/DeiT state dict (or a timm model) into `model` in place.

    Every tensor of `model` except (with ignore_head) heads.0 must be provided; every timm tensor must be used.
    Shapes are checked against the model's config. Returns the mapping {vitaccel key: timm key}.
    Raises CheckpointError naming the key, the shape found and the shape expected.
    """
    cfg = model.cfg
    where = f"timm state dict -> model {cfg.name!r}"
    if isinstance(state_dict, torch.nn.Module):
        state_dict = state_dict.state_dict()
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{where}: expected a state dict (dict of tensors), got {type(state_dict).__name__}")
    sd = {_strip_prefix(k): v for k, v in state_dict.items()}
    if cfg.is_moe:
        raise CheckpointError(f"{where}: timm ViT weights have no experts; model has moe_blocks {cfg.moe_blocks}")
    if len(cfg.tasks) != 1 or cfg.tasks[0].kind != "classify":
        raise CheckpointError(f"{where}: timm ViT has one classification head; model tasks are {cfg.tasks}")
    for key, what in _UNSUPPORTED.items():
        if key in sd:
            raise CheckpointError(f"{where}: key {key!r} means {what}, which vitaccel models do not support")
    for key in sd:
        if ".ls1." in key or ".ls2." in key:
            raise CheckpointError(f"{where}: key {key!r} means LayerScale, which vitaccel models do not support")

    own = model.state_dict()
    mapping: dict[str, str] = {}
    new: dict[str, torch.Tensor] = {}

    def put(ours: str, theirs: str, value: torch.Tensor) -> None:
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where}: {theirs!r} is a {type(value).__name__}, expected a tensor")
        exp = tuple(own[ours].shape)
        if tuple(value.shape) != exp:
            raise CheckpointError(
                f"{where}: {theirs!r} has shape {tuple(value.shape)}, expected {exp} for {ours!r} "
                f"(config {cfg.name}: dim {cfg.dim}, patch {cfg.patch}, in_chans {cfg.in_chans}, "
                f"tokens {cfg.tokens}, mlp_hidden {cfg.mlp_hidden}, classes {cfg.tasks[0].out_channels})"
            )
        new[ours] = value.detach().to(torch.float32).clone()
        mapping[ours] = theirs

    used: set[str] = set()
    for key, value in sd.items():
        ours: str | None = None
        if key in ("cls_token", "pos_embed", "patch_embed.proj.bias", "norm.weight", "norm.bias"):
            ours = key
        elif key == "patch_embed.proj.weight":
            want = (cfg.dim, cfg.in_chans, cfg.patch, cfg.patch)
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != want:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise CheckpointError(f"{where}: 'patch_embed.proj.weight' has shape {got}, expected conv kernel {want}")
            put(key, key, value.reshape(cfg.dim, cfg.patch_dim))
            used.add(key)
            continue
        elif key in ("head.weight", "head.bias"):
            if ignore_head:
                used.add(key)
                continue
            ours = "heads.0." + key.split(".")[1]
        else:
            m = _BLOCK_RE.match(key)
            if m:
                if int(m.group(1)) >= cfg.depth:
                    raise CheckpointError(f"{where}: {key!r} is for block {m.group(1)}, model depth is {cfg.depth}")
                ours = key
        if ours is None:
            continue
        if key == "pos_embed" and isinstance(value, torch.Tensor) and value.ndim == 3 and value.shape[1] == cfg.num_patches:
            raise CheckpointError(
                f"{where}: 'pos_embed' has {cfg.num_patches} positions (no CLS position, timm no_embed_class); "
                f"vitaccel needs {cfg.tokens}"
            )
        put(ours, key, value)
        used.add(key)

    unused = sorted(set(sd) - used)
    if unused:
        raise CheckpointError(f"{where}: unrecognised timm key(s) {unused[:8]}{' ...' if len(unused) > 8 else ''}")
    for d in range(cfg.depth):
        qkv_b = f"blocks.{d}.attn.qkv.bias"
        if qkv_b not in new and f"blocks.{d}.attn.qkv.weight" in new:  # timm qkv_bias=False
            new[qkv_b] = torch.zeros_like(own[qkv_b])
            mapping[qkv_b] = "(zeros: timm qkv_bias=False)"
    if ignore_head:
        for k in ("heads.0.weight", "heads.0.bias"):
            new[k] = own[k].clone()
            mapping[k] = "(kept: ignore_head)"
    missing = sorted(set(own) - set(new))
    if missing:
        raise CheckpointError(f"{where}: timm state dict lacks tensors for {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    model.load_state_dict(new, strict=True)
    return mapping


def _strip_prefix(key: str) -> str:
    for prefix in ("module.", "model."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def timm_available() -> tuple[bool, str]:
    """(True, version) if timm imports here, else (False, reason)."""
    try:
        import timm
    except Exception as exc:  # timm >= 0.4 imports torchvision, which may be absent or broken
        return False, f"timm not importable: {type(exc).__name__}: {exc}"
    return True, str(timm.__version__)
