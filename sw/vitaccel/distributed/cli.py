"""`vitaccel serve` (one board server) and `vitaccel infer` (fan-out over a cluster).

Also runnable without the top-level entry point: `python -m vitaccel.distributed.cli serve|infer ...`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click
import numpy as np

from vitaccel.errors import ConfigError, InputError

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _read_token(path: Path) -> str:
    token = Path(path).read_text().strip()
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"--token-file {path}: must hold one token without whitespace")
    return token


@click.command("serve")
@click.option("--model-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sub-model file (any registered served-model type, e.g. a vitaccel.randproj .npz).")
@click.option("--model-name", default=None, help="Serve under this name instead of the one in the file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 for the network.")
@click.option("--port", default=8001, show_default=True, type=int, help="Port (0: any free port).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Server cert (PEM).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Server key (PEM).")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA for client certificates: enables mutual TLS.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File holding the bearer token clients must send (authorization: Bearer ...).")
@click.option("--max-request-bytes", default=16 * 1024 * 1024, show_default=True, type=int,
              help="gRPC max receive message size.")
@click.option("--max-tensor-bytes", default=None, type=int, help="Per input tensor limit [default: max-request-bytes].")
@click.option("--max-batch", default=64, show_default=True, type=int, help="Largest accepted batch dimension.")
@click.option("--workers", default=8, show_default=True, type=int, help="gRPC handler threads.")
@click.option("--max-concurrent-rpcs", default=32, show_default=True, type=int,
              help="Calls in progress or queued; more are refused with RESOURCE_EXHAUSTED.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write {\"port\", \"pid\", \"model\"} as JSON here once serving.")
@click.option("--exit-with-parent", is_flag=True,
              help="Stop when the process that started this one exits (local test/benchmark workers).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve_cmd(
    model_file: Path, model_name: str | None, host: str, port: int, tls_cert: Path | None, tls_key: Path | None,
    tls_ca: Path | None, token_file: Path | None, max_request_bytes: int, max_tensor_bytes: int | None,
    max_batch: int, workers: int, max_concurrent_rpcs: int, ready_file: Path | None, exit_with_parent: bool, log_level: str,
) -> None:  # fmt: skip
    """Serve one sub-model over the Open Inference Protocol (KServe v2 gRPC) until SIGTERM / Ctrl-C."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from vitaccel.distributed.backend import load_served_model
    from vitaccel.distributed.serving import ServerOptions, start_server

    model = load_served_model(model_file, model_name)
    options = ServerOptions(
        host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca,
        token=_read_token(token_file) if token_file else None, max_request_bytes=max_request_bytes,
        max_tensor_bytes=max_tensor_bytes, max_batch=max_batch, workers=workers,
        max_concurrent_rpcs=max_concurrent_rpcs,
    )  # fmt: skip
    if host not in _LOOPBACK and (tls_cert is None or token_file is None):
        logging.getLogger("vitaccel.serve").warning(
            "listening on %s without %s: anyone on the network can send images", host,
            "TLS and a token" if tls_cert is None and token_file is None else ("TLS" if tls_cert is None else "a token"),
        )  # fmt: skip
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    board = start_server(model, options)
    click.echo(f"vitaccel serve: model '{model.name}' on {host}:{board.port}", err=True)
    if ready_file is not None:
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(json.dumps({"port": board.port, "pid": os.getpid(), "model": model.name}))
        tmp.replace(ready_file)
    parent = os.getppid()
    try:
        while not stop.wait(0.5):
            if exit_with_parent and os.getppid() != parent:
                click.echo("vitaccel serve: parent process gone", err=True)
                break
    finally:
        click.echo("vitaccel serve: stopping (NOT_SERVING, draining for up to 2 s)", err=True)
        board.stop(2.0)


