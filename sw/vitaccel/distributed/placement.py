"""Placement of class-wise sub-models onto heterogeneous boards, with link and transfer time in the latency.

Cost model (all times in milliseconds, sizes in bytes, link rates in Mbit/s):

For one request, the coordinator sends the same image to every board over its own uplink, one board after the
other (a shared NIC serialises the sends), then each board receives, runs its sub-model and returns a short
feature vector; the coordinator fuses the answers. With the sends ordered by the permutation `order`:

    send_b   = image_bytes * 8 / (min(uplink_mbps, link_b.mbps) * 1000)                 (serialisation, ms)
    tail_gb  = link_b.latency_ms + rpc_ms_b + compute_ms(g, b)
               + feature_bytes_g * 8 / (link_b.mbps * 1000) + link_b.latency_ms          (one way each)
    e2e      = max over boards b of (sum of send_b' for b' up to and including b in order) + tail_gb
               + fusion_ms

For a fixed assignment the best send order is decreasing tail (Jackson's rule for one machine with delivery
times), so `place` only searches assignments. `compute_ms(g, b)` comes from the performance model
(`vitaccel.perf`) when it is installed, otherwise from the tile model in `compute_latency_ms`.

Feasibility per (sub-model, board): int8 weights + activations within `ddr_fraction` of the board's DDR, and the
largest per-layer activation working set within the accelerator's on-chip activation buffer (activations never
leave the chip in this architecture). Infeasible pairs are never used; if no assignment is feasible, FitError
names the sub-model and what it needs.

Search: exhaustive over assignments for up to 8 boards (8! = 40,320, vectorised), otherwise greedy bottleneck
assignment improved by pairwise swaps. Ties are broken by the sum of tails (total board busy time).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, FitError

__all__ = [
    "DEFAULT_LINK",
    "BoardSpec",
    "Link",
    "Placement",
    "SubModelCost",
    "board_spec",
    "compute_latency_ms",
    "e2e_latency_ms",
    "gemm_list",
    "parse_links",
    "place",
    "submodel_cost",
]

EXHAUSTIVE_MAX_BOARDS = 8


@dataclass(frozen=True)
class Link:
    """A network link between the coordinator and one board: rate in Mbit/s, one-way latency in ms."""

    mbps: float = 1000.0
    latency_ms: float = 0.05

    def transfer_ms(self, nbytes: int) -> float:
        """Serialisation time of `nbytes` on this link, ms (latency not included)."""
        return nbytes * 8.0 / (self.mbps * 1000.0)


DEFAULT_LINK = Link()

# Per-request software overhead of the board's gRPC server (decode, dispatch, encode), ms. Measured 0.40 ms p50 on
# x86 loopback (../shared/research/ed_vit.md); the research note expects 5-10x slower ARM cores, so we assume 5x
# for Cortex-A53 (Zynq UltraScale+) and 10x for Cortex-A9 (Zynq-7000). An assumption, reported as such.
RPC_MS_BY_FAMILY = {"zynquplus": 2.0, "zynq": 4.0}
# Fixed accelerator launch cost (program start, interrupt, cache maintenance), ms. An assumption.
LAUNCH_MS = 0.05


@dataclass(frozen=True)
class BoardSpec:
    """What placement needs to know about one board (from its BoardConfig / AcceleratorConfig)."""

    name: str
    family: str
    array_rows: int
    array_cols: int
    clock_mhz: float
    stream_gbps: float  # weight streaming bandwidth, GB/s
    act_buffer_bytes: int
    ddr_bytes: int
    link: Link = DEFAULT_LINK
    rpc_ms: float = 2.0
    accel: Any = field(default=None, compare=False, repr=False)  # the AcceleratorConfig, for the perf model

    @property
    def peak_gmacs(self) -> float:
        return self.array_rows * self.array_cols * self.clock_mhz / 1000.0


def board_spec(name: str, link: Link | None = None, rpc_ms: float | None = None) -> BoardSpec:
    """BoardSpec for a board name (or YAML path) via vitaccel.boards."""
    from vitaccel.boards import derive_accelerator_config, load_board

    board = load_board(name)
    acc = derive_accelerator_config(board)
    return BoardSpec(
        name=board.name,
        family=board.family,
        array_rows=acc.array_rows,
        array_cols=acc.array_cols,
        clock_mhz=acc.clock_mhz,
        stream_gbps=acc.stream_gbps,
        act_buffer_bytes=acc.act_buffer_bytes,
        ddr_bytes=board.ddr_size_mb * 1024 * 1024,
        link=link or DEFAULT_LINK,
        rpc_ms=RPC_MS_BY_FAMILY.get(board.family, 4.0) if rpc_ms is None else rpc_ms,
        accel=acc,
    )


def parse_links(spec: str | None, boards: Sequence[str]) -> dict[str, Link]:
    """Parse "--links" text: "MBPS[@LAT_MS]" for every board, and/or "board=MBPS[@LAT_MS]" entries, comma-separated.

    Example: "1000@0.05,pynq-z2=100@0.2". Unlisted boards get DEFAULT_LINK.
    """
    links = {b: DEFAULT_LINK for b in boards}
    if not spec:
        return links

    def one(text: str, where: str) -> Link:
        rate, _, lat = text.partition("@")
        try:
            mbps = float(rate)
            latency = float(lat) if lat else DEFAULT_LINK.latency_ms
        except ValueError:
            raise ConfigError(f"--links entry {where!r}: expected MBPS[@LATENCY_MS], e.g. 1000@0.05") from None
        if not (mbps > 0 and latency >= 0 and math.isfinite(mbps) and math.isfinite(latency)):
            raise ConfigError(f"--links entry {where!r}: rate must be > 0 and latency >= 0")
        return Link(mbps, latency)

    for item in filter(None, (s.strip() for s in spec.split(","))):
        if "=" in item:
            name, _, value = item.partition("=")
            if name not in links:
                raise ConfigError(f"--links entry {item!r}: board {name!r} is not one of {', '.join(boards)}")
            links[name] = one(value, item)
        else:
            default = one(item, item)
            links = {b: default for b in boards}
    return links


# ---- sub-model costs ---------------------------------------------------------------------------------------
def gemm_list(cfg: Any) -> list[tuple[str, int, int, int]]:
    """Every matrix product of one classify inference as (name, M, K, N): M rows (tokens), K reduction, N outputs.

    Follows the dense ViT of docs/DEVELOPING.md (MoE configs are not split by this module).
    """
    if getattr(cfg, "moe_blocks", ()):
        raise ConfigError(f"model {cfg.name!r}: class-wise splitting supports dense ViTs only (has MoE blocks)")
    t, d, hd, n = cfg.tokens, cfg.dim, cfg.dim // cfg.heads, cfg.num_patches
    out = [("patch_embed", n, cfg.patch_dim, d)]
    for i in range(cfg.depth):
        out.append((f"blocks.{i}.qkv", t, d, 3 * d))
        for h in range(cfg.heads):
            out.append((f"blocks.{i}.qk.h{h}", t, hd, t))
            out.append((f"blocks.{i}.av.h{h}", t, t, hd))
        out.append((f"blocks.{i}.proj", t, d, d))
        out.append((f"blocks.{i}.fc1", t, d, cfg.mlp_hidden))
        out.append((f"blocks.{i}.fc2", t, cfg.mlp_hidden, d))
    out.append(("head", 1, d, cfg.head_out_features(0)))
    return out


@dataclass(frozen=True)
class SubModelCost:
    """Size and work of one sub-model: MACs per image, int8 weight bytes (+ int32 biases), activation bytes."""

    name: str
    macs: int
    weight_bytes: int
    act_peak_bytes: int  # largest per-layer on-chip working set (input + output of one GEMM, int8), bytes
    image_bytes: int
    feature_bytes: int
    cfg: Any = field(default=None, compare=False, repr=False)


def submodel_cost(cfg: Any, name: str | None = None, feature_values: int | None = None) -> SubModelCost:
    """SubModelCost of a dense classify ViT config. Weights int8, biases int32; features returned as FP32."""
    gemms = gemm_list(cfg)
    macs = sum(m * k * n for _, m, k, n in gemms)
    weights = 0
    for gname, _m, k, n in gemms:
        if ".qk." in gname or ".av." in gname:
            continue
        weights += k * n + 4 * n  # int8 weights + int32 bias per output
    weights += cfg.tokens * cfg.dim + cfg.dim  # pos_embed + cls token (int8)
    act = max(m * k + m * n for _, m, k, n in gemms)
    feats = feature_values if feature_values is not None else cfg.head_out_features(0)
    return SubModelCost(
        name=name or cfg.name,
        macs=macs,
        weight_bytes=weights,
        act_peak_bytes=act,
        image_bytes=cfg.in_chans * cfg.img_size[0] * cfg.img_size[1],
        feature_bytes=4 * feats,
        cfg=cfg,
    )


@functools.lru_cache(maxsize=256)
def _perf_estimate(cfg: Any, board_name: str) -> tuple[str, Any]:
    """("ok", latency_ms) from the project's performance model (the program is compiled for the board exactly as
    `vitaccel compile` would, on an all-zero QuantizedModel of the same shapes), ("fit", message) if the
    compiler rejects the model for that board, ("none", reason) if the performance model is unavailable."""
    try:
        from vitaccel.compiler.synthetic import synthetic_qmodel
        from vitaccel.perf.model import estimate
    except ImportError as exc:
        return "none", f"vitaccel.perf unavailable ({exc})"
    try:
        rep = estimate(cfg.name, board_name, 0, qmodel=synthetic_qmodel(cfg, seed=None))
    except FitError as exc:
        return "fit", str(exc)
    return "ok", float(rep["latency_ms"])


def _perf_model_ms(cfg: Any, board: BoardSpec) -> float | None:
    """Latency from the performance model, None when it is unavailable; FitError if the compiler rejects it."""
    if board.accel is None:
        return None
    kind, value = _perf_estimate(cfg, board.accel.board)
    if kind == "fit":
        raise FitError(value)
    return value if kind == "ok" else None


def compute_latency_ms(cost: SubModelCost, board: BoardSpec, use_perf_model: bool = True) -> tuple[float, str]:
    """Predicted on-board inference time of one image, ms, and the model that produced it ("perf" | "tile").

    Tile model (the fallback): the R x C array is output-stationary with tokens on rows and output features on
    columns; a GEMM (M, K, N) takes ceil(M/R) * ceil(N/C) * K cycles (so padding to the tile shows up as time);
    the weights of each layer stream from DDR once, double-buffered, so a layer takes max(compute, stream) time;
    plus a fixed launch cost LAUNCH_MS.
    """
    if use_perf_model and cost.cfg is not None:
        ms = _perf_model_ms(cost.cfg, board)  # FitError: the compiler cannot map it onto this board
        if ms is not None:
            return ms + LAUNCH_MS, "perf"
    if cost.cfg is None:
        cycles = cost.macs / (board.array_rows * board.array_cols)
        compute_s = cycles / (board.clock_mhz * 1e6)
        stream_s = cost.weight_bytes / (board.stream_gbps * 1e9)
        return (max(compute_s, stream_s)) * 1e3 + LAUNCH_MS, "tile"
    total_s = 0.0
    for gname, m, k, n in gemm_list(cost.cfg):
        cycles = math.ceil(m / board.array_rows) * math.ceil(n / board.array_cols) * k
        compute_s = cycles / (board.clock_mhz * 1e6)
        wbytes = 0 if (".qk." in gname or ".av." in gname) else k * n + 4 * n
        total_s += max(compute_s, wbytes / (board.stream_gbps * 1e9))
    return total_s * 1e3 + LAUNCH_MS, "tile"


# ---- assignment --------------------------------------------------------------------------------------------
@dataclass
class Placement:
    """The chosen assignment and its latency breakdown (ms)."""

    assignment: list[int]  # assignment[g] = board index of sub-model g
    send_order: list[int]  # board indices in the order the coordinator sends the image
    e2e_ms: float
    fusion_ms: float
    boards: list[BoardSpec]
    costs: list[SubModelCost]
    rows: list[dict[str, Any]]  # per sub-model breakdown
    alternatives: list[dict[str, Any]]
    latency_source: str
    method: str
    feasible_pairs: list[list[bool]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "e2e_ms": self.e2e_ms,
            "fusion_ms": self.fusion_ms,
            "method": self.method,
            "latency_source": self.latency_source,
            "send_order": [self.boards[b].name for b in self.send_order],
            "assignment": [
                {"submodel": self.costs[g].name, "board": self.boards[b].name} for g, b in enumerate(self.assignment)
            ],
            "per_submodel": self.rows,
            "alternatives": self.alternatives,
            "links": {b.name: asdict(b.link) for b in self.boards},
            "assumptions": {
                "rpc_ms_per_board": {b.name: b.rpc_ms for b in self.boards},
                "launch_ms": LAUNCH_MS,
                "note": "rpc_ms: gRPC loopback p50 0.40 ms on x86 scaled 5x (A53) / 10x (A9); link rates as given",
            },
        }

    def explain(self) -> str:
        """Human-readable explanation of the placement."""
        lines = [
            f"placement ({self.method}, compute latency from the {self.latency_source} model): "
            f"predicted end-to-end {self.e2e_ms:.3f} ms (incl. fusion {self.fusion_ms:.3f} ms)",
            "image sent in the order " + " -> ".join(self.boards[b].name for b in self.send_order)
            + " (slowest tail first)",
        ]
        crit = max(self.rows, key=lambda r: r["finish_ms"])
        for r in self.rows:
            mark = "  <- critical path" if r is crit else ""
            lines.append(
                f"  {r['submodel']} -> {r['board']}: {r['macs'] / 1e6:.2f} MMAC, {r['weight_bytes'] / 1024:.1f} KiB int8; "
                f"send wait {r['send_start_ms']:.3f} + send {r['send_ms']:.3f} + link {2 * r['link_latency_ms']:.3f} "
                f"+ rpc {r['rpc_ms']:.2f} + compute {r['compute_ms']:.3f} + features back {r['return_ms']:.4f} "
                f"= {r['finish_ms']:.3f} ms{mark}"
            )
        for alt in self.alternatives:
            lines.append(f"  alternative: {alt['description']}: {alt['e2e_ms']:.3f} ms ({alt['why']})")
        return "\n".join(lines)


def _tail_matrix(
    costs: Sequence[SubModelCost], boards: Sequence[BoardSpec], use_perf_model: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, dict[tuple[int, int], str]]:
    """(tail ms, compute ms, feasible, latency source, reasons for infeasible pairs) for every pair."""
    g, b = len(costs), len(boards)
    tail = np.full((g, b), np.inf)
    comp = np.full((g, b), np.inf)
    feas = np.zeros((g, b), dtype=bool)
    sources = set()
    reasons: dict[tuple[int, int], str] = {}
    for i, c in enumerate(costs):
        for j, bd in enumerate(boards):
            try:
                ms, src = compute_latency_ms(c, bd, use_perf_model)
            except FitError as exc:
                reasons[(i, j)] = f"{bd.name}: {exc}"
                continue
            sources.add(src)
            comp[i, j] = ms
            tail[i, j] = 2 * bd.link.latency_ms + bd.rpc_ms + ms + bd.link.transfer_ms(c.feature_bytes)
            feas[i, j] = fits(c, bd)
            if not feas[i, j]:
                reasons[(i, j)] = (f"{bd.name}: needs {c.act_peak_bytes} B of on-chip activations (buffer "
                                   f"{bd.act_buffer_bytes} B) and {c.weight_bytes + c.act_peak_bytes} B of DDR")
    return tail, comp, feas, "+".join(sorted(sources)) or "none", reasons


def fits(cost: SubModelCost, board: BoardSpec, ddr_fraction: float = 0.5) -> bool:
    """True if the sub-model's weights fit the DDR share and its activation working set the on-chip buffer."""
    return (
        cost.weight_bytes + cost.act_peak_bytes <= ddr_fraction * board.ddr_bytes
        and cost.act_peak_bytes <= board.act_buffer_bytes
    )


