"""`vitaccel demo`: the main job end to end on a real image.

1. build the float model (m3vit-tiny by default: Edge-MoE's workload, 3x128x256, 16 experts, 2 tasks; seeded
   random weights because pretrained M3ViT weights cannot be downloaded here);
2. calibrate and quantize it on generated multi-task scenes (vitaccel.quant);
3. run scikit-learn's sample photo (china.jpg, centre-cropped and resized to 128 x 256) through the float and
   the integer golden model for every task; report agreement and per-layer SQNR;
4. compile each task for the board's accelerator, run the program on the ISA simulator and check it is
   bit-identical to the golden model; report the performance model's latency;
5. write build/demo/report.{json,md,png}.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

CALIB_IMAGES = 16


def _log(msg: str) -> None:
    click.echo(msg, err=True)


def _task_agreement(kind: str, f: np.ndarray, q: np.ndarray) -> dict[str, Any]:
    """Float vs integer output of one task: argmax agreement (classify/segment) or error statistics (depth)."""
    if kind in ("segment", "classify"):
        axis = 1
        return {"metric": "argmax_agreement", "value": float(np.mean(f.argmax(axis) == q.argmax(axis)))}
    err = q - f
    rel = float(np.sqrt(np.mean(err**2)) / max(np.sqrt(np.mean(f**2)), 1e-12))
    corr = float(np.corrcoef(f.ravel(), q.ravel())[0, 1])
    return {"metric": "relative_rms_error", "value": rel, "max_abs_err": float(np.abs(err).max()),
            "correlation": corr}


def _isa_check(qm: Any, board: str, photo: np.ndarray, golden: dict[int, np.ndarray]) -> list[dict[str, Any]]:
    """Compile every task for `board`, run it on the ISA simulator, compare with the golden int32 outputs."""
    from vitaccel.boards import derive_accelerator_config
    from vitaccel.compiler import compile_model
    from vitaccel.perf.model import report
    from vitaccel.sim import IsaSimulator

    acc = derive_accelerator_config(board)
    rows = []
    for ti, spec in enumerate(qm.config.tasks):
        t0 = time.perf_counter()
        cp = compile_model(qm, acc, ti)
        t1 = time.perf_counter()
        res = IsaSimulator(acc).run(cp.program, cp.image, photo)
        t2 = time.perf_counter()
        ref = golden[ti][0]
        out = res.output_int32()  # flat int32 bytes of the output tensor, row-major
        same = out.size == ref.size and bool(np.array_equal(out.reshape(ref.shape), ref))
        # performance model on this image's actual expert routing (the simulator's per-instruction schedule)
        est = report(acc, qm.config, ti, cp, res.timing, routing="measured")
        rows.append({
            "task": spec.name, "instructions": len(cp.instructions), "image_bytes": len(cp.image),
            "bit_exact": same, "outputs_compared": int(ref.size),
            "max_abs_diff": 0 if same else (int(np.abs(out.reshape(ref.shape) - ref).max())
                                            if out.size == ref.size else None),
            "compile_s": round(t1 - t0, 2), "isa_sim_s": round(t2 - t1, 2),
            "latency_ms": est["latency_ms"], "roofline_efficiency": est["roofline_efficiency"],
        })
    return rows


def _plot(path: Path, photo: np.ndarray, outs: dict[str, dict[str, np.ndarray]], sqnr: list[dict[str, Any]],
          title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(outs)
    fig = plt.figure(figsize=(14, 3.2 * (len(names) + 1)))
    grid = fig.add_gridspec(len(names) + 1, 3)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(photo.transpose(1, 2, 0))
    ax.set_title(f"input (sklearn china.jpg, {photo.shape[1]}x{photo.shape[2]})")
    ax.axis("off")
    ax = fig.add_subplot(grid[0, 1:])
    vals = [max(min(r["sqnr_db"], 99.0), -10.0) for r in sqnr]
    ax.bar(range(len(vals)), vals, color="tab:blue")
    ax.set_ylabel("SQNR vs float (dB)")
    ax.set_xlabel("layer (execution order)")
    ax.set_title("per-layer SQNR of the int8 golden model (task 0)")
    for row, name in enumerate(names, start=1):
        f, q = outs[name]["float"], outs[name]["int8"]
        show = (lambda a: a.argmax(0)) if f.shape[0] > 1 else (lambda a: a[0])
        cmap = "tab10" if f.shape[0] > 1 else "viridis"
        for col, (label, arr) in enumerate((("float", f), ("int8 golden", q))):
            ax = fig.add_subplot(grid[row, col])
            ax.imshow(show(arr), cmap=cmap)
            ax.set_title(f"{name}: {label}")
            ax.axis("off")
        ax = fig.add_subplot(grid[row, 2])
        if f.shape[0] > 1:
            ax.imshow((f.argmax(0) != q.argmax(0)).astype(float), cmap="Reds", vmin=0, vmax=1)
            ax.set_title(f"{name}: pixels where argmax differs")
        else:
            ax.imshow(np.abs(f[0] - q[0]), cmap="magma")
            ax.set_title(f"{name}: |float - int8|")
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_demo(model_name: str = "m3vit-tiny", board: str = "zcu102", out: str | Path = "build/demo",
             isa: bool = True) -> dict[str, Any]:
    """Run the demo and write report.json / report.md / report.png into `out`; returns the report dict."""
    import torch

    from vitaccel.data import load_sample_photo
    from vitaccel.models import build_model, get_config
    from vitaccel.quant import calibration_images, layer_sqnr, quantize

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = get_config(model_name)
    torch.set_num_threads(2)
    _log(f"[1/5] build {cfg.name} (seeded random weights; pretrained weights cannot be downloaded here)")
    model = build_model(cfg, seed=0).eval()
    _log(f"[2/5] calibrate on {CALIB_IMAGES} generated scenes and quantize")
    calib, calib_src = calibration_images(cfg, CALIB_IMAGES, seed=0)
    t0 = time.perf_counter()
    qm = quantize(model, cfg, calib, method="minmax")
    quant_s = time.perf_counter() - t0
    qm.save(out / f"{cfg.name}.qmodel.npz")
    photo = load_sample_photo(cfg.img_size)
    if photo.shape[0] != cfg.in_chans:
        photo = photo.mean(0, keepdims=True).round().astype(np.uint8)
    batch = photo[None]
    _log("[3/5] float and integer inference on the sample photo, every task")
    tasks, outs, golden = [], {}, {}
    for ti, spec in enumerate(cfg.tasks):
        with torch.no_grad():
            f = model(torch.from_numpy(batch.astype(np.float32) / 255.0), ti).numpy()
        t0 = time.perf_counter()
        res = qm.forward(batch, ti)
        golden_s = time.perf_counter() - t0
        golden[ti] = res["int32"]
        q = res["float"]
        tasks.append({"task": spec.name, "kind": spec.kind, **_task_agreement(spec.kind, f, q),
                      "golden_seconds": round(golden_s, 3)})
        if spec.kind != "classify":
            outs[spec.name] = {"float": f[0], "int8": q[0]}
    sqnr = layer_sqnr(qm, model, batch, 0)
    isa_rows: list[dict[str, Any]] = []
    if isa:
        _log(f"[4/5] compile for {board}, run on the ISA simulator, compare bit for bit")
        isa_rows = _isa_check(qm, board, photo, golden)
    else:
        _log("[4/5] ISA step skipped (--no-isa)")
    _log(f"[5/5] write the report to {out}/")
    report = {
        "model": cfg.name, "board": board,
        "image": f"sklearn china.jpg (centre crop, {cfg.img_size[0]}x{cfg.img_size[1]})",
        "calibration": calib_src, "quantize_seconds": round(quant_s, 2), "tasks": tasks,
        "layer_sqnr_db_task0": sqnr, "min_layer_sqnr_db": min(r["sqnr_db"] for r in sqnr), "isa": isa_rows,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    _plot(out / "report.png", photo, outs, sqnr,
          f"vitaccel demo: {cfg.name} (seeded random weights) float vs int8 golden model")
    lines = [f"# vitaccel demo: {cfg.name} on {board}", "", f"Input: {report['image']}; calibration: {calib_src}.",
             "", "| task | metric | value | golden model time (s) |", "|---|---|---|---|"]
    lines += [f"| {t['task']} | {t['metric']} | {t['value']:.4f} | {t['golden_seconds']} |" for t in tasks]
    if isa_rows:
        lines += ["", "| task | instructions | bit-exact vs golden | ISA sim (s) | est. latency (ms) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['instructions']} | {r['bit_exact']} | {r['isa_sim_s']} | {r['latency_ms']:.3f} |"
                  for r in isa_rows]
    lines += ["", f"Lowest per-layer SQNR (task 0): {report['min_layer_sqnr_db']:.1f} dB. Plot: report.png.", "",
              "| layer | kind | SQNR vs float (dB) |", "|---|---|---|"]
    lines += [f"| {r['layer']} | {r['kind']} | {r['sqnr_db']:.1f} |" for r in sqnr]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return report


def _sqnr_by_block(rows: list[dict[str, Any]]) -> list[str]:
    """One line per block ("blocks.3: norm1 38.2, attn.qkv 36.0, ...") and one per top-level layer."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        parts = r["layer"].split(".")
        key, rest = (".".join(parts[:2]), ".".join(parts[2:])) if parts[0] == "blocks" else (r["layer"], "")
        groups.setdefault(key, []).append(f"{rest + ' ' if rest else ''}{r['sqnr_db']:.1f}")
    return [f"{k}: {', '.join(v)}" for k, v in groups.items()]


