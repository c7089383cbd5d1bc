"""Micro-architecture constants that the cycle model (vitaccel.perf) and the RTL/HLS implementations share.

docs/isa.md "Micro-architecture and timing" explains each one. They are part of contract 2: an implementation
that changes one must change it here (the perf model and the generated headers follow).
"""

from __future__ import annotations

import math

DISPATCH_QUEUE_DEPTH = 8  # instruction FIFOs between the dispatcher and the DMA / compute engines
FETCH_BURST_INSTRS = 16  # instructions per program-fetch burst (16 x 32 B = 512 B)
ACT_WORD_COLS = 2  # ACT port width = ACT_WORD_COLS * array_cols bytes per clock (128 B for C = 64)
GEMM_SETUP = 8  # decode + address generation before the first A-tile read
ARRAY_PIPE = 4  # operand registers -> product registers -> accumulator -> output bank
EPI_PIPE = 8  # bias, requant multiply (2), round/shift, saturate, GELU table / combine multiply, write
LN_PIPE = 40  # isqrt (31-step non-restoring, pipelined) + reciprocal + first output
ROUTE_LANES = 16  # tokens routed in parallel (one softmax/top-k lane each, experts serial)
ROUTE_PIPE = 16
DMA_SETUP = 8  # descriptor decode, first address beat
DDR_LATENCY_NS = 250.0  # first-data latency of the PS DDR controller seen from a PL HP port
DDR_EFFICIENCY = 0.9  # sustained fraction of DDR peak for long sequential bursts (refresh, page misses)
SKIP_CYCLES = 1  # a conditional instruction whose queue is empty retires in one cycle


def vector_lanes(rows: int, cols: int) -> int:
    """Lanes of the epilogue / softmax / LayerNorm units: C for arrays of >= 8 rows; C / 4 below (a tile then
    drains in <= 4 R clocks, still hidden behind K >= 32, and small parts keep their DSPs for the array)."""
    return cols if rows >= 8 else max(cols // 4, 1)


def ddr_latency_cycles(clock_mhz: float) -> int:
    return math.ceil(DDR_LATENCY_NS * clock_mhz / 1000.0)


def dma_bytes_per_cycle(axi_ports: int, axi_data_bits: int, ddr_peak_gbps: float, clock_mhz: float) -> float:
    """Sustained DMA bytes per PL clock: the HP ports' width, capped by the DDR's sustained bandwidth."""
    ports = axi_ports * axi_data_bits / 8.0
    ddr = ddr_peak_gbps * DDR_EFFICIENCY * 1000.0 / clock_mhz
    return min(ports, ddr)


__all__ = [name for name in dir()
           if name.isupper() or name in ("ddr_latency_cycles", "dma_bytes_per_cycle", "vector_lanes")]
