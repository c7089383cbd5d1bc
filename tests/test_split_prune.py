"""Class-wise pruning: tile-multiple shapes, exact reproduction when nothing (or only dead units) is pruned."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vitaccel.distributed.prune import (  # noqa: E402
    PruneShape,
    apply_plan,
    candidate_shapes,
    choose_shape,
    full_plan,
    make_plan,
    measure_importance,
    shape_macs,
)
from vitaccel.errors import FitError  # noqa: E402
from vitaccel.models import TaskSpec, build_model, get_config, macs_per_image  # noqa: E402


def random_model(seed: int = 0):
    m = build_model("vit-digits", seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m.eval()


def images(n: int, seed: int = 1):
    return torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_full_plan_reproduces_model():
    m = random_model()
    x = images(8)
    sub = apply_plan(m, full_plan(m.cfg))
    with torch.no_grad():
        torch.testing.assert_close(sub(x), m(x), rtol=0, atol=0)


def test_dead_neurons_pruned_exactly():
    """Neurons whose fc2 column is zero contribute nothing; pruning exactly them must not change the output."""
    m = random_model(3)
    cfg = m.cfg
    rng = np.random.default_rng(0)
    dead = [sorted(rng.choice(cfg.mlp_hidden, 64, replace=False).tolist()) for _ in range(cfg.depth)]
    with torch.no_grad():
        for blk, d in zip(m.blocks, dead):
            blk.mlp.fc2.weight[:, d] = 0.0
    plan = full_plan(cfg)
    plan.neurons = [[j for j in range(cfg.mlp_hidden) if j not in d] for d in dead]
    sub = apply_plan(m, plan)
    assert sub.cfg.mlp_hidden == 64
    x = images(6)
    with torch.no_grad():
        torch.testing.assert_close(sub(x), m(x), rtol=1e-5, atol=1e-5)


def test_importance_finds_dead_neurons():
    m = random_model(4)
    dead = list(range(0, 128, 2))
    with torch.no_grad():
        for blk in m.blocks:
            blk.mlp.fc2.weight[:, dead] = 0.0
    imp = measure_importance(m, images(16), [i % 3 for i in range(16)], [0, 1, 2])
    assert np.all(imp.neuron[:, dead] == 0)
    assert np.all(imp.neuron[:, 1::2].sum(axis=1) > 0)
    plan = make_plan(m.cfg, imp, PruneShape(64, 2, 32, 64))
    assert all(sorted(n) == list(range(1, 128, 2)) for n in plan.neurons)


@pytest.mark.parametrize("granule", [16, 32, 64])
def test_shapes_are_tile_multiples_and_buildable(granule):
    cfg = get_config("vit-digits")
    shapes = candidate_shapes(cfg, granule)
    assert shapes
    m = random_model(1)
    imp = measure_importance(m, images(8), [0] * 4 + [1] * 4, [0, 1])
    for s in shapes:
        assert s.dim % granule == 0 and s.mlp_hidden % granule == 0
        assert s.dim == s.heads * s.head_dim and s.heads <= cfg.heads and s.head_dim <= cfg.head_dim
        assert s.head_dim % 16 == 0  # the ISA's ACT_ALIGN
    for s in shapes[:: max(1, len(shapes) // 4)]:
        plan = make_plan(cfg, imp, s)
        sub = apply_plan(m, plan, head_rows=[[0], [1], list(range(2, 10))])
        # every weight GEMM output width is a whole number of tiles
        for name, mod in sub.named_modules():
            if isinstance(mod, torch.nn.Linear) and not name.startswith("heads"):
                assert mod.out_features % granule == 0, name
        # the pruned model's config is a plain ModelConfig; the MAC count agrees with the models package
        assert shape_macs(cfg, s, 3) == macs_per_image(sub.cfg)
        ref = build_model(sub.cfg)
        ref.load_state_dict(sub.state_dict(), strict=True)
        assert sub(images(2)).shape == (2, 3)
        # the project's compiler maps the pruned shape onto a board (it rejects misaligned dims / heads)
        from vitaccel.boards import derive_accelerator_config
        from vitaccel.compiler import compile_model
        from vitaccel.compiler.synthetic import synthetic_qmodel

        compile_model(synthetic_qmodel(sub.cfg, seed=None), derive_accelerator_config("pynq-z2"), 0)


def test_choose_shape_respects_budget():
    cfg = get_config("vit-digits")
    m = random_model(2)
    imp = measure_importance(m, images(8), [0] * 8, [0])
    full = macs_per_image(dataclasses.replace(cfg, tasks=(TaskSpec("g", "classify", 12),)))
    for frac in (1.0, 0.6, 0.4):
        s, met = choose_shape(cfg, imp, frac * full, 16, 12)
        assert met and shape_macs(cfg, s, 12) <= frac * full
    s, met = choose_shape(cfg, imp, 1.0, 64, 12)  # impossible budget: smallest tile-aligned shape, flagged
    assert not met and s.dim == 64 and s.mlp_hidden == 64
    with pytest.raises(FitError):
        candidate_shapes(cfg, 256)


def test_head_dim_and_channel_pruning_of_attention_is_exact_on_dead_units():
    """apply_plan's attention: prune q/k/v dims whose weights and biases are zero and residual channels that are
    zero in the input; the pruned attention on the kept channels must equal the full attention's kept outputs.
    Exact only thanks to the q rescaling by sqrt(hd'/hd) (the new softmax scale is hd'^-0.5)."""
    m = random_model(5)
    cfg = m.cfg
    keep_dims = list(range(0, 32, 2))  # 16 of 32 dims per head
    channels = list(range(0, 64, 2))  # 32 of 64 residual channels
    blk = m.blocks[0]
    with torch.no_grad():
        for h in range(2):
            for d in range(32):
                if d not in keep_dims:
                    for sec in range(3):
                        blk.attn.qkv.weight[sec * 64 + h * 32 + d] = 0.0
                        blk.attn.qkv.bias[sec * 64 + h * 32 + d] = 0.0
    plan = full_plan(cfg)
    plan.channels = channels
    plan.qk_dims = [[keep_dims, keep_dims] for _ in range(cfg.depth)]
    plan.v_dims = [[keep_dims, keep_dims] for _ in range(cfg.depth)]
    plan.neurons = [list(range(0, 128, 2)) for _ in range(cfg.depth)]  # mlp 64: a granule-32 shape
    sub = apply_plan(m, plan)
    assert (sub.cfg.dim, sub.cfg.heads, sub.cfg.head_dim) == (32, 2, 16)
    x = torch.randn(3, cfg.tokens, 64)
    x[..., 1::2] = 0.0  # dropped channels carry nothing
    with torch.no_grad():
        full = blk.attn(x)[..., channels]
        small = sub.blocks[0].attn(x[..., channels])
    torch.testing.assert_close(small, full, rtol=1e-5, atol=1e-5)
