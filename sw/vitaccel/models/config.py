"""Model configurations (torch-free): TaskSpec, ModelConfig, the named registry and analytic costs.

This module imports only the standard library so that board-side code (QuantizedModel loading) can rebuild a
ModelConfig from a file without torch. Shapes follow docs/DEVELOPING.md ("Model structure").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vitaccel.errors import ConfigError

TASK_KINDS = ("classify", "segment", "depth")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TaskSpec:
    """One output task.

    kind "classify": logits (B, out_channels) from the CLS token; "segment": per-pixel logits
    (B, out_channels, H, W); "depth": per-pixel depth (B, 1, H, W), out_channels must be 1.
    """

    name: str
    kind: str
    out_channels: int

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ConfigError(f"task {self.name!r}: kind {self.kind!r} is not one of {', '.join(TASK_KINDS)}")
        if not isinstance(self.out_channels, int) or self.out_channels < 1:
            raise ConfigError(f"task {self.name!r}: out_channels {self.out_channels!r}, expected an int >= 1")
        if self.kind == "depth" and self.out_channels != 1:
            raise ConfigError(f"task {self.name!r}: depth tasks have out_channels 1, got {self.out_channels}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "out_channels": self.out_channels}


@dataclass(frozen=True)
class ModelConfig:
    """A ViT / M3ViT architecture. Sizes in elements; img_size is (H, W) in pixels.

    moe_blocks lists the block indices whose MLP is a mixture of experts (num_experts experts of hidden size
    expert_hidden, top_k routing, one gate per task). norm_mean / norm_std (one per input channel) normalise
    images in [0, 1] inside the model: x_n = (x - mean) / std.
    """

    name: str
    img_size: tuple[int, int]
    in_chans: int
    patch: int
    dim: int
    depth: int
    heads: int
    mlp_hidden: int
    tasks: tuple[TaskSpec, ...]
    moe_blocks: tuple[int, ...] = ()
    num_experts: int = 0
    expert_hidden: int = 0
    top_k: int = 0
    ln_eps: float = 1e-6
    norm_mean: tuple[float, ...] = field(default=IMAGENET_MEAN)
    norm_std: tuple[float, ...] = field(default=IMAGENET_STD)

    def __post_init__(self) -> None:
        # Normalise sequences to tuples so that from_dict(JSON lists) == the registry entry.
        object.__setattr__(self, "img_size", tuple(int(v) for v in self.img_size))
        object.__setattr__(self, "moe_blocks", tuple(int(v) for v in self.moe_blocks))
        object.__setattr__(self, "norm_mean", tuple(float(v) for v in self.norm_mean))
        object.__setattr__(self, "norm_std", tuple(float(v) for v in self.norm_std))
        tasks = tuple(t if isinstance(t, TaskSpec) else TaskSpec(**t) for t in self.tasks)
        object.__setattr__(self, "tasks", tasks)
        self._validate()

    def _validate(self) -> None:
        where = f"model config {self.name!r}"

        def bad(fld: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"{where}: field {fld} = {value!r}, expected {expected}")

        if len(self.img_size) != 2 or min(self.img_size) < 1:
            raise bad("img_size", self.img_size, "(H, W) with H, W >= 1")
        for fld in ("in_chans", "patch", "dim", "depth", "heads", "mlp_hidden"):
            v = getattr(self, fld)
            if not isinstance(v, int) or v < 1:
                raise bad(fld, v, "an int >= 1")
        h, w = self.img_size
        if h % self.patch or w % self.patch:
            raise bad("patch", self.patch, f"a divisor of img_size {self.img_size}")
        if self.dim % self.heads:
            raise bad("heads", self.heads, f"a divisor of dim {self.dim}")
        if not self.tasks:
            raise bad("tasks", self.tasks, "at least one TaskSpec")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise bad("tasks", names, "unique task names")
        if len(self.norm_mean) != self.in_chans:
            raise bad("norm_mean", self.norm_mean, f"{self.in_chans} values (one per input channel)")
        if len(self.norm_std) != self.in_chans or min(self.norm_std) <= 0:
            raise bad("norm_std", self.norm_std, f"{self.in_chans} positive values (one per input channel)")
        if not self.ln_eps > 0:
            raise bad("ln_eps", self.ln_eps, "> 0")
        if self.moe_blocks:
            if sorted(set(self.moe_blocks)) != list(self.moe_blocks):
                raise bad("moe_blocks", self.moe_blocks, "strictly increasing block indices")
            if self.moe_blocks[0] < 0 or self.moe_blocks[-1] >= self.depth:
                raise bad("moe_blocks", self.moe_blocks, f"indices in 0..{self.depth - 1}")
            if self.num_experts < 1:
                raise bad("num_experts", self.num_experts, ">= 1 when moe_blocks is not empty")
            if self.expert_hidden < 1:
                raise bad("expert_hidden", self.expert_hidden, ">= 1 when moe_blocks is not empty")
            if not 1 <= self.top_k <= self.num_experts:
                raise bad("top_k", self.top_k, f"1..num_experts ({self.num_experts})")

    # ---- derived sizes -------------------------------------------------------------------------------------
    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (rows, cols)."""
        return self.img_size[0] // self.patch, self.img_size[1] // self.patch

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid
        return gh * gw

    @property
    def tokens(self) -> int:
        """Sequence length T = 1 (CLS) + number of patches."""
        return 1 + self.num_patches

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def patch_dim(self) -> int:
        """Length of one flattened patch, in_chans * patch * patch, (c, py, px) order."""
        return self.in_chans * self.patch * self.patch

    @property
    def is_moe(self) -> bool:
        return bool(self.moe_blocks)

    def task_index(self, task: int | str) -> int:
        """Index of a task given as index or name; ConfigError if unknown."""
        names = [t.name for t in self.tasks]
        if isinstance(task, str):
            if task not in names:
                raise ConfigError(f"model {self.name!r}: unknown task {task!r}, expected one of {names}")
            return names.index(task)
        if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < len(self.tasks):
            raise ConfigError(
                f"model {self.name!r}: task index {task!r} out of range, expected 0..{len(self.tasks) - 1} "
                f"({', '.join(names)})"
            )
        return task

    def head_out_features(self, task: int | str) -> int:
        """Output width of heads[t]: classes (classify) or channels * patch * patch (segment / depth)."""
        t = self.tasks[self.task_index(task)]
        return t.out_channels if t.kind == "classify" else t.out_channels * self.patch * self.patch

    # ---- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "tasks":
                d[f.name] = [t.to_dict() for t in v]
            elif isinstance(v, tuple):
                d[f.name] = list(v)
            else:
                d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict; unknown or missing fields raise ConfigError naming them."""
        if not isinstance(d, dict):
            raise ConfigError(f"model config: expected a dict, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"model config {d.get('name')!r}: unknown field(s) {unknown}, known: {sorted(known)}")
        missing = sorted(required - set(d))
        if missing:
            raise ConfigError(f"model config {d.get('name')!r}: missing field(s) {missing}")
        kw = dict(d)
        tasks = kw["tasks"]
        if not isinstance(tasks, (list, tuple)):
            raise ConfigError(f"model config {d.get('name')!r}: tasks must be a list, got {tasks!r}")
        try:
            kw["tasks"] = tuple(t if isinstance(t, TaskSpec) else TaskSpec(**t) for t in tasks)
        except TypeError as exc:
            raise ConfigError(f"model config {d.get('name')!r}: bad task entry in {tasks!r}: {exc}") from None
        return cls(**kw)

    def diff(self, other: ModelConfig) -> list[str]:
        """Human-readable list of fields that differ ('field: self_value != other_value')."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b.get(k)]


