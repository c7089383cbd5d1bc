"""`vitaccel bench rtlsim`: build time of the Verilator harness (cached or fresh) and its simulation speed
(simulated clocks per wall-clock second of the simulation only) on a representative program: IM2COL of a
3 x 32 x 32 image (patch 8; 1 channel when the weight buffer is too small), STOREs, a weight-buffer LOAD of
packed B tiles and two REQ8 GEMMs (16 x 192 x COLS, or 16 x 64 x COLS); with `--model M`, on one whole inference
of model M instead (synthetic integer parameters, first task, one seeded random image)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from vitaccel import isa
from vitaccel.isa.image import ImageHeader


def representative_program(cfg: Any, seed: int = 0) -> tuple[bytes, bytes, np.ndarray]:
    """(program, image, input) of the benchmark for AcceleratorConfig `cfg`."""
    g = np.random.default_rng(seed)
    cols = int(cfg.array_cols)
    hw, p = 32, 8
    c = 3 if isa.b_tiles_bytes(3 * p * p, cols, cols) <= cfg.weight_buffer_bytes else 1
    m, k = (hw // p) ** 2, c * p * p
    b_bytes = isa.b_tiles_bytes(k, cols, cols)
    dst = -(-(m * k) // 16) * 16
    out_bytes = m * k + m * cols
    words = [
        isa.make("IM2COL", ddr_base=isa.DdrBase.INPUT, ddr_off=0, dst=0, height=hw, width=hw, chans=c, patch=p,
                 dst_pitch=k),
        isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT, ddr_off=0, src=0, row_bytes=k, rows=m, src_pitch=k,
                 dst_stride=k),
        isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=0, ddr_off=64, dst=0,
                 row_bytes=b_bytes, rows=1),
    ]
    for rel in (0, 1):
        words.append(isa.make("GEMM", epi=isa.Epilogue.REQ8, pimm=1, bsrc=isa.BSrc.WBUF, wbuf=0, release=rel, a=0,
                              b=0, dst=dst, mult=int(g.integers(1 << 12, 1 << 15)), shift=16, m=m, n=cols, k=k,
                              a_pitch=k, b_pitch=0, dst_pitch=cols))
    words += [isa.make("STORE", ddr_base=isa.DdrBase.OUTPUT, ddr_off=m * k, src=dst, row_bytes=cols, rows=m,
                       src_pitch=cols, dst_stride=cols), isa.make("END")]
    payload = g.integers(0, 256, b_bytes, dtype=np.uint8).tobytes()
    hdr = ImageHeader(config_hash=cfg.config_hash(), image_bytes=64 + len(payload), const_offset=64, const_bytes=0,
                      weights_offset=64, weights_bytes=len(payload), input_bytes=c * hw * hw,
                      output_bytes=out_bytes, instr_count=len(words), program_crc32=0,
                      axi_data_bits=cfg.axi_data_bits, payload_crc32=0).pack()
    inp = g.integers(0, 256, (c, hw, hw), dtype=np.uint8)
    return isa.encode_program(words), hdr + payload, inp


def model_program(cfg: Any, model: str, seed: int = 0) -> tuple[bytes, bytes, np.ndarray]:
    """(program, image, input) of one inference of `model` (synthetic parameters, task 0) for `cfg`."""
    from vitaccel.compiler import compile_model
    from vitaccel.compiler.source import load_qmodel

    qm = load_qmodel(model, synthetic=True, seed=seed)
    cp = compile_model(qm, cfg, 0)
    mc = qm.config
    inp = np.random.default_rng(seed).integers(0, 256, size=(mc.in_chans, *mc.img_size), dtype=np.uint8)
    return cp.program, cp.image, inp


def bench(board: str, overrides: dict[str, Any] | None = None, fresh: bool = False, repeat: int = 3,
          log: Any = None, model: str | None = None) -> dict[str, Any]:
    """One result dict: build seconds / cached, simulated clocks, CYCLES, model cycles, clocks per second
    (`model`: one inference of that model instead of the representative program)."""
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.rtlgen.backend import RtlsimBackend
    from vitaccel.sim import IsaSimulator

    cfg = derive_accelerator_config(board, overrides)
    tmp = tempfile.TemporaryDirectory(prefix="rtlsim-fresh-") if fresh else None
    try:
        t0 = time.monotonic()
        be = RtlsimBackend(cfg, log=log, **({"root": Path(tmp.name)} if tmp else {}))
        build_s = time.monotonic() - t0
        prog, image, inp = model_program(cfg, model) if model else representative_program(cfg)
        ref = IsaSimulator(cfg).run(prog, image, inp)
        runs = []
        for _ in range(max(1, repeat)):
            out, cycles = be.run(prog, image, inp)
            runs.append(be.last)
        best = min(runs, key=lambda r: r.wall_s)
        return {
            "bench": "rtlsim", "board": cfg.board, "config_hash": f"0x{cfg.config_hash():08x}",
            "program": f"{model} (synthetic, task 0)" if model else "representative",
            "array": f"{cfg.array_rows}x{cfg.array_cols}", "build_cached": be.model.info.cached,
            "build_s": round(build_s, 2), "build_dir": str(be.model.info.path.parent.parent) if not tmp else None,
            "bit_exact_vs_isa": bytes(out) == bytes(ref.output), "cycles": int(cycles),
            "model_cycles": int(ref.cycles or 0), "sim_cycles": best.sim_cycles, "sim_wall_s": round(best.wall_s, 6),
            "sim_cycles_per_s": round(best.sim_cycles / best.wall_s) if best.wall_s > 0 else None,
            "repeat": len(runs),
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


@click.command("rtlsim")
@click.option("--board", required=True, help="Board name or board YAML path.")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="AcceleratorConfig override.")
@click.option("--fresh", is_flag=True, help="Build into a temporary directory (fresh build time; cache untouched).")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Simulation runs (the fastest is reported).")
@click.option("--model", default=None, help="Run one inference of this model (synthetic parameters, task 0).")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]} on stdout.')
def rtlsim_cmd(board: str, overrides: tuple[str, ...], fresh: bool, repeat: int, model: str | None,
               as_json: bool) -> None:
    """Verilator harness of vitaccel_top: build time (cached / fresh) and simulated clocks per second."""
    from vitaccel.boards.accel import parse_overrides

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    r = bench(board, parse_overrides(overrides), fresh=fresh, repeat=repeat, log=log, model=model)
    if as_json:
        click.echo(json.dumps({"results": [r]}, indent=1))
        return
    for k, v in r.items():
        click.echo(f"{k:18s} {v}", file=sys.stdout)


__all__ = ["bench", "model_program", "representative_program", "rtlsim_cmd"]
