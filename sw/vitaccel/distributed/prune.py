"""Class-wise structured pruning of a dense ViT in units of the accelerator tile width.

What is pruned (the result is again a plain `ModelConfig` ViT, so the quantizer, compiler and server take it
unchanged): residual (embedding) channels `dim -> d'`, attention heads and dimensions inside heads
`(heads, head_dim) -> (h', d'/h')`, MLP neurons `mlp_hidden -> m'` (the same count in every block, chosen per
block). `d'` and `m'` are multiples of the granule (the accelerator's `array_cols`, or a stated value), so every
weight GEMM's output width is a whole number of tiles: no padding on the datapath.

Importance (first-order, on the group's own images): a gate `m = 1` multiplies each prunable unit and the
importance of a unit is the sum over mini-batches of `(dL/dm)^2` (a Fisher estimate of the loss increase when the
unit is removed), with L the cross-entropy of the full model's logits restricted to the group's classes. Gates:
residual channel c is gated where the stream is read (inputs of norm1, norm2 of every block and of the final
norm); q and k dimension d of head h share one gate (their product forms the score); v dimensions have their own
gate; MLP neuron j is gated at the input of fc2.

Carrying weights over (`apply_plan`): rows / columns are copied; q rows are scaled by sqrt(d_h'/d_h) so the
attention scores keep their value under the new scale head_dim'^-0.5.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, FitError

__all__ = [
    "Importance",
    "PrunePlan",
    "PruneShape",
    "act_align",
    "apply_plan",
    "candidate_shapes",
    "choose_shape",
    "full_plan",
    "make_plan",
    "measure_importance",
    "shape_macs",
]


@dataclass(frozen=True)
class PruneShape:
    """Target widths of a pruned ViT: residual dim, heads, per-head dim (dim = heads * head_dim), MLP hidden."""

    dim: int
    heads: int
    head_dim: int
    mlp_hidden: int

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass
class Importance:
    """Per-unit importance (numpy float64): channel (dim,), qk and v (depth, heads, head_dim), neuron (depth, mlp)."""

    channel: np.ndarray
    qk: np.ndarray
    v: np.ndarray
    neuron: np.ndarray


@dataclass
class PrunePlan:
    """Which units to keep (indices into the full model), sorted ascending within each list."""

    channels: list[int]
    heads: list[list[int]]  # per block: kept head indices
    qk_dims: list[list[list[int]]]  # per block, per kept head: kept q/k dims
    v_dims: list[list[list[int]]]  # per block, per kept head: kept v dims
    neurons: list[list[int]]  # per block: kept MLP neurons

    @property
    def shape(self) -> PruneShape:
        h = len(self.heads[0])
        return PruneShape(len(self.channels), h, len(self.qk_dims[0][0]), len(self.neurons[0]))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_dense(cfg: Any) -> None:
    if cfg.moe_blocks:
        raise ConfigError(f"model {cfg.name!r}: class-wise pruning supports dense ViTs only (moe_blocks set)")
    if cfg.tasks[0].kind != "classify":
        raise ConfigError(f"model {cfg.name!r}: task 0 is {cfg.tasks[0].kind!r}, class-wise splitting needs classify")


def shape_macs(cfg: Any, shape: PruneShape, head_out: int) -> int:
    """MACs per image of the pruned model (same accounting as vitaccel.models.macs_per_image)."""
    t, n = cfg.tokens, cfg.num_patches
    d, h, hd, m = shape.dim, shape.heads, shape.head_dim, shape.mlp_hidden
    a = h * hd
    per_block = t * d * 3 * a + 2 * t * t * a + t * a * d + 2 * t * d * m
    return n * cfg.patch_dim * d + cfg.depth * per_block + d * head_out


def act_align() -> int:
    """The ISA's activation alignment (vitaccel.isa.spec.ACT_ALIGN): dim and head_dim must be multiples of it."""
    try:
        from vitaccel.isa.spec import ACT_ALIGN
    except ImportError:  # pragma: no cover - the ISA package is part of the project
        return 1
    return int(ACT_ALIGN)


