"""Micro-architecture constants that the cycle model (vitaccel.perf) and the RTL/HLS implementations share.

docs/isa.md "Micro-architecture and timing" explains each one. They are part of contract 2: an implementation
that changes one must change it here (the perf model and the generated headers follow).
"""

from __future__ import annotations

import math

from vitaccel.golden import fixedpoint as _fp

DISPATCH_QUEUE_DEPTH = 8  # instruction FIFOs between the dispatcher and the DMA / compute engines
FETCH_BURST_INSTRS = 16  # instructions per program-fetch burst (16 x 32 B = 512 B)
ACT_WORD_COLS = 2  # ACT port width = ACT_WORD_COLS * array_cols bytes per clock (128 B for C = 64)
GEMM_SETUP = 3  # GEMM: start, checks, first phase (the record shift scan / B preload add their own clocks)
GEMM_PIPE = 12  # GEMM: first A-tile fill to first k-step (+ R clocks) and last row out of the epilogue to done
GELU_TABLE_WRITE_BYTES = 16  # GELU8 table entries written per clock into every epilogue lane (RTL TBL_W)
GEMM_TABLE_LOAD = 256 // GELU_TABLE_WRITE_BYTES + 2  # GELU8: the 256-entry table, then 2 clocks
SOFTMAX_DRAIN = 34  # SOFTMAX: last row into pass 1 -> reciprocal -> first pass-2 row of the last column tile
LN_PIPE = 40  # LAYERNORM latency: record header, the row's statistics, isqrt + reciprocal pipeline, first output
LN_PARAM_SETUP = 8  # LAYERNORM: record header reads and checks before gamma / beta stream in
ROUTE_LANES = 4  # tokens routed in parallel (one softmax/top-k lane each, experts serial; 16 cost 34k LUT)
ROUTE_SETUP = 4  # ROUTE: decode + first logits window after the route record is read
ROUTE_GROUP_TAIL = 23  # ROUTE: a group of ROUTE_LANES tokens ends 2 E + this after its first router beat
ROUTE_DIV_INTERVAL = 18  # ROUTE: groups end at least this far apart (the gate softmax's divider, one group at a time)
ROUTE_CTX_LEAD = 2  # ROUTE: group g + 2 (same softmax context) may start this many clocks before group g ends
DMA_SETUP = 8  # descriptor decode, first address beat
STORE_BURST_BEATS = 16  # STORE bursts (round-robin over the ports); the last one drains at one beat per clock
DDR_LATENCY_NS = 250.0  # first-data latency of the PS DDR controller seen from a PL HP port
DDR_EFFICIENCY = 0.9  # sustained fraction of DDR peak for long sequential bursts (refresh, page misses)
SKIP_CYCLES = 1  # a conditional instruction whose queue is empty retires in one cycle
LN_MAX_COLS = _fp.LN_MAX_CHANNELS  # LAYERNORM channels the unit holds gamma / beta for (more: UNSUPPORTED)


def vector_lanes(rows: int, cols: int) -> int:
    """Lanes of the epilogue / softmax units: C for arrays of >= 8 rows; C / 4 below (a tile then drains in <= 4 R
    clocks, still hidden behind K >= 32, and small parts keep their DSPs for the array). The LayerNorm unit has its
    own AcceleratorConfig.ln_lanes (derived as min(vector_lanes, LN_DEFAULT_LANES) in vitaccel.boards.accel)."""
    return cols if rows >= 8 else max(cols // 4, 1)


def act_word_bytes(cols: int) -> int:
    """ACT port width in bytes per clock (W): ACT_WORD_COLS * array_cols."""
    return ACT_WORD_COLS * cols


def b_operand_fits(k: int, n: int, cols: int, max_tokens: int) -> bool:
    """A GEMM with B in ACT first copies B (K rows of N bytes, each padded to whole W-byte words) into the
    B-operand buffer, which holds max_tokens words of W bytes: K * ceil(N / W) <= max_tokens."""
    w = act_word_bytes(cols)
    return k * (-(-n // w)) <= max_tokens


def ddr_latency_cycles(clock_mhz: float) -> int:
    return math.ceil(DDR_LATENCY_NS * clock_mhz / 1000.0)


def dma_bytes_per_cycle(axi_ports: int, axi_data_bits: int, ddr_peak_gbps: float, clock_mhz: float) -> float:
    """Sustained DMA bytes per PL clock: the HP ports' width, capped by the DDR's sustained bandwidth."""
    ports = axi_ports * axi_data_bits / 8.0
    ddr = ddr_peak_gbps * DDR_EFFICIENCY * 1000.0 / clock_mhz
    return min(ports, ddr)


__all__ = [name for name in dir()
           if name.isupper() or name in ("act_word_bytes", "b_operand_fits", "ddr_latency_cycles",
                                                   "dma_bytes_per_cycle", "vector_lanes")]
