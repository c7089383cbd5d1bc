"""`vitaccel bench split`: the class-wise split of the digits classifier over 2, 3 and 4 boards.

Per board count: `run_split` (grouping, tile-aligned pruning, fine-tuning, int8 quantization, fusion, placement),
then, unless --no-serve, a loopback measurement through the real serving stack: one `vitaccel serve` process
per sub-model on 127.0.0.1 (golden integer device), the `Cluster` fan-out client with the split's fusion MLP,
`measure_fanout_latency` over single-image requests (p50 / p99, ms), and a fault run: every test image sent
through the cluster with one worker killed (SIGKILL) before the run; the fused answers give
`acc_one_board_down_served` and the count answered within the deadline.

Output JSON: {"results": [{"boards", "acc_full", "acc_split", "acc_one_board_down", "max_submodel_bytes",
"size_reduction", "predicted_latency_ms", "measured_p50_ms", "measured_p99_ms", ...extra fields}], ...}.
acc_full is the int8 full model (same numerics as the split); acc_full_float is the float model.
acc_one_board_down is the mean over which board is down (offline, fusion on zero-filled features);
acc_one_board_down_worst the worst board.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

__all__ = ["BOARD_SETS", "run_bench", "split_cmd"]

BOARD_SETS = {
    2: ("zcu102", "kv260"),
    3: ("zcu102", "kv260", "pynq-z2"),
    4: ("zcu102", "kv260", "pynq-z2", "ultra96v2"),
}

# The board server resolves a model file through the served-model loader registry; importing the submodule
# registers the "vitaccel.split_submodel" loader in the worker process before `vitaccel serve` runs.
_SERVE_BOOT = (
    "import sys, vitaccel.distributed.submodel\n"
    "from vitaccel.distributed.cli import serve_cmd\n"
    "serve_cmd.main(args=sys.argv[1:], prog_name='vitaccel serve')\n"
)


def _log(msg: str) -> None:
    click.echo(msg, err=True)


class _Workers:
    """One `vitaccel serve` process per sub-model file on 127.0.0.1 (free ports), stopped on exit.

    Same protocol as vitaccel.distributed.local.LocalWorkers (ready file with the bound port); only processes
    started here are ever signalled, through their own Popen handles.
    """

    def __init__(self, files: list[Path], work: Path, timeout_s: float = 120.0) -> None:
        self.files, self.work, self.timeout_s = files, work, timeout_s
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []

    def __enter__(self) -> _Workers:
        self.work.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        readies = []
        for i, f in enumerate(self.files):
            ready = self.work / f"worker{i}.ready.json"
            ready.unlink(missing_ok=True)
            readies.append(ready)
            log = open(self.work / f"worker{i}.log", "wb")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-c", _SERVE_BOOT, "--model-file", str(f), "--host", "127.0.0.1", "--port", "0",
                 "--ready-file", str(ready), "--exit-with-parent", "--log-level", "WARNING"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            ))
            log.close()
        end = time.monotonic() + self.timeout_s
        for i, ready in enumerate(readies):
            while not ready.is_file():
                if self.procs[i].poll() is not None or time.monotonic() > end:
                    tail = (self.work / f"worker{i}.log").read_text(errors="replace")[-2000:]
                    self.__exit__()
                    raise RuntimeError(f"worker {i} ({self.files[i]}) did not start:\n{tail}")
                time.sleep(0.05)
            for _ in range(50):
                try:
                    self.ports.append(int(json.loads(ready.read_text())["port"]))
                    break
                except (json.JSONDecodeError, KeyError):
                    time.sleep(0.02)
        return self

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def measure_served(out_dir: Path, plan: dict[str, Any], x_test: np.ndarray, y_test: np.ndarray, requests: int,
                   deadline_ms: float, fault_images: int) -> dict[str, Any]:
    """Loopback serving measurement (see the module docstring)."""
    import yaml

    from vitaccel.distributed.cluster import Cluster, load_cluster_config, measure_fanout_latency

    groups = plan["groups"]
    files = [out_dir / g["file"] for g in groups]
    with _Workers(files, out_dir / "workers") as workers:
        doc = {
            "version": 1, "deadline_ms": deadline_ms, "unhealthy_after": 2, "probe_interval_ms": 200,
            "fusion_model": str((out_dir / "fusion.npz").resolve()),
            "boards": [{"name": g["board"], "address": f"127.0.0.1:{port}", "model": g["name"],
                        "feature_size": g["feature_size"]} for g, port in zip(groups, workers.ports)],
        }
        cfg_path = out_dir / "workers" / "cluster.loopback.yaml"
        cfg_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        imgs = [x_test[i] for i in range(min(64, len(x_test)))]
        with Cluster(load_cluster_config(cfg_path)) as cluster:
            lat = measure_fanout_latency(cluster, imgs, n=requests, warmup=10)
            out: dict[str, Any] = {"latency": lat}
            if len(groups) > 1 and fault_images > 0:
                victim = int(np.argmax([g["int8_bytes"] for g in groups]))  # kill the largest sub-model's board
                workers.kill(victim)
                n = min(fault_images, len(x_test))
                correct = answered = in_time = 0
                t_max = 0.0
                for i in range(n):
                    t0 = time.perf_counter()
                    res = cluster.infer(x_test[i])
                    ms = (time.perf_counter() - t0) * 1e3
                    t_max = max(t_max, ms)
                    if res.ok:
                        answered += 1
                        in_time += ms <= deadline_ms + 50.0  # client overhead allowance on a loaded host
                        correct += int(np.argmax(res.output[0]) == y_test[i])
                out["fault"] = {"killed": groups[victim]["board"], "images": n, "answered": answered,
                                "answered_within_deadline": in_time, "max_ms": t_max,
                                "acc_one_board_down_served": correct / n}
    return out


def run_bench(board_counts: tuple[int, ...], out_root: Path, epochs: int, granule: int | None, serve: bool,
              requests: int, deadline_ms: float, fault_images: int, seed: int, ratio: float = 0.5) -> dict[str, Any]:
    """Run the split benchmark; returns the JSON document."""
    from vitaccel.distributed.placement import parse_links
    from vitaccel.distributed.split import SplitOptions, run_split
    from vitaccel.distributed.split_cli import load_classifier_and_data

    net, data, names = load_classifier_and_data("vit-digits", None, seed)
    ck: dict[str, Any] = {}
    try:
        import hashlib

        from vitaccel.train.recipes import checkpoint_path

        cp = checkpoint_path("vit-digits")
        ck = {"path": str(cp), "sha256_12": hashlib.sha256(cp.read_bytes()).hexdigest()[:12]}
    except Exception as exc:  # provenance only (the file read right after loading the model)
        ck = {"error": str(exc)}
    results = []
    for n in board_counts:
        boards = BOARD_SETS[n]
        t0 = time.time()
        opts = SplitOptions(boards=boards, granule=granule, epochs=epochs, ratio=ratio, links=parse_links(None, boards),
                            seed=seed)
        out_dir = out_root / f"boards{n}"
        plan = run_split(net, data, opts, out_dir, progress=_log, class_names=names)
        plan.pop("_objects", None)
        acc = plan["accuracy"]
        row: dict[str, Any] = {
            "boards": n,
            "board_names": list(boards),
            "acc_full": acc["full_int8"],
            "acc_full_float": acc["full_float"],
            "acc_split": acc["split_int8"],
            "acc_one_board_down": acc["one_board_down_mean"],
            "acc_one_board_down_worst": acc["one_board_down_worst"],
            "max_submodel_bytes": plan["size"]["max_submodel_bytes"],
            "full_model_bytes": plan["full_model"]["int8_bytes"],
            "size_reduction": plan["size"]["size_reduction_max_submodel"],
            "size_reduction_per_submodel": {g["board"]: round(g["size_reduction"], 3) for g in plan["groups"]},
            "predicted_latency_ms": plan["placement"]["e2e_ms"],
            "granule": plan["granule"],
            "ratio": ratio,
            "groups": {g["board"]: g["classes"] for g in plan["groups"]},
            "shapes": {g["board"]: g["shape"] for g in plan["groups"]},
            "measured_p50_ms": None,
            "measured_p99_ms": None,
            "measured_note": "not measured (--no-serve)",
        }
        if serve:
            try:
                m = measure_served(out_dir, plan, data.x_test, data.y_test, requests, deadline_ms, fault_images)
                row["measured_p50_ms"] = m["latency"]["p50_ms"]
                row["measured_p99_ms"] = m["latency"]["p99_ms"]
                row["measured_requests"] = m["latency"]["n"]
                row["measured_incomplete"] = m["latency"]["incomplete"]
                row["measured_note"] = ("loopback 127.0.0.1, one `vitaccel serve` process per sub-model on the golden "
                                        "integer model, single-image requests, concurrency 1, shared host cores")
                if "fault" in m:
                    row["fault_run"] = m["fault"]
            except Exception as exc:  # report the reason instead of a number
                row["measured_note"] = f"serving measurement failed: {type(exc).__name__}: {exc}"
        row["seconds"] = round(time.time() - t0, 1)
        _log(f"[bench split] {n} boards: {json.dumps({k: row[k] for k in ('acc_full', 'acc_split', 'acc_one_board_down', 'size_reduction', 'predicted_latency_ms', 'measured_p50_ms', 'measured_p99_ms')})}")
        results.append(row)
    return {
        "benchmark": "split",
        "model": "vit-digits",
        "checkpoint": ck,
        "test_images": len(data.y_test),
        "targets": {"acc_split_vs_full_4_boards_points": 1.0, "acc_one_board_down_min_points_below_full": 15.0},
        "results": results,
    }


@click.command("split")
@click.option("--boards", "board_counts", default="2,3,4", show_default=True,
              help="Board counts to run (each maps to a fixed board set).")
@click.option("--out", "out_root", default="build/bench/split", show_default=True, type=click.Path(file_okay=False))
@click.option("--epochs", type=int, default=15, show_default=True, help="Fine-tuning epochs per sub-model.")
@click.option("--granule", type=int, default=None, help="Pruning unit (default: the tile width, array_cols).")
@click.option("--ratio", type=float, default=0.5, show_default=True,
              help="Sub-model MAC budget factor (see vitaccel split --help).")
@click.option("--no-serve", is_flag=True, help="Skip the loopback serving measurement (measured_* null).")
@click.option("--requests", type=int, default=200, show_default=True, help="Requests for the latency measurement.")
@click.option("--deadline-ms", type=float, default=500.0, show_default=True, help="Cluster deadline on loopback.")
@click.option("--fault-images", type=int, default=360, show_default=True,
              help="Test images sent with one worker killed (0: skip the fault run).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the splits and of the latency-test images (same seed, same results).")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def split_cmd(board_counts: str, out_root: str, epochs: int, granule: int | None, ratio: float, no_serve: bool,
              requests: int, deadline_ms: float, fault_images: int, seed: int, as_json: bool) -> None:
    """Split the digits classifier over 2, 3 and 4 boards; accuracy, size, predicted and measured latency."""
    from vitaccel.errors import ConfigError

    try:
        counts = tuple(int(v) for v in board_counts.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--boards {board_counts!r}: expected counts such as 2,3,4") from None
    bad = [c for c in counts if c not in BOARD_SETS]
    if bad or not counts:
        raise ConfigError(f"--boards {board_counts!r}: counts must be among {sorted(BOARD_SETS)}")
    if ratio <= 0:
        raise ConfigError(f"--ratio {ratio}: expected > 0")
    doc = run_bench(counts, Path(out_root), epochs, granule, not no_serve, requests, deadline_ms, fault_images, seed,
                    ratio)
    Path(out_root).mkdir(parents=True, exist_ok=True)
    (Path(out_root) / "bench_split.json").write_text(json.dumps(doc, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        for r in doc["results"]:
            click.echo(
                f"{r['boards']} boards: acc full {r['acc_full']:.4f} split {r['acc_split']:.4f} one-down "
                f"{r['acc_one_board_down']:.4f}; max sub-model {r['max_submodel_bytes']} B ({r['size_reduction']:.2f}x); "
                f"predicted {r['predicted_latency_ms']:.2f} ms; measured p50 {r['measured_p50_ms']} p99 "
                f"{r['measured_p99_ms']} ms"
            )
