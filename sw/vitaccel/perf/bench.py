"""`vitaccel bench perf`: how fast the software reference devices run, and what the performance model predicts.

Entries ({"results": [...]}, one per measurement):
- kind "golden": QuantizedModel.forward wall time per image, one task, one BLAS thread (issue target for
  m3vit-tiny: <= 2 s on one core);
- kind "isa_sim": IsaSimulator wall time per image, with the modelled cycle count and cycles simulated per second;
- kind "estimate": the performance model's latency and roofline efficiency per (board, model) (routing balanced).
Parameters are synthetic (random integer weights, seeded): timing does not depend on their values, and no torch
or training is needed. Wall times are the median of --repeat runs on this machine; they are measurements, not
targets, and vary with machine load.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from typing import Any

import click
import numpy as np

from vitaccel.boards import list_boards


def _median_seconds(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_software(model: str, board: str, repeat: int) -> list[dict[str, Any]]:
    """Golden-model and ISA-simulator wall time per image for every task of `model` on `board`'s config."""
    from vitaccel.boards import derive_accelerator_config
    from vitaccel.compiler import compile_model
    from vitaccel.compiler.synthetic import synthetic_qmodel
    from vitaccel.sim import IsaSimulator

    qm = synthetic_qmodel(model, seed=0)
    cfg = qm.config
    acc = derive_accelerator_config(board)
    img = np.random.default_rng(0).integers(0, 256, size=(1, cfg.in_chans, *cfg.img_size), dtype=np.uint8)
    rows: list[dict[str, Any]] = []
    for ti, spec in enumerate(cfg.tasks):
        golden_s = _median_seconds(lambda ti=ti: qm.forward(img, ti), repeat)
        rows.append({"kind": "golden", "model": cfg.name, "task": spec.name, "board": None,
                     "seconds_per_image": round(golden_s, 4), "threads": 1})
        cp = compile_model(qm, acc, ti)
        sim = IsaSimulator(acc)
        res = sim.run(cp.program, cp.image, img[0])
        sim_s = _median_seconds(lambda cp=cp, sim=sim: sim.run(cp.program, cp.image, img[0]), repeat)
        rows.append({"kind": "isa_sim", "model": cfg.name, "task": spec.name, "board": acc.board,
                     "seconds_per_image": round(sim_s, 4), "cycles": res.cycles,
                     "simulated_cycles_per_second": round(res.cycles / sim_s) if res.cycles else None})
    return rows


def bench_estimates(models: tuple[str, ...], boards: list[str]) -> list[dict[str, Any]]:
    """Performance-model latency per (board, model), task 0, balanced routing."""
    from vitaccel.perf.model import estimate_or_error

    rows = []
    for model in models:
        for board in boards:
            r = estimate_or_error(model, board)
            row = {"kind": "estimate", "model": model, "board": board, "fits": r["fits"]}
            if r["fits"]:
                row.update({k: r[k] for k in ("clock_mhz", "array", "cycles", "latency_ms", "mac_utilization",
                                              "roofline_efficiency", "compute_floor_ms", "memory_floor_ms")})
            else:
                row["error"] = r["error"]
            rows.append(row)
    return rows


@click.command("perf")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]} on stdout.')
@click.option("--model", "models", multiple=True, default=("m3vit-tiny", "vit-tiny"), show_default=True)
@click.option("--board", "board", default="zcu102", show_default=True, help="Board for the ISA simulator runs.")
@click.option("--repeat", default=3, show_default=True, help="Timed repetitions (median reported).")
def perf_cmd(as_json: bool, models: tuple[str, ...], board: str, repeat: int) -> None:
    """Golden model and ISA simulator speed per image, and performance-model latency for every board."""
    try:  # one BLAS thread ("one core", as the target states); threadpoolctl comes with scikit-learn
        from threadpoolctl import threadpool_limits

        one_thread: Any = threadpool_limits(1)
    except ImportError:
        one_thread = contextlib.nullcontext()
    results: list[dict[str, Any]] = []
    with one_thread:
        for model in models:
            click.echo(f"[bench perf] {model}: golden model and ISA simulator ...", err=True)
            results.extend(bench_software(model, board, repeat))
    click.echo("[bench perf] performance model on every board ...", err=True)
    results.extend(bench_estimates(models, list_boards()))
    if as_json:
        click.echo(json.dumps({"results": results}, indent=2))
        return
    for r in results:
        if r["kind"] == "estimate":
            tail = (f"{r['latency_ms']:.3f} ms, roofline eff {r['roofline_efficiency']:.3f}" if r["fits"]
                    else f"does not fit: {r['error']}")
            click.echo(f"estimate  {r['model']:11s} {r['board']:10s} {tail}")
        else:
            extra = f", {r['simulated_cycles_per_second']:,} cycles/s" if r.get("simulated_cycles_per_second") else ""
            click.echo(f"{r['kind']:9s} {r['model']:11s} {r['task']:8s} {r['seconds_per_image']:.3f} s/image{extra}")
