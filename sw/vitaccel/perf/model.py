"""Performance and roofline report for a model on a board (the `vitaccel estimate` figures).

The program is compiled exactly as `vitaccel compile` would (from the QuantizedModel when one is given, else
from a synthetic all-zero model of the same shapes: the program and the byte counts depend only on the shapes),
then scheduled by vitaccel.perf.timing with either measured queue lengths (from the ISA simulator) or the
balanced-routing assumption (each expert receives tokens * top_k / experts tokens).

Definitions (per image, one task):
  useful_macs          MACs of every matrix product the program executes (the gate and the routed experts only)
  compute_floor_ms     useful_macs / (array MACs per cycle * clock)
  memory_floor_ms      DDR bytes moved (weights once + constants + input image + output) / DDR peak bandwidth
  roofline_efficiency  max(compute_floor, memory_floor) / latency
  mac_utilization      useful_macs / (array MACs per cycle * cycles)
"""

from __future__ import annotations

from typing import Any

from vitaccel.boards.accel import AcceleratorConfig, derive_accelerator_config
from vitaccel.boards.config import BYTES_PER_BRAM36, BYTES_PER_URAM, load_board
from vitaccel.errors import FitError
from vitaccel.models.config import get_config
from vitaccel.perf.timing import resolve_static, schedule

# Resource model of the non-array logic (per array column / row; DSP48 and BRAM36 counts), documented in
# docs/isa.md "Resources". Kept deliberately conservative; synthesis reports replace it when available.
EPILOGUE_DSP_PER_COL = 3  # requant 32x16 multiply (2 DSP) + combine/gate multiply (1 DSP) per vector lane
SOFTMAX_DSP_PER_COL = 2  # exp2 table product + normalisation multiply per vector lane
LN_ROUTE_DSP = 48  # LayerNorm squares / products (C lanes share 32) + isqrt/reciprocal + route lanes
FIFO_BRAM = 24  # instruction FIFO, DMA FIFOs, AXI width converters, route queues beyond the param buffer


def resources(cfg: AcceleratorConfig) -> dict[str, Any]:
    """DSP / BRAM36 / URAM estimate of the accelerator and the board's budget."""
    board = load_board(cfg.board)
    from vitaccel.isa.uarch import vector_lanes

    lanes = vector_lanes(cfg.array_rows, cfg.array_cols)  # softmax lanes; LayerNorm's are cfg.ln_lanes
    epi_lanes = min(lanes, cfg.epilogue_lanes)
    dsp = cfg.array_dsps + epi_lanes * EPILOGUE_DSP_PER_COL + lanes * SOFTMAX_DSP_PER_COL + LN_ROUTE_DSP
    onchip = cfg.act_buffer_bytes + 2 * cfg.weight_buffer_bytes + cfg.param_buffer_bytes
    bram_bytes = onchip
    uram = 0
    if board.uram:
        # large buffers (ACT, weights) go to UltraRAM first, the rest to BRAM36
        big = cfg.act_buffer_bytes + 2 * cfg.weight_buffer_bytes
        uram = min(board.uram, -(-big // BYTES_PER_URAM))
        bram_bytes = max(onchip - uram * BYTES_PER_URAM, 0)
    bram = -(-bram_bytes // BYTES_PER_BRAM36) + FIFO_BRAM
    return {
        "dsp": int(dsp), "dsp_available": board.dsp, "dsp_fraction": round(dsp / board.dsp, 3),
        "bram36": int(bram), "bram36_available": board.bram36, "bram_fraction": round(bram / board.bram36, 3),
        "uram": int(uram), "uram_available": board.uram,
        "fits": bool(dsp <= board.dsp and bram <= board.bram36 and uram <= board.uram),
    }


def estimate(model: str, board: str, task: int | str = 0, overrides: dict[str, Any] | None = None,
             qmodel: Any = None, queue_lengths: list[list[int]] | None = None,
             timing_out: list[Any] | None = None) -> dict[str, Any]:
    """The estimate report (see the module docstring); raises FitError if the model does not fit.
    timing_out: if given, the Timing (per-instruction schedule) is appended to it."""
    from vitaccel.compiler import compile_model
    from vitaccel.compiler.synthetic import synthetic_qmodel

    cfg = derive_accelerator_config(board, overrides)
    mcfg = get_config(model) if qmodel is None else qmodel.config
    ti = mcfg.task_index(task)
    qm = qmodel if qmodel is not None else synthetic_qmodel(mcfg, seed=None)
    cp = compile_model(qm, cfg, ti)
    recs = resolve_static(cp.instructions, queue_lengths)
    tm = schedule(recs, cfg, cp.layer_of)
    if timing_out is not None:
        timing_out.append(tm)
    return report(cfg, mcfg, ti, cp, tm, routing="measured" if queue_lengths else "balanced")


def report(cfg: AcceleratorConfig, mcfg: Any, ti: int, cp: Any, tm: Any, routing: str) -> dict[str, Any]:
    clock_hz = cfg.clock_mhz * 1e6
    macs = sum(it.cost.macs for it in tm.instrs)
    dma_bytes = sum(it.cost.dma_bytes for it in tm.instrs)
    cycles = tm.total_cycles
    latency_ms = cycles / clock_hz * 1e3
    compute_floor = macs / cfg.macs_per_cycle / clock_hz * 1e3
    memory_floor = dma_bytes / (cfg.ddr_peak_gbps * 1e9) * 1e3
    layers = []
    for d in tm.layers():
        layers.append({
            "layer": d["layer"], "cycles": int(d["cycles"]), "compute_cycles": int(d["compute_cycles"]),
            "stall_cycles": int(d["stall_cycles"]), "dma_cycles": int(d["dma_cycles"]), "macs": int(d["macs"]),
            "bytes": int(d["bytes"]), "bound": d["bound"],
            "array_utilization": round(d["macs"] / d["array_slots"], 4) if d["array_slots"] else None,
        })
    slots = sum(it.cost.slots for it in tm.instrs)
    return {
        "board": cfg.board,
        "model": mcfg.name,
        "task": mcfg.tasks[ti].name,
        "clock_mhz": cfg.clock_mhz,
        "array": f"{cfg.array_rows}x{cfg.array_cols}",
        "macs_per_cycle": cfg.macs_per_cycle,
        "cycles": int(cycles),
        "latency_ms": round(latency_ms, 4),
        "useful_macs": int(macs),
        "mac_utilization": round(macs / (cfg.macs_per_cycle * cycles), 4),
        "padding_efficiency": round(macs / slots, 4) if slots else None,
        "compute_floor_ms": round(compute_floor, 4),
        "memory_floor_ms": round(memory_floor, 4),
        "roofline_efficiency": round(max(compute_floor, memory_floor) / latency_ms, 4),
        "dram_bytes": int(dma_bytes),
        "stall_cycles": int(tm.stall_cycles),
        "routing": routing,
        "instructions": len(cp.instructions),
        "resources": resources(cfg),
        "config_hash": f"0x{cfg.config_hash():08x}",
        "layers": layers,
    }


def estimate_or_error(model: str, board: str, task: int | str = 0,
                      overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """estimate(), or for a model that does not fit: {"board", "model", "fits": false, "error": message}."""
    try:
        r = estimate(model, board, task, overrides)
        r["fits"] = True
        return r
    except FitError as exc:
        return {"board": board, "model": model, "fits": False, "error": str(exc)}


__all__ = ["estimate", "estimate_or_error", "report", "resources"]