def e2e_latency_ms(send_ms: Sequence[float], tails: Sequence[float], order: Sequence[int] | None = None) -> float:
    """max_b (prefix sum of sends up to b in `order`) + tail_b; default order: decreasing tail (optimal)."""
    if order is None:
        order = sorted(range(len(tails)), key=lambda i: -tails[i])
    t, worst = 0.0, 0.0
    for b in order:
        t += send_ms[b]
        worst = max(worst, t + tails[b])
    return worst


def _score_all(perms: np.ndarray, tail: np.ndarray, send: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E2E (Jackson order) and sum of tails for every assignment row of perms (P, G) -> board index."""
    g = perms.shape[1]
    t = tail[np.arange(g)[None, :], perms]  # (P, G)
    s = send[perms]  # (P, G)
    order = np.argsort(-t, axis=1, kind="stable")
    ts = np.take_along_axis(t, order, axis=1)
    ss = np.cumsum(np.take_along_axis(s, order, axis=1), axis=1)
    return (ss + ts).max(axis=1), t.sum(axis=1)


def place(
    costs: Sequence[SubModelCost],
    boards: Sequence[BoardSpec],
    uplink_mbps: float = 1000.0,
    fusion_ms: float = 0.05,
    use_perf_model: bool = True,
    exhaustive_max: int = EXHAUSTIVE_MAX_BOARDS,
) -> Placement:
    """Assign sub-models (one per board, len(costs) == len(boards)) minimising predicted end-to-end latency."""
    if len(costs) != len(boards):
        raise ConfigError(f"placement: {len(costs)} sub-models for {len(boards)} boards (need one per board)")
    if not costs:
        raise ConfigError("placement: no sub-models")
    if len({c.image_bytes for c in costs}) != 1:
        raise ConfigError("placement: every sub-model must take the same image (image_bytes differ)")
    tail, comp, feas, source, reasons = _tail_matrix(costs, boards, use_perf_model)
    for i, c in enumerate(costs):
        if not feas[i].any():
            why = "; ".join(reasons.get((i, j), "") for j in range(len(boards)))
            raise FitError(f"sub-model {c.name}: no board fits it ({why}); prune it harder")
    send = np.array([costs[0].image_bytes * 8.0 / (min(uplink_mbps, b.link.mbps) * 1000.0) for b in boards])
    n = len(boards)
    inf = 1e18
    masked = np.where(feas & np.isfinite(tail), tail, inf)
    if n <= exhaustive_max:
        perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
        e2e, tsum = _score_all(perms, masked, send)
        best = np.lexsort((tsum, np.round(e2e, 9)))[0]
        assignment = [int(v) for v in perms[best]]
        method = f"exhaustive over {len(perms)} assignments"
        all_scores = (perms, e2e)
    else:
        assignment = _greedy_swap(masked, send)
        method = "greedy bottleneck assignment + pairwise swaps"
        all_scores = None
    t_assigned = np.array([masked[g, b] for g, b in enumerate(assignment)])
    if (t_assigned >= inf).any():
        raise FitError("placement: no assignment puts every sub-model on a board it fits (see the per-board limits)")
    send_b = np.array([send[b] for b in assignment])
    order_g = sorted(range(n), key=lambda g: -t_assigned[g])
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    clock = 0.0
    for g in order_g:
        b = assignment[g]
        bd = boards[b]
        start = clock
        clock += send_b[g]
        rows[g] = {
            "submodel": costs[g].name,
            "board": bd.name,
            "macs": costs[g].macs,
            "weight_bytes": costs[g].weight_bytes,
            "act_peak_bytes": costs[g].act_peak_bytes,
            "send_start_ms": start,
            "send_ms": float(send_b[g]),
            "link_latency_ms": bd.link.latency_ms,
            "rpc_ms": bd.rpc_ms,
            "compute_ms": float(comp[g, b]),
            "return_ms": bd.link.transfer_ms(costs[g].feature_bytes),
            "finish_ms": float(clock + t_assigned[g]),
        }
    e2e = max(r["finish_ms"] for r in rows) + fusion_ms
    alternatives = _alternatives(assignment, all_scores, masked, send, boards, costs, fusion_ms, e2e)
    return Placement(
        assignment=assignment,
        send_order=[assignment[g] for g in order_g],
        e2e_ms=float(e2e),
        fusion_ms=fusion_ms,
        boards=list(boards),
        costs=list(costs),
        rows=rows,
        alternatives=alternatives,
        latency_source=source,
        method=method,
        feasible_pairs=feas.tolist(),
    )


def _greedy_swap(masked: np.ndarray, send: np.ndarray) -> list[int]:
    """Greedy: place the heaviest sub-model (largest best-case tail) first on its fastest free board, then swap
    pairs while the (E2E, sum of tails) score improves."""
    n = masked.shape[0]
    assignment = [-1] * n
    free = set(range(n))
    for g in np.argsort(-masked.min(axis=1), kind="stable"):
        b = min(free, key=lambda j: (masked[g, j], j))
        assignment[int(g)] = b
        free.discard(b)

    def score(a: list[int]) -> tuple[float, float]:
        t = [masked[g, b] for g, b in enumerate(a)]
        return round(e2e_latency_ms([send[b] for b in a], t), 9), float(sum(t))

    cur = score(assignment)
    improved = True
    while improved:
        improved = False
        for i, j in itertools.combinations(range(n), 2):
            cand = list(assignment)
            cand[i], cand[j] = cand[j], cand[i]
            s = score(cand)
            if s < cur:
                assignment, cur, improved = cand, s, True
    return assignment


def _alternatives(
    assignment: list[int],
    all_scores: tuple[np.ndarray, np.ndarray] | None,
    masked: np.ndarray,
    send: np.ndarray,
    boards: Sequence[BoardSpec],
    costs: Sequence[SubModelCost],
    fusion_ms: float,
    best: float,
) -> list[dict[str, Any]]:
    """Two reference points: the best other assignment, and the naive in-order assignment (sub-model g -> board g)."""
    out = []
    n = len(assignment)

    def e2e_of(a: Sequence[int]) -> float:
        t = [masked[g, b] for g, b in enumerate(a)]
        return e2e_latency_ms([send[b] for b in a], t) + fusion_ms

    naive = list(range(n))
    if naive != assignment:
        v = e2e_of(naive)
        out.append({
            "description": "in-order " + ", ".join(f"{costs[g].name}->{boards[g].name}" for g in range(n)),
            "e2e_ms": v if v < 1e17 else None,
            "why": "does not fit a board" if v >= 1e17 else f"{v - best:+.3f} ms vs chosen",
        })
    if all_scores is not None and n > 1:
        perms, e2e = all_scores
        order = np.argsort(e2e, kind="stable")
        for idx in order:
            cand = [int(v) for v in perms[idx]]
            if cand != assignment:
                v = float(e2e[idx]) + fusion_ms
                out.append({
                    "description": "runner-up " + ", ".join(f"{costs[g].name}->{boards[b].name}" for g, b in enumerate(cand)),
                    "e2e_ms": v if v < 1e17 else None,
                    "why": "does not fit a board" if v >= 1e17 else f"{v - best:+.3f} ms vs chosen",
                })
                break
        feasible = np.flatnonzero(e2e < 1e17)
        if len(feasible) > 1:
            worst = int(feasible[np.argmax(e2e[feasible])])
            cand = [int(v) for v in perms[worst]]
            v = float(e2e[worst]) + fusion_ms
            out.append({
                "description": "worst feasible " + ", ".join(f"{costs[g].name}->{boards[b].name}" for g, b in enumerate(cand)),
                "e2e_ms": v,
                "why": f"{v - best:+.3f} ms vs chosen",
            })
        infeasible = int(len(perms) - len(feasible))
        if infeasible:
            out.append({"description": f"{infeasible} of {len(perms)} assignments", "e2e_ms": None,
                        "why": "excluded: a sub-model does not fit its board (memory / compiler limits)"})
    return out