# ---- analytic costs ----------------------------------------------------------------------------------------
def count_params(cfg: ModelConfig) -> int:
    """Number of trainable parameters of build_model(cfg) (all tasks' gates and heads included)."""
    d, t = cfg.dim, cfg.tokens
    n = cfg.patch_dim * d + d  # patch_embed.proj
    n += d + t * d  # cls_token, pos_embed
    per_block = 2 * 2 * d  # norm1, norm2
    per_block += d * 3 * d + 3 * d + d * d + d  # qkv, proj
    dense = d * cfg.mlp_hidden + cfg.mlp_hidden + cfg.mlp_hidden * d + d
    expert = d * cfg.expert_hidden + cfg.expert_hidden + cfg.expert_hidden * d + d
    moe = len(cfg.tasks) * d * cfg.num_experts + cfg.num_experts * expert
    for i in range(cfg.depth):
        n += per_block + (moe if i in cfg.moe_blocks else dense)
    n += 2 * d  # final norm
    for ti in range(len(cfg.tasks)):
        o = cfg.head_out_features(ti)
        n += d * o + o
    return n


def macs_per_image(cfg: ModelConfig, task: int | str = 0) -> int:
    """Multiply-accumulates for one image and one task: every matrix product including Q.K^T, A.V, the gate,
    the top_k experts each token visits, and the task's head. LayerNorm / softmax / GELU are not counted."""
    ti = cfg.task_index(task)
    d, t, n = cfg.dim, cfg.tokens, cfg.num_patches
    macs = n * cfg.patch_dim * d
    attn = t * d * 3 * d + 2 * t * t * d + t * d * d
    for i in range(cfg.depth):
        macs += attn
        if i in cfg.moe_blocks:
            macs += t * d * cfg.num_experts + cfg.top_k * t * 2 * d * cfg.expert_hidden
        else:
            macs += t * 2 * d * cfg.mlp_hidden
    rows = 1 if cfg.tasks[ti].kind == "classify" else n
    macs += rows * d * cfg.head_out_features(ti)
    return macs


