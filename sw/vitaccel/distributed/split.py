"""Class grouping for ED-ViT-style splitting: confusable classes together, group sizes from board capacity.

Definitions (C classes, N groups = boards):

- Soft confusion `P` (C, C): row i is the full model's mean softmax over the training images of class i, so it
  is informative even when the model makes no hard mistakes on training data.
- Affinity `A = (P + P^T) / 2` with a zero diagonal: how much two classes are mistaken for each other.
- Class load `w_c = 0.5 + 0.5 * err_c / mean(err)` with `err_c = 1 - P_cc`: mean 1, harder classes weigh more
  (up to any value; a class the model never doubts weighs 0.5). Uniform when the model never errs.
- Board share `s_b` is proportional to `1 / latency_b` where latency_b is the predicted end-to-end latency of the
  FULL model on board b including link and RPC overhead (placement's cost model): the request rate the board
  sustains. When every board is overhead-bound the shares are nearly equal; when compute dominates they follow
  board throughput.
- Group bounds: `lo_b = (1 - slack) * s_b * L`, `hi_b = max(max_c w_c, (1 + slack) * s_b * L)` with L = sum w.
  Every group is non-empty.

`group_classes` maximises the affinity kept inside groups (equivalently minimises the confusion that crosses
groups, which only the fusion could resolve) subject to the bounds: exactly over all N^C labelings when that is
at most `exhaustive_limit` (vectorised), otherwise greedily from mutually least-confused seeds followed by
single-class moves and pairwise swaps until no improvement. Ties go to the labeling closest to the target loads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, FitError

__all__ = [
    "GroupBounds",
    "affinity",
    "class_loads",
    "group_bounds",
    "group_classes",
    "grouping_score",
    "soft_confusion",
]

EXHAUSTIVE_LIMIT = 2_000_000


def soft_confusion(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) matrix whose row i is the mean of `probs` (N, C) over samples with label i (rows sum to 1)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] != num_classes or probs.shape[0] != labels.shape[0]:
        raise ConfigError(f"soft_confusion: probs {probs.shape} and labels {labels.shape} for {num_classes} classes")
    out = np.zeros((num_classes, num_classes))
    for c in range(num_classes):
        sel = labels == c
        if not sel.any():
            raise ConfigError(f"soft_confusion: class {c} has no samples")
        out[c] = probs[sel].mean(axis=0)
    return out / out.sum(axis=1, keepdims=True)


def affinity(confusion: np.ndarray) -> np.ndarray:
    """Symmetric confusion affinity with zero diagonal, from a (C, C) confusion matrix (rows normalised first)."""
    conf = np.asarray(confusion, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1]:
        raise ConfigError(f"confusion matrix must be square, got shape {conf.shape}")
    rows = conf.sum(axis=1, keepdims=True)
    p = conf / np.where(rows > 0, rows, 1.0)
    a = (p + p.T) / 2.0
    np.fill_diagonal(a, 0.0)
    return a


def class_loads(confusion: np.ndarray) -> np.ndarray:
    """Per-class load w_c = 0.5 + 0.5 * err_c / mean(err), err_c = 1 - P_cc (uniform 1 if no errors)."""
    conf = np.asarray(confusion, dtype=np.float64)
    p = conf / conf.sum(axis=1, keepdims=True)
    err = 1.0 - np.diag(p)
    if err.mean() <= 1e-12:
        return np.ones(len(err))
    return 0.5 + 0.5 * err / err.mean()


@dataclass(frozen=True)
class GroupBounds:
    """Lower / upper load bound per group (same units as the class loads)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.hi)


def group_bounds(shares: Sequence[float], loads: Sequence[float], slack: float = 0.25) -> GroupBounds:
    """Bounds from board shares (normalised here) and class loads; see the module docstring."""
    s = np.asarray(shares, dtype=np.float64)
    if s.ndim != 1 or len(s) < 1 or (s <= 0).any():
        raise ConfigError(f"board shares must be positive, got {list(shares)}")
    if not 0 <= slack < 1:
        raise ConfigError(f"slack {slack}: expected 0 <= slack < 1")
    s = s / s.sum()
    total = float(np.sum(loads))
    wmax = float(np.max(loads))
    lo = tuple(float((1 - slack) * v * total) for v in s)
    hi = tuple(float(max(wmax, (1 + slack) * v * total)) for v in s)
    return GroupBounds(lo, hi)


