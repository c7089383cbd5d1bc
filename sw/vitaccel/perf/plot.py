"""Roofline and per-layer latency breakdown plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_report(rep: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write <out>/roofline.png (per-layer operational intensity vs attained GMAC/s, with the compute and DDR
    roofs) and <out>/layers.png (per-layer cycles, compute vs stall). Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clock = rep["clock_mhz"] * 1e6
    peak = rep["macs_per_cycle"] * clock / 1e9  # GMAC/s
    from vitaccel.boards.accel import derive_accelerator_config

    bw = derive_accelerator_config(rep["board"]).ddr_peak_gbps  # GB/s
    fig, ax = plt.subplots(figsize=(7, 5))
    ridge = peak / bw
    grid = [10 ** (i / 20) for i in range(-26, 81)]
    ax.loglog(grid, [min(peak, bw * x) for x in grid], "k-", lw=1.5, label=f"roof: {peak:.0f} GMAC/s, {bw} GB/s")
    kinds = {"attn": "tab:blue", "mlp": "tab:green", "moe": "tab:red", "head": "tab:purple", "patch": "tab:orange"}
    for lay in rep["layers"]:
        if not lay["macs"] or not lay["cycles"]:
            continue
        oi = lay["macs"] / max(lay["bytes"], 1)
        perf = lay["macs"] / (lay["cycles"] / clock) / 1e9
        color = next((c for k, c in kinds.items() if k in lay["layer"]), "tab:gray")
        ax.scatter([min(oi, 1e4)], [perf], s=14, color=color)
    for k, c in kinds.items():
        ax.scatter([], [], color=c, label=k)
    total_oi = rep["useful_macs"] / max(rep["dram_bytes"], 1)
    total_perf = rep["useful_macs"] / (rep["cycles"] / clock) / 1e9
    ax.scatter([total_oi], [total_perf], marker="*", s=160, color="black", label="whole model")
    ax.axvline(ridge, color="gray", ls=":", lw=1)
    ax.set_xlabel("operational intensity (MAC / DDR byte); layers without DDR traffic at 10^4")
    ax.set_ylabel("attained GMAC/s")
    ax.set_title(f"{rep['model']} / {rep['task']} on {rep['board']}: {rep['latency_ms']:.2f} ms, "
                 f"roofline eff. {rep['roofline_efficiency']:.2f}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    p1 = out / "roofline.png"
    fig.tight_layout()
    fig.savefig(p1, dpi=120)
    plt.close(fig)

    layers = [x for x in rep["layers"] if x["cycles"] > 0]
    fig, ax = plt.subplots(figsize=(max(8, 0.12 * len(layers)), 5))
    names = [x["layer"].replace("blocks.", "b") for x in layers]
    busy = [(x["cycles"] - x["stall_cycles"]) / clock * 1e6 for x in layers]
    stall = [x["stall_cycles"] / clock * 1e6 for x in layers]
    idx = range(len(layers))
    ax.bar(idx, busy, color=["tab:red" if x["bound"] == "memory" else "tab:blue" for x in layers],
           label="busy (red: memory-bound layer)")
    ax.bar(idx, stall, bottom=busy, color="lightgray", label="stall (waiting for weights / routing)")
    ax.set_xticks(list(idx))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_ylabel("time (us)")
    ax.set_title(f"per-layer latency: {rep['model']} / {rep['task']} on {rep['board']} ({rep['latency_ms']:.2f} ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p2 = out / "layers.png"
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    return [p1, p2]


__all__ = ["plot_report"]
