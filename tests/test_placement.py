"""Placement: exhaustive / heuristic search vs an independent brute force that also tries every send order."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vitaccel.distributed.placement import (
    BoardSpec,
    Link,
    SubModelCost,
    board_spec,
    compute_latency_ms,
    parse_links,
    place,
    submodel_cost,
)
from vitaccel.errors import ConfigError, FitError


def random_board(rng: np.random.Generator, i: int) -> BoardSpec:
    return BoardSpec(
        name=f"b{i}", family="zynquplus", array_rows=int(rng.choice([1, 4, 16, 32])), array_cols=64,
        clock_mhz=float(rng.choice([125, 250, 300])), stream_gbps=float(rng.uniform(1, 20)),
        act_buffer_bytes=int(rng.choice([4096, 1 << 20])), ddr_bytes=1 << 30,
        link=Link(float(rng.choice([10, 100, 1000])), float(rng.uniform(0.01, 0.5))), rpc_ms=float(rng.uniform(0.5, 4)),
    )


def random_cost(rng: np.random.Generator, i: int) -> SubModelCost:
    return SubModelCost(
        name=f"s{i}", macs=int(rng.uniform(1e5, 5e8)), weight_bytes=int(rng.uniform(1e4, 5e6)),
        act_peak_bytes=int(rng.choice([2048, 8192])), image_bytes=int(rng.choice([1024, 150_000])),
        feature_bytes=int(rng.choice([40, 1500])),
    )


def brute_force(costs, boards, uplink, fusion):
    """Every assignment and every send order, simulated step by step; infeasible pairs excluded."""
    best = math.inf
    n = len(boards)
    for assign in itertools.permutations(range(n)):
        ok = all(
            c.act_peak_bytes <= boards[b].act_buffer_bytes and c.weight_bytes + c.act_peak_bytes <= boards[b].ddr_bytes / 2
            for c, b in zip(costs, assign)
        )
        if not ok:
            continue
        for order in itertools.permutations(range(n)):  # order of sub-models by send time
            clock, finish = 0.0, 0.0
            for g in order:
                bd = boards[assign[g]]
                clock += costs[g].image_bytes * 8 / (min(uplink, bd.link.mbps) * 1000)
                comp, _ = compute_latency_ms(costs[g], bd, use_perf_model=False)
                done = clock + bd.link.latency_ms + bd.rpc_ms + comp + costs[g].feature_bytes * 8 / (bd.link.mbps * 1000) + bd.link.latency_ms
                finish = max(finish, done)
            best = min(best, finish + fusion)
    return best


@pytest.mark.parametrize("n", [2, 3, 4])
def test_exhaustive_matches_brute_force(n):
    rng = np.random.default_rng(100 + n)
    for _ in range(5):
        boards = [random_board(rng, i) for i in range(n)]
        costs = [random_cost(rng, i) for i in range(n)]
        image = costs[0].image_bytes
        costs = [SubModelCost(c.name, c.macs, c.weight_bytes, c.act_peak_bytes, image, c.feature_bytes) for c in costs]
        expected = brute_force(costs, boards, 1000.0, 0.05)
        if math.isinf(expected):
            with pytest.raises(FitError):
                place(costs, boards, uplink_mbps=1000.0, use_perf_model=False)
            continue
        p = place(costs, boards, uplink_mbps=1000.0, fusion_ms=0.05, use_perf_model=False)
        assert p.e2e_ms == pytest.approx(expected, rel=1e-9)
        assert sorted(p.assignment) == list(range(n))


def test_heuristic_close_to_brute_force():
    rng = np.random.default_rng(5)
    ratios = []
    for _ in range(8):
        boards = [random_board(rng, i) for i in range(4)]
        boards = [BoardSpec(**{**b.__dict__, "act_buffer_bytes": 1 << 20}) for b in boards]
        costs = [random_cost(rng, i) for i in range(4)]
        costs = [SubModelCost(c.name, c.macs, c.weight_bytes, c.act_peak_bytes, 150_000, c.feature_bytes) for c in costs]
        expected = brute_force(costs, boards, 1000.0, 0.0)
        p = place(costs, boards, uplink_mbps=1000.0, fusion_ms=0.0, use_perf_model=False, exhaustive_max=0)
        assert p.e2e_ms >= expected - 1e-9
        ratios.append(p.e2e_ms / expected)
    assert max(ratios) <= 1.25
    assert np.mean(ratios) <= 1.05


def test_single_board_latency_formula():
    b = BoardSpec("x", "zynq", array_rows=2, array_cols=4, clock_mhz=100.0, stream_gbps=1.0, act_buffer_bytes=1 << 20,
                  ddr_bytes=1 << 30, link=Link(100.0, 0.3), rpc_ms=1.5)
    c = SubModelCost("s", macs=800, weight_bytes=0, act_peak_bytes=10, image_bytes=5000, feature_bytes=60)
    p = place([c], [b], uplink_mbps=50.0, fusion_ms=0.2, use_perf_model=False)
    send = 5000 * 8 / (50 * 1000)  # the slower of uplink (50) and link (100)
    compute = 800 / 8 / (100e6) * 1e3 + 0.05  # no cfg: MACs / (R*C) cycles at 100 MHz + launch
    back = 60 * 8 / (100 * 1000)
    assert p.e2e_ms == pytest.approx(send + 0.3 + 1.5 + compute + back + 0.3 + 0.2)


def test_memory_limits_respected_and_reported():
    big = BoardSpec("big", "zynquplus", 32, 64, 300.0, 19.2, act_buffer_bytes=1 << 20, ddr_bytes=1 << 32)
    small = BoardSpec("small", "zynq", 1, 64, 125.0, 2.0, act_buffer_bytes=4096, ddr_bytes=1 << 29)
    needs_big = SubModelCost("wide", 10**7, 10**5, act_peak_bytes=100_000, image_bytes=1024, feature_bytes=40)
    tiny = SubModelCost("tiny", 10**4, 10**3, act_peak_bytes=1000, image_bytes=1024, feature_bytes=40)
    # the tiny sub-model would be faster on the big board, but the wide one only fits there
    p = place([tiny, needs_big], [big, small], use_perf_model=False)
    assert p.assignment == [1, 0]
    with pytest.raises(FitError, match="wide"):
        place([needs_big, needs_big], [small, small], use_perf_model=False)


def test_link_speed_changes_placement():
    fast = BoardSpec("fast", "zynquplus", 32, 64, 300.0, 19.2, 1 << 20, 1 << 32, link=Link(1000.0, 0.05), rpc_ms=1.0)
    slow_link = BoardSpec("slowlink", "zynquplus", 32, 64, 300.0, 19.2, 1 << 20, 1 << 32, link=Link(1.0, 0.05), rpc_ms=1.0)
    heavy = SubModelCost("heavy", 10**9, 10**6, 1000, image_bytes=1024, feature_bytes=4000)
    light = SubModelCost("light", 10**9, 10**6, 1000, image_bytes=1024, feature_bytes=8)
    p = place([heavy, light], [fast, slow_link], use_perf_model=False)
    assert p.assignment == [0, 1]  # the big feature vector goes over the fast link
    assert "features back" in p.explain()
    d = p.to_dict()
    assert d["assignment"][0]["board"] == "fast"
    assert d["per_submodel"][0]["return_ms"] == pytest.approx(4000 * 8 / 1000 / 1000)


def test_real_boards_and_parse_links():
    from vitaccel.models import get_config

    links = parse_links("1000@0.05,pynq-z2=100@0.2", ["zcu102", "pynq-z2"])
    assert links["pynq-z2"] == Link(100.0, 0.2) and links["zcu102"] == Link(1000.0, 0.05)
    with pytest.raises(ConfigError):
        parse_links("kv260=fast", ["kv260"])
    specs = [board_spec(b, links[b]) for b in ("zcu102", "pynq-z2")]
    cost = submodel_cost(get_config("vit-digits"))
    ms_zcu, _ = compute_latency_ms(cost, specs[0], use_perf_model=False)
    ms_pynq, _ = compute_latency_ms(cost, specs[1], use_perf_model=False)
    assert ms_pynq > ms_zcu
    p = place([cost, cost], specs)
    assert p.e2e_ms > max(ms_zcu, ms_pynq)  # link and rpc time are included