def _load_image(path: Path) -> np.ndarray:
    """An image file as uint8 (C, H, W) or a batch (B, C, H, W).

    .npy: taken as stored (must be uint8 or the boards' dtype; 3-D is one image, 4-D a batch).
    .png/.jpg/...: read with matplotlib's imread, converted to uint8 (floats in [0, 1] times 255, rounded), alpha
    dropped, (H, W, C) -> (C, H, W); a grayscale image becomes (1, H, W).
    """
    if not path.is_file():
        raise InputError(f"{path}: image file not found")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable .npy array ({exc})") from exc
        if arr.ndim not in (3, 4):
            raise InputError(f"{path}: array of shape {arr.shape}, expected (C, H, W) or (B, C, H, W)")
        return arr
    try:
        import matplotlib.image as mpimg
    except ImportError as exc:
        raise InputError(f"{path}: reading image files needs matplotlib (or pass a .npy array)") from exc
    try:
        img = mpimg.imread(path)
    except Exception as exc:  # matplotlib / Pillow raise a variety of errors for bad files
        raise InputError(f"{path}: cannot read image ({exc})") from exc
    if img.dtype.kind == "f":
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"{path}: image dtype {img.dtype}, expected 8-bit")
    if img.ndim == 2:
        return img[None]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return np.ascontiguousarray(img[:, :, :3].transpose(2, 0, 1))
    raise InputError(f"{path}: image of shape {img.shape}, expected (H, W), (H, W, 3) or (H, W, 4)")


@click.command("infer")
@click.option("--cluster", "cluster_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="cluster.yaml describing the boards, deadline, health and fusion.")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--deadline-ms", type=float, default=None, help="Override the cluster's per-request deadline.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.option("--no-output", is_flag=True, help="Leave the fused output vectors out of the JSON.")
def infer_cmd(cluster_file: Path, images: tuple[Path, ...], deadline_ms: float | None, as_json: bool,
              no_output: bool) -> None:  # fmt: skip
    """Send each image (.npy or .png) to every board of the cluster, fuse the features, print the result.

    Exit code 0 when every image got a fused result (some boards may be missing: see the report), 1 when an
    image got no answer from any board, 2 on a configuration or input error.
    """
    from vitaccel.distributed.cluster import Cluster, load_cluster_config

    config = load_cluster_config(cluster_file)
    arrays = [_load_image(Path(p)) for p in images]
    results = []
    with Cluster(config, probe=False) as cluster:
        spec = cluster.input_spec(timeout_s=min(2.0, max(0.2, config.deadline_ms / 1000.0 * 2)))
        for path, arr in zip(images, arrays):
            if spec is not None:
                batch = arr if arr.ndim == len(spec.shape) else arr[None]
                if arr.dtype != spec.dtype or tuple(batch.shape[1:]) != spec.item_shape:
                    raise InputError(
                        f"{path}: image {arr.dtype} {arr.shape}, the boards take {spec.datatype} "
                        f"(B, {', '.join(map(str, spec.item_shape))})"
                    )
            res = cluster.infer(arr, deadline_ms)
            entry = {"file": str(path), **res.to_dict(include_output=not no_output)}
            if res.output is not None and res.output.ndim == 2:
                entry["argmax"] = [int(k) for k in res.output.argmax(axis=1)]
            results.append(entry)
        health = {
            name: {"healthy": h.healthy, "consecutive_misses": h.consecutive_misses, "last_error": h.last_error}
            for name, h in cluster.health().items()
        }
    if as_json:
        click.echo(json.dumps({"results": results, "health": health}))
        if not all(r["ok"] for r in results):
            raise click.exceptions.Exit(1)
        return
    for r in results:
        lat = ", ".join(
            f"{b['name']} {b['latency_ms']:.2f} ms" if b["answered"] else f"{b['name']} missing ({b['error']})"
            for b in r["boards"]
        )
        top = f" argmax {r['argmax']}" if "argmax" in r else ""
        status = "ok" if r["ok"] else "NO BOARD ANSWERED"
        click.echo(f"{r['file']}: {status}{top} in {r['elapsed_ms']:.2f} ms; {lat}")
    if not all(r["ok"] for r in results):
        raise click.exceptions.Exit(1)  # some image got no answer from any board


@click.group()
def _main_group() -> None:
    """vitaccel distributed commands (serve, infer)."""


_main_group.add_command(serve_cmd)
_main_group.add_command(infer_cmd)


def main(argv: list[str] | None = None) -> int:
    """`python -m vitaccel.distributed.cli`: like `vitaccel` (same error and exit-code handling)."""
    from vitaccel.cli import run_click

    return run_click(_main_group, argv)

if __name__ == "__main__":
    sys.exit(main())