# ---- registry ----------------------------------------------------------------------------------------------
_REGISTRY: dict[str, ModelConfig] = {}


def register_config(cfg: ModelConfig) -> ModelConfig:
    """Add a config to the registry (name must be new)."""
    if cfg.name in _REGISTRY:
        raise ConfigError(f"model config {cfg.name!r} is already registered")
    _REGISTRY[cfg.name] = cfg
    return cfg


def list_configs() -> list[str]:
    """Names of all registered configs, sorted."""
    return sorted(_REGISTRY)


def get_config(name: str) -> ModelConfig:
    """The registered config called `name`; ConfigError listing the known names otherwise."""
    if isinstance(name, ModelConfig):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(list_configs())}") from None


SCENE_CLASSES = ("background", "rectangle", "ellipse", "triangle")

# DeiT-Tiny (timm deit_tiny_patch16_224 layout): 224x224, 196 patches + CLS = 197 tokens.
register_config(
    ModelConfig(
        name="vit-tiny",
        img_size=(224, 224),
        in_chans=3,
        patch=16,
        dim=192,
        depth=12,
        heads=3,
        mlp_hidden=768,
        tasks=(TaskSpec("imagenet", "classify", 1000),),
    )
)

# Edge-MoE / M3ViT workload: 3x128x256, 128 patches + CLS = 129 tokens, MoE on odd blocks.
register_config(
    ModelConfig(
        name="m3vit-tiny",
        img_size=(128, 256),
        in_chans=3,
        patch=16,
        dim=192,
        depth=12,
        heads=3,
        mlp_hidden=768,
        moe_blocks=(1, 3, 5, 7, 9, 11),
        num_experts=16,
        expert_hidden=384,
        top_k=2,
        tasks=(TaskSpec("segment", "segment", 7), TaskSpec("depth", "depth", 1)),
    )
)

# Small enough for RTL simulation in seconds: 16 patches + CLS = 17 tokens.
register_config(
    ModelConfig(
        name="m3vit-micro",
        img_size=(32, 32),
        in_chans=3,
        patch=8,
        dim=64,
        depth=2,
        heads=2,
        mlp_hidden=128,
        moe_blocks=(1,),
        num_experts=4,
        expert_hidden=64,
        top_k=2,
        tasks=(TaskSpec("segment", "segment", len(SCENE_CLASSES)), TaskSpec("depth", "depth", 1)),
    )
)

# Classifier for scikit-learn digits upsampled to 1x32x32 (vitaccel.data.load_digits_dataset).
register_config(
    ModelConfig(
        name="vit-digits",
        img_size=(32, 32),
        in_chans=1,
        patch=8,
        dim=64,
        depth=3,
        heads=2,
        mlp_hidden=128,
        tasks=(TaskSpec("digits", "classify", 10),),
        norm_mean=(0.5,),
        norm_std=(0.5,),
    )
)

# Multi-task MoE for the procedural scenes (vitaccel.data.SceneGenerator): 3x32x32, patch 8, 17 tokens
# (patch 4 / 65 tokens costs about 4x more and does not train within the 3-minute CPU budget).
register_config(
    ModelConfig(
        name="m3vit-scenes",
        img_size=(32, 32),
        in_chans=3,
        patch=8,
        dim=64,
        depth=4,
        heads=2,
        mlp_hidden=128,
        moe_blocks=(1, 3),
        num_experts=4,
        expert_hidden=128,
        top_k=2,
        tasks=(TaskSpec("segment", "segment", len(SCENE_CLASSES)), TaskSpec("depth", "depth", 1)),
        norm_mean=(0.5, 0.5, 0.5),
        norm_std=(0.25, 0.25, 0.25),
    )
)