@click.command("demo")
@click.option("--model", "model_name", default="m3vit-tiny", show_default=True, help="Named model config.")
@click.option("--board", default="zcu102", show_default=True, help="Board for the compile / ISA step.")
@click.option("--out", default="build/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--no-isa", is_flag=True, help="Skip compiling and the ISA simulator.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def demo_cmd(model_name: str, board: str, out: str, no_isa: bool, as_json: bool) -> None:
    """Quantize a model, run a real photo through float and integer models, check the ISA simulator."""
    report = run_demo(model_name, board, out, isa=not no_isa)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"vitaccel demo: {report['model']} on {report['image']}")
    for t in report["tasks"]:
        click.echo(f"  task {t['task']:10s} float vs int8 {t['metric']}: {t['value']:.4f}  "
                   f"(golden model {t['golden_seconds']} s)")
    click.echo("  per-layer SQNR of the int8 golden model vs float, task 0 (dB):")
    for line in _sqnr_by_block(report["layer_sqnr_db_task0"]):
        click.echo(f"    {line}")
    click.echo(f"  lowest per-layer SQNR (task 0): {report['min_layer_sqnr_db']:.1f} dB")
    for r in report["isa"]:
        click.echo(f"  {report['board']} {r['task']}: {r['instructions']} instructions, ISA simulator bit-exact "
                   f"vs golden: {r['bit_exact']} ({r['outputs_compared']} outputs), estimated latency "
                   f"{r['latency_ms']:.3f} ms")
    click.echo(f"  report: {out}/report.md, {out}/report.json, {out}/report.png")