def grouping_score(groups: Sequence[Sequence[int]], aff: np.ndarray) -> float:
    """Affinity kept inside groups: sum over groups of sum_{i<j in group} A_ij."""
    total = 0.0
    for g in groups:
        idx = np.asarray(list(g), dtype=np.int64)
        total += float(aff[np.ix_(idx, idx)].sum()) / 2.0
    return total


def _labels_to_groups(labels: Sequence[int], n: int) -> list[list[int]]:
    return [[c for c, g in enumerate(labels) if g == k] for k in range(n)]


def group_classes(
    confusion: np.ndarray,
    bounds: GroupBounds | Sequence[float],
    loads: Sequence[float] | None = None,
    exhaustive_limit: int = EXHAUSTIVE_LIMIT,
) -> list[list[int]]:
    """Partition the classes into len(bounds) non-empty groups (group k obeys bounds k), maximising affinity.

    `bounds` may be a GroupBounds or a plain sequence of upper bounds (lower bounds 0). `loads` default to 1 per
    class. Returns sorted class lists, one per group, in bounds order. FitError if no partition satisfies them.
    """
    aff = affinity(confusion)
    c = aff.shape[0]
    w = np.ones(c) if loads is None else np.asarray(loads, dtype=np.float64)
    if w.shape != (c,) or (w <= 0).any():
        raise ConfigError(f"class loads must be {c} positive values, got {list(w)}")
    if not isinstance(bounds, GroupBounds):
        bounds = GroupBounds(tuple(0.0 for _ in bounds), tuple(float(v) for v in bounds))
    n = len(bounds)
    if n < 1:
        raise ConfigError("group_classes: need at least one group")
    if n > c:
        raise FitError(f"{n} boards but only {c} classes: every board needs at least one class")
    lo = np.asarray(bounds.lo) - 1e-9
    hi = np.asarray(bounds.hi) + 1e-9
    if float(hi.sum()) < float(w.sum()) - 1e-9:
        raise FitError(
            f"group capacities {[round(v, 3) for v in bounds.hi]} hold {hi.sum():.3f} load units, "
            f"the classes need {w.sum():.3f}"
        )
    target = (np.asarray(bounds.lo) + np.asarray(bounds.hi)) / 2.0
    if n == 1:
        return [list(range(c))]
    if float(n) ** c <= exhaustive_limit:
        labels = _exhaustive(aff, w, lo, hi, target, n)
    else:
        labels = _local_search(aff, w, lo, hi, target, n)
    if labels is None:
        raise FitError(
            f"no partition of {c} classes (loads {np.round(w, 3).tolist()}) into {n} non-empty groups fits the "
            f"bounds lo={np.round(bounds.lo, 3).tolist()} hi={np.round(bounds.hi, 3).tolist()}; raise --slack"
        )
    return _labels_to_groups(labels, n)