def candidate_shapes(cfg: Any, granule: int, align: int | None = None) -> list[PruneShape]:
    """Every shape with dim and mlp_hidden multiples of `granule` (at most the full widths), heads <= cfg.heads,
    head_dim <= cfg.head_dim, dim = heads * head_dim, and dim and head_dim multiples of `align` (default: the
    ISA's ACT_ALIGN, the compiler's rule that each head's Q, K, V columns start on a 16-byte boundary)."""
    _check_dense(cfg)
    if granule < 1:
        raise ConfigError(f"granule {granule}: expected a positive integer")
    align = act_align() if align is None else align
    out = []
    dims = [d for d in range(granule, cfg.dim + 1, granule)]
    mlps = [m for m in range(granule, cfg.mlp_hidden + 1, granule)]
    if not dims or not mlps:
        raise FitError(
            f"model {cfg.name!r}: granule {granule} is wider than dim {cfg.dim} or mlp_hidden {cfg.mlp_hidden}; "
            "no tile-aligned shape exists"
        )
    for d in dims:
        for h in range(1, cfg.heads + 1):
            if d % h or d // h > cfg.head_dim or (d // h) % align or d % align:
                continue
            for m in mlps:
                out.append(PruneShape(d, h, d // h, m))
    if not out:
        raise FitError(f"model {cfg.name!r}: no shape with dim a multiple of {granule} and head_dim a multiple of {align}")
    return out


def _topk_frac(values: np.ndarray, k: int) -> float:
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    tot = v.sum()
    return float(v[:k].sum() / tot) if tot > 0 else k / max(len(v), 1)


def _attn_frac(imp: Importance, block: int, h: int, hd: int) -> float:
    """Importance fraction kept by the best h heads with their best hd q/k and v dims, in one block."""
    qk, v = imp.qk[block], imp.v[block]
    per_head = np.sort(qk, axis=1)[:, ::-1][:, :hd].sum(axis=1) + np.sort(v, axis=1)[:, ::-1][:, :hd].sum(axis=1)
    tot = qk.sum() + v.sum()
    if tot <= 0:
        return h * hd / qk.size
    return float(np.sort(per_head)[::-1][:h].sum() / tot)


def shape_score(cfg: Any, imp: Importance, shape: PruneShape) -> float:
    """Product of the importance fractions kept by channels, attention (mean over blocks) and MLP (mean)."""
    ch = _topk_frac(imp.channel, shape.dim)
    at = float(np.mean([_attn_frac(imp, b, shape.heads, shape.head_dim) for b in range(cfg.depth)]))
    ml = float(np.mean([_topk_frac(imp.neuron[b], shape.mlp_hidden) for b in range(cfg.depth)]))
    return ch * at * ml


def choose_shape(
    cfg: Any, imp: Importance, budget_macs: float, granule: int, head_out: int
) -> tuple[PruneShape, bool]:
    """The tile-aligned shape keeping the most importance within `budget_macs`; (shape, budget_met).

    If no shape meets the budget, the smallest-MAC shape is returned with budget_met False.
    """
    shapes = candidate_shapes(cfg, granule)
    ok = [s for s in shapes if shape_macs(cfg, s, head_out) <= budget_macs]
    if not ok:
        return min(shapes, key=lambda s: (shape_macs(cfg, s, head_out), -shape_score(cfg, imp, s))), False
    return max(ok, key=lambda s: (round(shape_score(cfg, imp, s), 12), -shape_macs(cfg, s, head_out))), True


def full_plan(cfg: Any) -> PrunePlan:
    """The plan that keeps everything (apply_plan of it reproduces the model)."""
    hd = cfg.head_dim
    return PrunePlan(
        channels=list(range(cfg.dim)),
        heads=[list(range(cfg.heads)) for _ in range(cfg.depth)],
        qk_dims=[[list(range(hd)) for _ in range(cfg.heads)] for _ in range(cfg.depth)],
        v_dims=[[list(range(hd)) for _ in range(cfg.heads)] for _ in range(cfg.depth)],
        neurons=[list(range(cfg.mlp_hidden)) for _ in range(cfg.depth)],
    )


def _top(values: np.ndarray, k: int) -> list[int]:
    order = np.lexsort((np.arange(len(values)), -np.asarray(values)))  # descending, lower index first on ties
    return sorted(int(i) for i in order[:k])


def make_plan(cfg: Any, imp: Importance, shape: PruneShape) -> PrunePlan:
    """Keep the most important units for `shape` (per block for heads, head dims and neurons)."""
    plan = PrunePlan(channels=_top(imp.channel, shape.dim), heads=[], qk_dims=[], v_dims=[], neurons=[])
    for b in range(cfg.depth):
        qk, v = imp.qk[b], imp.v[b]
        qk_sel = [_top(qk[h], shape.head_dim) for h in range(cfg.heads)]
        v_sel = [_top(v[h], shape.head_dim) for h in range(cfg.heads)]
        head_imp = np.array([qk[h, qk_sel[h]].sum() + v[h, v_sel[h]].sum() for h in range(cfg.heads)])
        heads = _top(head_imp, shape.heads)
        plan.heads.append(heads)
        plan.qk_dims.append([qk_sel[h] for h in heads])
        plan.v_dims.append([v_sel[h] for h in heads])
        plan.neurons.append(_top(imp.neuron[b], shape.mlp_hidden))
    return plan


def measure_importance(model: Any, images: Any, labels: Sequence[int], classes: Sequence[int], batch: int = 64) -> Importance:
    """Fisher importance of every prunable unit on `images` (float (N, C, H, W) in [0, 1] tensor) of the group.

    `labels` are the original class indices (all must be in `classes`); the loss is the cross-entropy of the
    model's logits restricted to `classes`.
    """
    import torch
    from torch.nn import functional as F

    cfg = model.cfg
    _check_dense(cfg)
    classes = list(classes)
    pos = {c: i for i, c in enumerate(classes)}
    try:
        local = torch.tensor([pos[int(y)] for y in labels], dtype=torch.long)
    except KeyError as exc:
        raise ConfigError(f"measure_importance: label {exc} is not in the group {classes}") from None
    d, hds, heads, depth = cfg.dim, cfg.head_dim, cfg.heads, cfg.depth
    g_ch = torch.ones(d, requires_grad=True)
    g_qk = torch.ones(depth, heads, hds, requires_grad=True)
    g_v = torch.ones(depth, heads, hds, requires_grad=True)
    g_n = torch.ones(depth, cfg.mlp_hidden, requires_grad=True)
    hooks = []

    def gate_input(gate: torch.Tensor) -> Any:
        return lambda _m, args: (args[0] * gate,)

    try:
        for i, blk in enumerate(model.blocks):
            hooks.append(blk.norm1.register_forward_pre_hook(gate_input(g_ch)))
            hooks.append(blk.norm2.register_forward_pre_hook(gate_input(g_ch)))
            hooks.append(blk.mlp.fc2.register_forward_pre_hook(gate_input(g_n[i])))

            def qkv_hook(_m: Any, _args: Any, out: torch.Tensor, i: int = i) -> torch.Tensor:
                qk = g_qk[i].reshape(-1)
                return out * torch.cat([qk, qk, g_v[i].reshape(-1)])

            hooks.append(blk.attn.qkv.register_forward_hook(qkv_hook))
        hooks.append(model.norm.register_forward_pre_hook(gate_input(g_ch)))
        acc = [np.zeros(t.shape) for t in (g_ch, g_qk, g_v, g_n)]
        cls_idx = torch.tensor(classes, dtype=torch.long)
        was_training = model.training
        model.eval()
        for s in range(0, len(local), batch):
            x = images[s : s + batch]
            logits = model(x)[:, cls_idx]
            loss = F.cross_entropy(logits, local[s : s + batch], reduction="sum")
            grads = torch.autograd.grad(loss, [g_ch, g_qk, g_v, g_n])
            for a, g in zip(acc, grads):
                a += g.detach().double().numpy() ** 2
        model.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    return Importance(channel=acc[0], qk=acc[1], v=acc[2], neuron=acc[3])


def apply_plan(
    model: Any, plan: PrunePlan, head_rows: Sequence[Sequence[int]] | None = None, name: str | None = None,
    task_name: str | None = None,
) -> Any:
    """A new VisionTransformer holding the kept units of `model` (the full float model, task 0).

    `head_rows`: one entry per output of the new head, each a list of rows of the old head whose weights are
    averaged into it (e.g. [[c] for c in classes] + [others] + ...); default: the old head unchanged.
    The new model's cfg is a ModelConfig with the pruned widths and a single classify task.
    """
    import torch

    from vitaccel.models import TaskSpec, build_model

    cfg = model.cfg
    _check_dense(cfg)
    shape = plan.shape
    if shape.dim != shape.heads * shape.head_dim:
        raise ConfigError(f"prune plan: dim {shape.dim} != heads {shape.heads} * head_dim {shape.head_dim}")
    old_head = model.heads[0]
    rows = [list(r) for r in head_rows] if head_rows is not None else [[c] for c in range(old_head.out_features)]
    new_cfg = dataclasses.replace(
        cfg,
        name=name or f"{cfg.name}-pruned",
        dim=shape.dim,
        heads=shape.heads,
        mlp_hidden=shape.mlp_hidden,
        tasks=(TaskSpec(task_name or cfg.tasks[0].name, "classify", len(rows)),),
    )
    new = build_model(new_cfg)
    ch = torch.tensor(plan.channels, dtype=torch.long)
    hd_old, d_old = cfg.head_dim, cfg.dim
    q_scale = math.sqrt(shape.head_dim / hd_old)
    with torch.no_grad():
        new.patch_embed.proj.weight.copy_(model.patch_embed.proj.weight[ch])
        new.patch_embed.proj.bias.copy_(model.patch_embed.proj.bias[ch])
        new.cls_token.copy_(model.cls_token[..., ch])
        new.pos_embed.copy_(model.pos_embed[..., ch])
        for b, (ob, nb) in enumerate(zip(model.blocks, new.blocks)):
            for ln in ("norm1", "norm2"):
                getattr(nb, ln).weight.copy_(getattr(ob, ln).weight[ch])
                getattr(nb, ln).bias.copy_(getattr(ob, ln).bias[ch])
            q_rows, k_rows, v_rows = [], [], []
            for h, qd, vd in zip(plan.heads[b], plan.qk_dims[b], plan.v_dims[b]):
                q_rows += [h * hd_old + j for j in qd]
                k_rows += [d_old + h * hd_old + j for j in qd]
                v_rows += [2 * d_old + h * hd_old + j for j in vd]
            rows_qkv = torch.tensor(q_rows + k_rows + v_rows, dtype=torch.long)
            w = ob.attn.qkv.weight[rows_qkv][:, ch].clone()
            bias = ob.attn.qkv.bias[rows_qkv].clone()
            a = len(q_rows)
            w[:a] *= q_scale
            bias[:a] *= q_scale
            nb.attn.qkv.weight.copy_(w)
            nb.attn.qkv.bias.copy_(bias)
            v_cols = torch.tensor([r - 2 * d_old for r in v_rows], dtype=torch.long)
            nb.attn.proj.weight.copy_(ob.attn.proj.weight[ch][:, v_cols])
            nb.attn.proj.bias.copy_(ob.attn.proj.bias[ch])
            nn_idx = torch.tensor(plan.neurons[b], dtype=torch.long)
            nb.mlp.fc1.weight.copy_(ob.mlp.fc1.weight[nn_idx][:, ch])
            nb.mlp.fc1.bias.copy_(ob.mlp.fc1.bias[nn_idx])
            nb.mlp.fc2.weight.copy_(ob.mlp.fc2.weight[ch][:, nn_idx])
            nb.mlp.fc2.bias.copy_(ob.mlp.fc2.bias[ch])
        new.norm.weight.copy_(model.norm.weight[ch])
        new.norm.bias.copy_(model.norm.bias[ch])
        for i, src in enumerate(rows):
            idx = torch.tensor(src, dtype=torch.long)
            new.heads[0].weight[i].copy_(old_head.weight[idx][:, ch].mean(dim=0))
            new.heads[0].bias[i].copy_(old_head.bias[idx].mean())
    return new.eval()
