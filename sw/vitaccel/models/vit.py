"""Float reference ViT / DeiT and M3ViT-style multi-task MoE ViT (PyTorch).

One class, VisionTransformer, covers both: blocks listed in cfg.moe_blocks carry a `moe` (gates per task +
experts) instead of an `mlp`. Submodule names are a contract with vitaccel.quant (docs/DEVELOPING.md):

    patch_embed.proj, cls_token, pos_embed, blocks[i].norm1, blocks[i].attn.qkv, blocks[i].attn.proj,
    blocks[i].norm2, blocks[i].mlp.fc1/.fc2 | blocks[i].moe.gates[t], blocks[i].moe.experts[e].fc1/.fc2,
    norm, heads[t]

Images enter as float32 in [0, 1], shape (B, in_chans, H, W); the per-channel normalisation
(x - norm_mean) / norm_std is applied inside forward (non-persistent buffers, so state dicts hold only the
parameters above).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vitaccel.errors import InputError
from vitaccel.models.config import ModelConfig, get_config


# ---- layout helpers ----------------------------------------------------------------------------------------
def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*patch*patch); patches row-major over the grid, each flattened (c, py, px)."""
    b, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    x = x.reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, gh * gw, c * patch * patch)


def pixel_shuffle(y: torch.Tensor, grid: tuple[int, int], patch: int, channels: int) -> torch.Tensor:
    """(B, N, channels*patch*patch) per-patch vectors -> (B, channels, gh*patch, gw*patch).

    Element (ch*patch + py)*patch + px of patch (gy, gx) lands at pixel (gy*patch + py, gx*patch + px) of
    channel ch.
    """
    b = y.shape[0]
    gh, gw = grid
    y = y.reshape(b, gh, gw, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return y.reshape(b, channels, gh * patch, gw * patch)


def trunc_normal_(t: torch.Tensor, std: float = 0.02, bound: float = 2.0) -> torch.Tensor:
    """In place: normal(0, std) truncated to +-bound*std, by inverse CDF (one pass; torch's own
    trunc_normal_ rejection loop is slow for the 18 M parameters of m3vit-tiny)."""
    lo = 0.5 * math.erfc(bound / math.sqrt(2.0))  # Phi(-bound)
    with torch.no_grad():
        t.uniform_(2.0 * lo - 1.0, 1.0 - 2.0 * lo)
        t.erfinv_().mul_(std * math.sqrt(2.0)).clamp_(-bound * std, bound * std)
    return t


# ---- modules -----------------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    """Patch embedding as a GEMM: nn.Linear(in_chans*patch*patch, dim) on (c, py, px)-flattened patches."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.patch = cfg.patch
        self.proj = nn.Linear(cfg.patch_dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(patchify(x, self.patch))


class Attention(nn.Module):
    """Multi-head self-attention; qkv output order q | k | v, heads contiguous inside each; scale head_dim^-0.5."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, T, head_dim)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)


class Mlp(nn.Module):
    """fc1 -> exact (erf) GELU -> fc2. Also used as one expert."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="none")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def topk_lower_index(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k along the last axis; among equal values the lower index comes first (stable descending sort)."""
    vals, idx = torch.sort(probs, dim=-1, descending=True, stable=True)
    return vals[..., :k], idx[..., :k]


class MoE(nn.Module):
    """Task-gated mixture of experts (M3ViT / Edge-MoE routing).

    g = softmax(x @ W_gate[task]^T) over all experts; the top_k probabilities are kept WITHOUT renormalising
    (ties: lower expert index wins); moe(x) = sum_k g_k * expert_k(x). Computed per expert over the list of
    tokens routed to it (Edge-MoE's patch reordering), so unvisited experts cost nothing.
    """

    def __init__(self, dim: int, num_experts: int, hidden: int, top_k: int, num_tasks: int) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.top_k = top_k
        self.gates = nn.ModuleList(nn.Linear(dim, num_experts, bias=False) for _ in range(num_tasks))
        self.experts = nn.ModuleList(Mlp(dim, hidden) for _ in range(num_experts))
        self.last_gate_probs: torch.Tensor | None = None

    def route(self, x: torch.Tensor, task: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gate for tokens x (..., dim): (softmax probabilities (..., E), top-k weights (..., k), indices)."""
        probs = torch.softmax(self.gates[task](x), dim=-1)
        weights, idx = topk_lower_index(probs, self.top_k)
        return probs, weights, idx

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(-1, shape[-1])
        probs, weights, idx = self.route(tokens, task)
        self.last_gate_probs = probs
        # dense (N, E) routing weights: g_e for the top_k experts of each token, 0 elsewhere
        combine = torch.zeros_like(probs).scatter(-1, idx, weights)
        routed = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, idx, True)
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            rows = routed[:, e].nonzero(as_tuple=True)[0]  # this expert's token list
            if rows.numel() == 0:
                continue
            out.index_add_(0, rows, combine[rows, e : e + 1] * expert(tokens[rows]))
        return out.reshape(shape)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)); x + mlp(norm2(x)) or x + moe(norm2(x), task)."""

    def __init__(self, cfg: ModelConfig, moe: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        self.attn = Attention(cfg.dim, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        self.is_moe = moe
        if moe:
            self.moe = MoE(cfg.dim, cfg.num_experts, cfg.expert_hidden, cfg.top_k, len(cfg.tasks))
        else:
            self.mlp = Mlp(cfg.dim, cfg.mlp_hidden)

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        if self.is_moe:
            return x + self.moe(self.norm2(x), task)
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT / DeiT encoder with per-task heads, optionally with MoE blocks (M3ViT). See the module docstring."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.tokens, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg, i in cfg.moe_blocks) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        self.heads = nn.ModuleList(nn.Linear(cfg.dim, cfg.head_out_features(t)) for t in range(len(cfg.tasks)))
        mean = torch.tensor(cfg.norm_mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std = torch.tensor(cfg.norm_std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.register_buffer("norm_mean", mean, persistent=False)
        self.register_buffer("norm_std", std, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Truncated normal (std 0.02, +-2 std) for weights and tokens, zero biases, unit LayerNorm."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        trunc_normal_(self.cls_token)
        trunc_normal_(self.pos_embed)

    # ---- input checks --------------------------------------------------------------------------------------
    def check_input(self, x: object) -> None:
        """InputError unless x is a finite float32 tensor (B, in_chans, H, W) with values in [0, 1]."""
        cfg = self.cfg
        h, w = cfg.img_size
        expected = f"float32 tensor (B, {cfg.in_chans}, {h}, {w}) with values in [0, 1]"
        if not isinstance(x, torch.Tensor):
            raise InputError(f"model {cfg.name!r} input: expected a {expected}, got {type(x).__name__}")
        if x.dtype != torch.float32:
            hint = " (divide uint8 pixels by 255)" if x.dtype == torch.uint8 else ""
            raise InputError(f"model {cfg.name!r} input: expected a {expected}, got dtype {x.dtype}{hint}")
        if x.ndim != 4 or tuple(x.shape[1:]) != (cfg.in_chans, h, w) or x.shape[0] < 1:
            raise InputError(f"model {cfg.name!r} input: expected a {expected}, got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise InputError(f"model {cfg.name!r} input: {bad} NaN/Inf value(s), expected finite values in [0, 1]")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"model {cfg.name!r} input: values in [{lo:g}, {hi:g}], expected [0, 1] "
                "(pass un-normalised images; normalisation happens inside the model)"
            )

    # ---- forward -------------------------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor, task: int | str = 0) -> torch.Tensor:
        """Final-norm token matrix (B, T, dim) for images x (see check_input); CLS is token 0."""
        self.check_input(x)
        return self._features(x, self.cfg.task_index(task))

    def _features(self, x: torch.Tensor, task: int) -> torch.Tensor:
        x = (x - self.norm_mean) / self.norm_std
        tok = self.patch_embed(x)
        cls = self.cls_token.expand(tok.shape[0], -1, -1)
        tok = torch.cat([cls, tok], dim=1) + self.pos_embed
        for blk in self.blocks:
            tok = blk(tok, task)
        return self.norm(tok)

    def head_forward(self, feats: torch.Tensor, task: int | str = 0) -> torch.Tensor:
        """Apply heads[task] to final-norm tokens (B, T, dim); see forward for the output shapes."""
        ti = self.cfg.task_index(task)
        spec = self.cfg.tasks[ti]
        head = self.heads[ti]
        if spec.kind == "classify":
            return head(feats[:, 0])
        return pixel_shuffle(head(feats[:, 1:]), self.cfg.grid, self.cfg.patch, spec.out_channels)

    def forward(self, x: torch.Tensor, task: int | str = 0) -> torch.Tensor:
        """classify -> logits (B, classes); segment -> logits (B, classes, H, W); depth -> (B, 1, H, W)."""
        ti = self.cfg.task_index(task)
        self.check_input(x)
        return self.head_forward(self._features(x, ti), ti)


def build_model(cfg: ModelConfig | str, seed: int = 0) -> VisionTransformer:
    """A freshly initialised float model for cfg (or a registered name); deterministic in seed and does not
    disturb the global torch RNG."""
    cfg = get_config(cfg) if isinstance(cfg, str) else cfg
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VisionTransformer(cfg)


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of a torch module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "Attention",
    "Block",
    "Mlp",
    "MoE",
    "PatchEmbed",
    "VisionTransformer",
    "build_model",
    "num_parameters",
    "patchify",
    "pixel_shuffle",
    "topk_lower_index",
]