def _exhaustive(
    aff: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray, n: int
) -> list[int] | None:
    c = aff.shape[0]
    total = n**c
    chunk = 1 << 18
    best_key: tuple[float, float] | None = None
    best: list[int] | None = None
    pairs = [(i, j) for i in range(c) for j in range(i + 1, c) if aff[i, j] != 0.0]
    powers = n ** np.arange(c - 1, -1, -1, dtype=np.int64)
    for start in range(0, total, chunk):
        codes = np.arange(start, min(total, start + chunk), dtype=np.int64)
        lab = (codes[:, None] // powers[None, :]) % n  # (P, C) base-n digits
        ok = np.ones(len(codes), dtype=bool)
        dev = np.zeros(len(codes))
        for g in range(n):
            member = lab == g
            load = member.astype(np.float64) @ w
            ok &= member.any(axis=1) & (load >= lo[g]) & (load <= hi[g])
            dev += (load - target[g]) ** 2
        if not ok.any():
            continue
        score = np.zeros(len(codes))
        for i, j in pairs:
            score += aff[i, j] * (lab[:, i] == lab[:, j])
        score = np.where(ok, np.round(score, 12), -np.inf)
        dev = np.where(ok, dev, np.inf)
        k = int(np.lexsort((dev, -score))[0])
        key = (-float(score[k]), float(dev[k]))
        if best_key is None or key < best_key:
            best_key, best = key, [int(v) for v in lab[k]]
    return best


def _local_search(
    aff: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray, n: int,
    restarts: int = 24, seed: int = 0,
) -> list[int] | None:
    """Best of several local searches: one from a greedy seeded start, the others from random starts."""
    c = aff.shape[0]
    starts = [_greedy_start(aff, w, hi, n)]
    rng = np.random.default_rng(seed)
    for _ in range(restarts):
        starts.append([int(v) for v in rng.integers(0, n, c)])
    best, best_key = None, None
    for lab in starts:
        if lab is None:
            continue
        lab = _repair(lab, w, lo, hi, n)
        if lab is None:
            continue
        lab, key = _improve(lab, aff, w, lo, hi, target, n)
        if best_key is None or key < best_key:
            best, best_key = lab, key
    return best


def _greedy_start(aff: np.ndarray, w: np.ndarray, hi: np.ndarray, n: int) -> list[int] | None:
    """Seeds: the most confused class in the largest group, then farthest-point seeds; then each class (heaviest
    first) joins the group it is most confused with that still has room."""
    c = aff.shape[0]
    order_groups = list(np.argsort(-hi, kind="stable"))
    seeds = [int(np.argmax(aff.sum(axis=1)))]
    while len(seeds) < n:
        rest = [k for k in range(c) if k not in seeds]
        seeds.append(min(rest, key=lambda k: (aff[k, seeds].max(), k)))
    lab = [-1] * c
    load = np.zeros(n)
    for g, s in zip(order_groups, seeds):
        lab[s] = int(g)
        load[g] += w[s]
    for k in sorted((k for k in range(c) if lab[k] < 0), key=lambda k: -w[k]):
        cands = [g for g in range(n) if load[g] + w[k] <= hi[g]]
        if not cands:
            return None
        gain = {g: sum(aff[k, j] for j in range(c) if lab[j] == g) for g in cands}
        g = max(cands, key=lambda g: (gain[g], hi[g] - load[g] - w[k]))
        lab[k] = g
        load[g] += w[k]
    return lab


def _neighbours(lab: list[int], n: int) -> list[list[int]]:
    c = len(lab)
    out = []
    for k in range(c):
        for g in range(n):
            if g != lab[k]:
                m = list(lab)
                m[k] = g
                out.append(m)
    for i in range(c):
        for j in range(i + 1, c):
            if lab[i] != lab[j]:
                m = list(lab)
                m[i], m[j] = m[j], m[i]
                out.append(m)
    return out


def _repair(lab: list[int], w: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int) -> list[int] | None:
    """Moves / swaps that reduce the bound violation until there is none (None if stuck)."""
    v = _violation(lab, w, lo, hi, n)
    while v > 0:
        best = min(_neighbours(lab, n), key=lambda m: _violation(m, w, lo, hi, n))
        vb = _violation(best, w, lo, hi, n)
        if vb >= v:
            return None
        lab, v = best, vb
    return lab


def _improve(
    lab: list[int], aff: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray, n: int
) -> tuple[list[int], tuple[float, float]]:
    """First-improvement local search over feasible moves and swaps; key = (-kept affinity, load deviation)."""

    def key(lb: list[int]) -> tuple[float, float]:
        groups = _labels_to_groups(lb, n)
        dev = sum((w[gr].sum() - target[g]) ** 2 for g, gr in enumerate(groups))
        return (-round(grouping_score(groups, aff), 12), float(dev))

    cur = key(lab)
    improved = True
    while improved:
        improved = False
        for m in _neighbours(lab, n):
            if _violation(m, w, lo, hi, n) == 0:
                km = key(m)
                if km < cur:
                    lab, cur, improved = m, km, True
                    break
    return lab, cur


def _violation(lab: list[int], w: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int) -> float:
    v = 0.0
    for g in range(n):
        s = sum(w[k] for k in range(len(lab)) if lab[k] == g)
        v += max(0.0, lo[g] - s) + max(0.0, s - hi[g]) + (1.0 if s == 0 else 0.0)
    return v


# =============================================================================================================
# The split pipeline: group -> prune -> fine-tune -> quantize -> fusion -> place -> write
# =============================================================================================================
PLAN_FORMAT = "vitaccel.split_plan"
PLAN_VERSION = 1


@dataclass
class SplitOptions:
    """Settings of `run_split` (defaults are what `vitaccel split` uses).

    granule: pruning unit in channels (None: the largest array_cols of the boards, i.e. the tile width, so every
    sub-model maps onto every board's datapath without padding). ratio: a sub-model's MAC budget is
    ratio * N * (its share of the class load) * full MACs, capped at the full model. aux: every sub-model also
    carries C auxiliary all-class logits (distilled from the full model) so the fusion can still answer for
    the classes of a board that is down. drop: per-board dropout probability while training the fusion.
    """

    boards: tuple[str, ...]
    granule: int | None = None
    ratio: float = 0.5
    slack: float = 0.25
    epochs: int = 40
    batch: int = 64
    lr: float = 2e-3
    aux: bool = True
    kd_temperature: float = 2.0
    calib_images: int = 256
    fusion_hidden: int = 64
    fusion_epochs: int = 400
    drop: float = 0.3
    links: dict[str, Any] | None = None  # board name -> placement.Link
    uplink_mbps: float = 1000.0
    fusion_train_images: int = 800  # training images whose int8 sub-model features train the fusion (0: all)
    threads: int = 1  # torch intra-op threads while splitting
    seed: int = 0


def _log(progress: Any, msg: str) -> None:
    if progress is not None:
        progress(msg)


def _softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def float_logits(model: Any, images_u8: np.ndarray, batch: int = 256) -> np.ndarray:
    """Float model logits (N, out) for uint8 images (N, C, H, W); x = pixel / 255."""
    import torch

    out = []
    model.eval()
    with torch.no_grad():
        for s in range(0, len(images_u8), batch):
            x = torch.from_numpy(np.ascontiguousarray(images_u8[s : s + batch])).float() / 255.0
            out.append(model(x).numpy())
    return np.concatenate(out).astype(np.float64)


def board_shares(specs: Sequence[Any], full_cost: Any, uplink_mbps: float) -> tuple[list[float], list[float]]:
    """(shares, latency_ms): share_b proportional to 1 / predicted latency of the FULL model alone on board b."""
    from vitaccel.distributed.placement import compute_latency_ms

    lat = []
    for b in specs:
        comp, _ = compute_latency_ms(full_cost, b)
        send = full_cost.image_bytes * 8.0 / (min(uplink_mbps, b.link.mbps) * 1000.0)
        lat.append(send + 2 * b.link.latency_ms + b.rpc_ms + comp + b.link.transfer_ms(full_cost.feature_bytes))
    inv = np.array([1.0 / v for v in lat])
    return (inv / inv.sum()).tolist(), lat


def finetune_submodel(
    sub: Any, teacher_logits: np.ndarray, images_u8: np.ndarray, labels: np.ndarray, classes: Sequence[int],
    aux: bool, epochs: int, batch: int, lr: float, temperature: float, seed: int,
) -> list[float]:
    """Train the pruned sub-model on ALL training images with targets [group classes..., other].

    Loss per image: class-balanced cross-entropy on the k+1 group outputs + T^2 * KL(teacher collapsed to the
    k+1 outputs || student) at temperature T; with aux, plus the same pair (CE + KD) on the C auxiliary outputs.
    AdamW, linear warm-up (10 % of steps) then cosine decay, mini-batches; images x = pixel / 255 with a random shift of up to 1 pixel.
    Returns the mean loss per epoch.
    """
    import torch
    from torch.nn import functional as F

    classes = list(classes)
    k = len(classes)
    c_all = teacher_logits.shape[1]
    local = np.full(len(labels), k, dtype=np.int64)
    for i, c in enumerate(classes):
        local[labels == c] = i
    counts = np.bincount(local, minlength=k + 1).astype(np.float64)
    weight = torch.tensor(len(local) / ((k + 1) * np.maximum(counts, 1.0)), dtype=torch.float32)
    pt = _softmax(teacher_logits, temperature)
    others = [c for c in range(c_all) if c not in classes]
    collapsed = np.concatenate([pt[:, classes], pt[:, others].sum(axis=1, keepdims=True)], axis=1)
    x_all = torch.from_numpy(np.ascontiguousarray(images_u8)).float() / 255.0
    y_loc = torch.from_numpy(local)
    y_all = torch.from_numpy(labels.astype(np.int64))
    t_col = torch.from_numpy(collapsed).float()
    t_full = torch.from_numpy(pt).float()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(sub.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * ((len(local) + batch - 1) // batch)
    warm = max(1, steps // 10)

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t2 = temperature * temperature
    history = []
    sub.train()
    for _ in range(epochs):
        perm = torch.randperm(len(local), generator=gen)
        total = 0.0
        for s in range(0, len(local), batch):
            idx = perm[s : s + batch]
            x = x_all[idx]
            dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
            if dy or dx:
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            out = sub(x)
            own = out[:, : k + 1]
            loss = F.cross_entropy(own, y_loc[idx], weight=weight)
            loss = loss + t2 * F.kl_div(F.log_softmax(own / temperature, 1), t_col[idx], reduction="batchmean")
            if aux:
                ax = out[:, k + 1 :]
                loss = loss + F.cross_entropy(ax, y_all[idx])
                loss = loss + t2 * F.kl_div(F.log_softmax(ax / temperature, 1), t_full[idx], reduction="batchmean")
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(local))
    sub.eval()
    return history


def train_fusion(
    feats: Sequence[np.ndarray], labels: np.ndarray, num_classes: int, hidden: int, epochs: int, drop: float,
    seed: int, lr: float = 3e-3,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Train the fusion MLP (sum F_i -> hidden -> C, ReLU) on per-board features with whole-board dropout.

    Each training sample drops every board independently with probability `drop` (at least one board kept):
    the board's whole feature segment, presence bit included, is set to 0, exactly as `fusion.zero_fill` does
    for a board that did not answer. Inputs are standardised with the training mean / std of the full (no
    dropout) features and the standardisation is folded into the first layer, so the stored MLP takes raw
    zero-filled features (the MLPFusion file format). Full-batch AdamW. Returns (weights, biases), w as (out, in).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: one thread avoids oversubscription on shared hosts
    try:
        return _train_fusion(feats, labels, num_classes, hidden, epochs, drop, seed, lr)
    finally:
        torch.set_num_threads(threads)


def _train_fusion(
    feats: Sequence[np.ndarray], labels: np.ndarray, num_classes: int, hidden: int, epochs: int, drop: float,
    seed: int, lr: float,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    import torch
    from torch import nn
    from torch.nn import functional as F

    sizes = [f.shape[1] for f in feats]
    x = np.concatenate(feats, axis=1).astype(np.float64)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 1e-6, sd, 1.0)
    xt = torch.from_numpy(x).float()
    y = torch.from_numpy(labels.astype(np.int64))
    mu_t, sd_t = torch.from_numpy(mu).float(), torch.from_numpy(sd).float()
    seg = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    n_b = len(sizes)
    for _ in range(epochs):
        keep = torch.rand(len(y), n_b, generator=gen) >= drop
        none = ~keep.any(dim=1)
        if none.any():
            keep[none, torch.randint(0, n_b, (int(none.sum()),), generator=gen)] = True
        # a third of the batch always sees every board, so the all-present case is learned exactly
        keep[: len(y) // 3] = True
        xin = xt * keep[:, seg].float()
        logits = net((xin - mu_t) / sd_t)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    w0 = net[0].weight.detach().double().numpy()
    b0 = net[0].bias.detach().double().numpy()
    w0f = w0 / sd[None, :]
    b0f = b0 - w0f @ mu
    weights = [w0f.astype(np.float32), net[2].weight.detach().numpy().astype(np.float32)]
    biases = [b0f.astype(np.float32), net[2].bias.detach().numpy().astype(np.float32)]
    return weights, biases


def fused_accuracy(fusion: Any, feats: Sequence[np.ndarray], labels: np.ndarray, missing: Sequence[int] = ()) -> float:
    """Top-1 accuracy of `fusion.fuse` with the boards in `missing` absent (None)."""
    arg = [None if i in missing else f for i, f in enumerate(feats)]
    return float((fusion.fuse(arg).argmax(axis=1) == labels).mean())


def _quant_head(qmodel: Any, images: np.ndarray, batch: int = 128) -> np.ndarray:
    return np.concatenate([qmodel.forward(images[s : s + batch], 0)["float"] for s in range(0, len(images), batch)])


def run_split(
    model: Any, data: Any, opts: SplitOptions, out_dir: str | Any | None, progress: Any = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Split the trained float classifier `model` over `opts.boards`; write everything to `out_dir` (if given).

    `data` has x_train, y_train, x_test, y_test (uint8 images, int labels). Returns the cluster plan dict (also
    written as plan.json); see the keys in the returned dict and docs in `vitaccel split --help`.
    """
    import torch

    threads = torch.get_num_threads()
    # The models are tiny: one intra-op thread is several times faster than two on a shared, loaded host.
    torch.set_num_threads(max(1, opts.threads))
    try:
        return _run_split(model, data, opts, out_dir, progress, class_names)
    finally:
        torch.set_num_threads(threads)


def _run_split(model: Any, data: Any, opts: SplitOptions, out_dir: Any, progress: Any,
               class_names: Sequence[str] | None) -> dict[str, Any]:
    import math as _math
    import time
    from pathlib import Path

    import torch

    from vitaccel.distributed.fusion import MLPFusion, save_fusion_mlp
    from vitaccel.distributed.placement import board_spec, place, submodel_cost
    from vitaccel.distributed.prune import apply_plan, choose_shape, make_plan, measure_importance, shape_macs
    from vitaccel.distributed.submodel import feature_size, save_submodel, submodel_features
    from vitaccel.quant import quantize

    t_start = time.time()
    cfg = model.cfg
    if cfg.tasks[0].kind != "classify":
        raise ConfigError(f"model {cfg.name!r}: task 0 is {cfg.tasks[0].kind!r}; vitaccel split needs a classifier")
    c_all = cfg.tasks[0].out_channels
    n = len(opts.boards)
    if n < 1:
        raise ConfigError("--boards: give at least one board")
    if len(set(opts.boards)) != n:
        raise ConfigError(f"--boards {','.join(opts.boards)}: board names must be unique (one sub-model each)")
    x_tr, y_tr = np.asarray(data.x_train), np.asarray(data.y_train)
    x_te, y_te = np.asarray(data.x_test), np.asarray(data.y_test)
    torch.manual_seed(opts.seed)

    links = opts.links or {}
    specs = [board_spec(b, links.get(b)) for b in opts.boards]
    granule = opts.granule or max(s.array_cols for s in specs)
    full_cost = submodel_cost(cfg, cfg.name)
    shares, full_lat = board_shares(specs, full_cost, opts.uplink_mbps)

    # 1. grouping from the full model's soft confusion on the training set
    _log(progress, f"[split] full model {cfg.name}: soft confusion on {len(y_tr)} training images")
    t_logits_tr = float_logits(model, x_tr)
    conf = soft_confusion(_softmax(t_logits_tr, opts.kd_temperature), y_tr, c_all)
    loads = class_loads(conf)
    bounds = group_bounds(shares, loads, opts.slack)
    groups = group_classes(conf, bounds, loads)
    aff = affinity(conf)
    _log(progress, f"[split] groups (board order {','.join(opts.boards)}): {groups}")

    # 2. per group: importance, tile-aligned shape, prune, fine-tune, quantize
    full_macs = shape_macs(cfg, _full_shape(cfg), c_all)
    total_load = float(loads.sum())
    subs, qsubs, infos = [], [], []
    calib_idx = np.random.default_rng(opts.seed).permutation(len(y_tr))[: opts.calib_images]
    for g, classes in enumerate(groups):
        t0 = time.time()
        k = len(classes)
        head_out = k + 1 + (c_all if opts.aux else 0)
        load_share = float(loads[classes].sum()) / total_load
        budget = min(1.0, opts.ratio * n * load_share) * full_macs
        sel = np.isin(y_tr, classes)
        x_g = torch.from_numpy(np.ascontiguousarray(x_tr[sel])).float() / 255.0
        imp = measure_importance(model, x_g, y_tr[sel], classes)
        shape, met = choose_shape(cfg, imp, budget, granule, head_out)
        plan = make_plan(cfg, imp, shape)
        others = [c for c in range(c_all) if c not in classes]
        head_rows = [[c] for c in classes] + [others] + ([[c] for c in range(c_all)] if opts.aux else [])
        name = f"{cfg.name}-split{n}-g{g}"
        sub = apply_plan(model, plan, head_rows, name=name, task_name=f"group{g}")
        hist = finetune_submodel(sub, t_logits_tr, x_tr, y_tr, classes, opts.aux, opts.epochs, opts.batch, opts.lr,
                                 opts.kd_temperature, opts.seed + g)
        q = quantize(sub, sub.cfg, x_tr[calib_idx])
        subs.append(sub)
        qsubs.append(q)
        infos.append({
            "group": g, "name": name, "classes": list(classes),
            "class_names": [class_names[c] for c in classes] if class_names else None,
            "load": float(loads[classes].sum()), "bounds": [bounds.lo[g], bounds.hi[g]],
            "intended_board": opts.boards[g], "mac_budget": int(budget), "budget_met": bool(met),
            "shape": shape.to_dict(), "macs": shape_macs(cfg, shape, head_out), "head_outputs": head_out,
            "feature_size": feature_size(k, c_all, opts.aux), "finetune_loss": [hist[0], hist[-1]],
            "seconds": round(time.time() - t0, 1),
        })
        _log(progress, f"[split] group {g} {classes}: shape {shape.to_dict()} "
                       f"({'within' if met else 'OVER'} budget {budget / 1e6:.2f} MMAC), fine-tune loss "
                       f"{hist[0]:.3f} -> {hist[-1]:.3f}, {time.time() - t0:.1f} s")

    # 3. features of the quantized sub-models; fusion with whole-board dropout
    _log(progress, "[split] running the int8 sub-models (golden integer model) on train and test images")
    fus_idx = np.arange(len(y_tr))
    if 0 < opts.fusion_train_images < len(y_tr):
        fus_idx = np.sort(np.random.default_rng(opts.seed + 1).permutation(len(y_tr))[: opts.fusion_train_images])
    f_tr = [submodel_features(_quant_head(q, x_tr[fus_idx])) for q in qsubs]
    f_te = [submodel_features(_quant_head(q, x_te)) for q in qsubs]
    sizes = [f.shape[1] for f in f_tr]
    weights, biases = train_fusion(f_tr, y_tr[fus_idx], c_all, opts.fusion_hidden, opts.fusion_epochs, opts.drop,
                                   opts.seed)
    fusion = MLPFusion(sizes, weights, biases, class_names)

    # 4. accuracies: full model (float and int8), split, one board down
    q_full = quantize(model, cfg, x_tr[calib_idx])
    acc_full_float = float((float_logits(model, x_te).argmax(1) == y_te).mean())
    acc_full_int8 = float((_quant_head(q_full, x_te).argmax(1) == y_te).mean())
    acc_split = fused_accuracy(fusion, f_te, y_te)
    down = [fused_accuracy(fusion, f_te, y_te, missing=[b]) for b in range(n)] if n > 1 else []
    for g, info in enumerate(infos):
        own = f_te[g][:, : len(info["classes"]) + 1].argmax(1)
        tgt = np.full(len(y_te), len(info["classes"]))
        for i, c in enumerate(info["classes"]):
            tgt[y_te == c] = i
        info["test_acc_group_vs_other"] = float((own == tgt).mean())

    # 5. sizes and placement
    costs = [submodel_cost(q.config, info["name"], info["feature_size"]) for q, info in zip(qsubs, infos)]
    full_bytes = submodel_cost(cfg, cfg.name).weight_bytes
    placement = place(costs, specs, uplink_mbps=opts.uplink_mbps)
    for info, cst in zip(infos, costs):
        info["int8_bytes"] = cst.weight_bytes
        info["size_reduction"] = full_bytes / cst.weight_bytes
        info["board"] = specs[placement.assignment[info["group"]]].name
    for row, info in zip(placement.rows, infos):
        info["predicted_latency_ms"] = row["finish_ms"] + placement.fusion_ms
        info["predicted_compute_ms"] = row["compute_ms"]
    max_bytes = max(c.weight_bytes for c in costs)
    plan_dict: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "model": cfg.name,
        "num_classes": c_all,
        "class_names": list(class_names) if class_names else None,
        "boards": list(opts.boards),
        "options": {k: v for k, v in vars(opts).items() if k not in ("links", "boards")},
        "granule": granule,
        "granule_source": "stated" if opts.granule else "max array_cols of the boards (tile width)",
        "board_shares": dict(zip(opts.boards, shares)),
        "full_model_latency_ms": dict(zip(opts.boards, full_lat)),
        "confusion_affinity_kept": grouping_score(groups, aff),
        "confusion_affinity_total": float(aff.sum() / 2.0),
        "groups": infos,
        "full_model": {"int8_bytes": full_bytes, "macs": full_macs},
        "accuracy": {
            "test_images": len(y_te),
            "full_float": acc_full_float,
            "full_int8": acc_full_int8,
            "split_int8": acc_split,
            "one_board_down": dict(zip(opts.boards, down)),
            "one_board_down_mean": float(np.mean(down)) if down else None,
            "one_board_down_worst": float(np.min(down)) if down else None,
        },
        "size": {
            "max_submodel_bytes": max_bytes,
            "total_submodel_bytes": int(sum(c.weight_bytes for c in costs)),
            "size_reduction_max_submodel": full_bytes / max_bytes,
            "counting": "int8 weights + int32 biases + int8 pos/cls per sub-model (all layers, head included)",
        },
        "placement": placement.to_dict(),
        "placement_explanation": placement.explain(),
        "fusion": {"file": "fusion.npz", "feature_sizes": sizes, "hidden": opts.fusion_hidden, "drop": opts.drop},
        "seconds": round(time.time() - t_start, 1),
    }
    if not _math.isfinite(acc_split):  # pragma: no cover - defensive
        raise ConfigError("split: accuracy is not finite")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for q, info in zip(qsubs, infos):
            save_submodel(out / f"{info['name']}.npz", info["name"], q, info["classes"], c_all, opts.aux)
            info["file"] = f"{info['name']}.npz"
        save_fusion_mlp(out / "fusion.npz", sizes, weights, biases, class_names)
        _write_cluster_yaml(out / "cluster.yaml", infos, placement, specs, sizes)
        import json

        (out / "plan.json").write_text(json.dumps(plan_dict, indent=2, default=_json_default) + "\n")
    plan_dict["_objects"] = {"fusion": fusion, "test_features": f_te, "qsubs": qsubs, "placement": placement}
    return plan_dict


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _full_shape(cfg: Any) -> Any:
    from vitaccel.distributed.prune import PruneShape

    return PruneShape(cfg.dim, cfg.heads, cfg.head_dim, cfg.mlp_hidden)


def _write_cluster_yaml(path: Any, infos: Sequence[dict[str, Any]], placement: Any, specs: Sequence[Any],
                        sizes: Sequence[int]) -> None:
    """cluster.yaml for `vitaccel infer --cluster` (vitaccel.distributed.cluster format); loopback addresses
    127.0.0.1:8001.. are placeholders to replace with each board's address."""
    import yaml

    boards = []
    for g, info in enumerate(infos):
        b = placement.assignment[g]
        boards.append({
            "name": specs[b].name,
            "address": f"127.0.0.1:{8001 + g}",
            "model": info["name"],
            "feature_size": int(sizes[g]),
        })
    doc = {"version": 1, "deadline_ms": 200, "unhealthy_after": 3, "probe_interval_ms": 500,
           "fusion_model": "fusion.npz", "boards": boards}
    text = ("# Written by `vitaccel split`. Serve each sub-model on its board:\n"
            + "".join(f"#   {b['name']}: vitaccel serve --model-file {infos[g]['file']} --port {8001 + g}\n"
                      for g, b in enumerate(boards))
            + "# then replace the loopback addresses with the boards' addresses.\n")
    path.write_text(text + yaml.safe_dump(doc, sort_keys=False))
