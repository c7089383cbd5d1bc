"""Class grouping: capacities respected, confusion used (checked against constructed matrices and brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vitaccel.distributed.split import (
    GroupBounds,
    affinity,
    class_loads,
    group_bounds,
    group_classes,
    soft_confusion,
)
from vitaccel.errors import FitError


def block_confusion(blocks: list[list[int]], c: int, inside: float = 0.1, outside: float = 0.005, seed: int = 0):
    """A confusion matrix whose classes are confused mostly within `blocks` (plus small random noise)."""
    rng = np.random.default_rng(seed)
    m = np.full((c, c), outside) + rng.uniform(0, outside / 2, (c, c))
    for b in blocks:
        for i in b:
            for j in b:
                m[i, j] = inside + rng.uniform(0, inside / 10)
    np.fill_diagonal(m, 1.0)
    return m


def brute_force_groups(conf: np.ndarray, lo, hi, loads):
    """Independent optimum: every labeling, objective = confusion mass kept inside groups (row-normalised)."""
    c = conf.shape[0]
    p = conf / conf.sum(axis=1, keepdims=True)
    n = len(hi)
    best, best_lab = -1.0, None
    for lab in itertools.product(range(n), repeat=c):
        ok = True
        for g in range(n):
            s = sum(loads[k] for k in range(c) if lab[k] == g)
            if not any(x == g for x in lab) or s < lo[g] - 1e-9 or s > hi[g] + 1e-9:
                ok = False
                break
        if not ok:
            continue
        kept = sum(p[i, j] for i in range(c) for j in range(c) if i != j and lab[i] == lab[j])
        if kept > best + 1e-12:
            best, best_lab = kept, lab
    return best, best_lab


def kept_mass(conf: np.ndarray, groups) -> float:
    p = conf / conf.sum(axis=1, keepdims=True)
    return sum(p[i, j] for g in groups for i in g for j in g if i != j)


def test_blocks_recovered_equal_capacity():
    blocks = [[0, 4, 7], [1, 2, 8], [3, 5, 6]]
    conf = block_confusion(blocks, 9)
    groups = group_classes(conf, GroupBounds((3, 3, 3), (3, 3, 3)))
    assert {frozenset(g) for g in groups} == {frozenset(b) for b in blocks}


def test_capacities_sized_groups_follow_board_order():
    # blocks of 5, 3 and 1 classes; group 0 (the big board) may hold 4..5, group 1 2..3, group 2 exactly 1
    blocks = [[0, 2, 4, 6, 8], [1, 3, 5], [7]]
    conf = block_confusion(blocks, 9, seed=3)
    bounds = GroupBounds((4, 2, 1), (5, 3, 1))
    groups = group_classes(conf, bounds)
    assert [sorted(g) for g in groups] == [sorted(b) for b in blocks]
    for g, members in enumerate(groups):
        assert bounds.lo[g] <= len(members) <= bounds.hi[g]


def test_heuristic_and_exact_match_brute_force_and_respect_bounds():
    rng = np.random.default_rng(7)
    for trial in range(6):
        c, n = 7, 3
        conf = rng.uniform(0, 1, (c, c)) ** 3 + np.eye(c) * 5
        loads = rng.uniform(0.5, 1.5, c)
        shares = rng.uniform(0.5, 2.0, n)
        bounds = group_bounds(shares, loads, slack=0.35)
        best, _ = brute_force_groups(conf, bounds.lo, bounds.hi, loads)
        if best < 0:
            with pytest.raises(FitError):
                group_classes(conf, bounds, loads)
            continue
        exact = group_classes(conf, bounds, loads)
        heur = group_classes(conf, bounds, loads, exhaustive_limit=0)
        for groups in (exact, heur):
            assert sorted(c_ for g in groups for c_ in g) == list(range(c))
            for g, members in enumerate(groups):
                assert members, f"trial {trial}: empty group"
                load = loads[members].sum()
                assert bounds.lo[g] - 1e-9 <= load <= bounds.hi[g] + 1e-9
        assert kept_mass(conf, exact) == pytest.approx(best, rel=1e-9)
        assert kept_mass(conf, heur) >= 0.9 * best


def test_confusion_matters_versus_identity():
    # With the same bounds, a different confusion structure gives a different (matching) partition.
    a = [[0, 1, 2], [3, 4, 5]]
    b = [[0, 3, 5], [1, 2, 4]]
    bounds = GroupBounds((3, 3), (3, 3))
    ga = group_classes(block_confusion(a, 6), bounds)
    gb = group_classes(block_confusion(b, 6), bounds)
    assert {frozenset(g) for g in ga} == {frozenset(x) for x in a}
    assert {frozenset(g) for g in gb} == {frozenset(x) for x in b}


def test_infeasible_capacity_raises():
    conf = np.eye(5) + 0.01
    with pytest.raises(FitError):
        group_classes(conf, [1.0, 1.0])  # 5 unit classes, room for 2
    with pytest.raises(FitError):
        group_classes(np.eye(2) + 0.1, [5, 5, 5])  # more boards than classes


def test_soft_confusion_affinity_and_loads():
    probs = np.array([[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.0, 0.2, 0.8], [0.1, 0.0, 0.9]])
    labels = np.array([0, 0, 1, 2])
    p = soft_confusion(probs, labels, 3)
    np.testing.assert_allclose(p[0], [0.8, 0.2, 0.0])
    np.testing.assert_allclose(p[1], [0.0, 0.2, 0.8])
    a = affinity(p)
    np.testing.assert_allclose(a, a.T)
    assert np.all(np.diag(a) == 0)
    assert a[0, 1] == pytest.approx(0.1)
    w = class_loads(p)
    assert w.mean() == pytest.approx(1.0)
    assert w[1] > w[0] > w[2]  # class 1 is the hardest (recall 0.2), class 2 the easiest (0.9)


def test_group_bounds_follow_shares():
    b = group_bounds([3.0, 1.0], np.ones(8), slack=0.25)
    assert b.lo == pytest.approx((4.5, 1.5))
    assert b.hi == pytest.approx((7.5, 2.5))
