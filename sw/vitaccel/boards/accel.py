"""AcceleratorConfig: the hardware parameters of one accelerator build, derived from a board config.

Derivation rules (defaults; every field can be overridden explicitly):
- MAC array: half of the board's DSP slices go to the array; DSP48E2 packs two int8 MACs per slice (shared
  operand), DSP48E1 one. The MAC count is rounded down to a power of two and shaped rows x cols with
  cols = min(64, MACs) (64 = ViT head dim and a divisor of every ViT width we target) and rows = MACs / cols,
  then ONE ROW IS ADDED when rows >= 8 (zcu102: 33 x 64). Why (ISA owner, docs/isa.md "Array shape"): rows hold
  tokens, and ViT sequences are 2^n patches + 1 CLS token (129 for m3vit-tiny, 197 for vit-tiny, 65, 17);
  32-row tiles pad 129 to 160 (81 % useful), 33-row tiles pad it to 132 (98 %) for 3 % more DSPs. Rows need
  not be a power of two (the array is parameterised); cols must be (operand packing, 2 MACs per DSP48E2).
- On-chip memory: 70 % of BRAM + URAM bytes (the rest for FIFOs, width converters and the shell); of that,
  two weight ping-pong halves of 13 % each, 4 % parameters (route queues, constant tables), and 70 %
  activations (sizes rounded down to 1 KiB). Why: weights stream through the halves in column chunks, so a half only has to hold one
  64-column tile of the deepest layer (K = 768: 49 KB) and bigger halves only save DMA set-ups, whereas every
  live activation must fit on chip (vit-tiny needs 270 KB; the old 50/40/10 split left PYNQ-Z2 172 KB).
  The activation buffer is capped at ACT_MAX_BYTES (1 MiB, three times the peak of the largest target model,
  m3vit-tiny 336 KB): on big parts the fraction rule would give ZU9EG 1.8 MB and push BRAM past 70 % once the
  datapath's own memories (score, B-operand, LayerNorm parameter buffers) are counted.
- AXI: one master per HP port, port width from the board; DDR peak from the board.
- LayerNorm lanes (int16 channels per clock): ln_lanes = min(uarch.vector_lanes(rows, cols), LN_DEFAULT_LANES = 32),
  from the final (possibly overridden) array shape. Why: 64 lanes cost ~455 DSPs and ~66k LUTs in the yosys
  estimate of zcu102, 32 lanes ~167 DSPs and ~26k LUTs (5 DSPs per lane); the LayerNorm is 1.7 % of m3vit-tiny's
  cycles at 64 lanes, 3.2 % at 32 and 6.1 % at 16 (16 lanes would drop the model's roofline efficiency below
  0.6). An override must be a power of two <= array_cols (vitaccel_ln_seq splits one ACT window of array_cols
  int16 into beats of ln_lanes).
- Softmax datapath lanes: softmax_lanes = array_cols / 2 when array_cols >= SOFTMAX_SHARE_MIN_COLS (64), else
  array_cols. The GEMM sequencer's softmax unit keeps the per-lane state (and dividers) of all array_cols lanes
  but has softmax_lanes copies of its pass-1 datapath (exp2neg, rescale, sum update, bit length), which serve the
  array_cols / softmax_lanes lane groups on successive clocks (a score row drains every array_cols / softmax_lanes
  clocks; pass 2 stays one row per clock). Why: the yosys estimate of zcu102's unit drops from 79.8k to 41.6k LUT
  (of 274k) and 192 to 160 DSP, while m3vit-tiny's Q.K^T (K = 64 against 33 rows x 2 clocks) costs +0.28 %
  modelled cycles. An override must be a power of two <= array_cols (vitaccel_softmax GROUPS = array_cols /
  softmax_lanes).
- Epilogue lanes: epilogue_lanes = array_cols / 2 when array_cols >= EPILOGUE_SHARE_MIN_COLS (64), else array_cols.
  vitaccel_gemm_core passes each drained row through the epilogue as array_cols / epilogue_lanes lane slices on
  successive clocks (a row drains every array_cols / epilogue_lanes clocks, so t_tile >= that many clocks per
  row). Why: on zcu102 the epilogue's 64 lanes cost ~25k LUT and 256 DSPs in the yosys estimate; 32 lanes save
  ~12.6k LUT (~9k net of the slice multiplexer) and 128 DSPs for +1.1 % modelled m3vit-tiny cycles (only GEMMs
  with K < 2 x rows drain-bound). An override must be a power of two <= array_cols.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from vitaccel.boards.config import BoardConfig, load_board, max_clock_mhz
from vitaccel.errors import ConfigError
from vitaccel.isa.uarch import vector_lanes

DSP_FRACTION_FOR_ARRAY = 0.5
ONCHIP_FRACTION = 0.7
WEIGHT_FRACTION, ACT_FRACTION, PARAM_FRACTION = 0.26, 0.70, 0.04  # WEIGHT_FRACTION covers both halves
EXTRA_ROW_MIN_ROWS = 8  # add one token row (CLS) to arrays of at least this many power-of-two rows
MAX_COLS = 64
ACT_MAX_BYTES = 1 << 20  # cap of the derived activation buffer (see the module docstring)
BUFFER_GRANULE = 1024  # 1 KiB: the HDL rounds each buffer up to whole RAM blocks itself
LN_DEFAULT_LANES = 32  # LayerNorm lanes cap: ~290 DSPs fewer than 64 lanes for +1.5 % m3vit-tiny cycles (docstring)
SOFTMAX_SHARE_MIN_COLS = 64  # arrays at least this wide share the softmax datapath over two lane groups (docstring)
EPILOGUE_SHARE_MIN_COLS = 64  # arrays at least this wide pass each row through the epilogue in two slices


@dataclass(frozen=True)
class AcceleratorConfig:
    """Hardware parameters of one accelerator build (array shape, buffers in bytes, AXI, clock in MHz)."""

    board: str
    part: str
    family: str
    clock_mhz: float
    array_rows: int
    array_cols: int
    macs_per_dsp: int
    axi_data_bits: int
    axi_ports: int
    ddr_peak_gbps: float
    weight_buffer_bytes: int  # ONE half of the double-buffered weight memory
    act_buffer_bytes: int
    param_buffer_bytes: int
    max_tokens: int = 256
    max_experts: int = 32
    max_topk: int = 4  # ROUTE top-k capacity of the router (topk > max_topk is UNSUPPORTED)
    ln_lanes: int = LN_DEFAULT_LANES  # int16 channels per clock of the LayerNorm unit (power of two <= array_cols)
    softmax_lanes: int = MAX_COLS // 2  # datapath lanes of the GEMM's softmax unit (power of two <= array_cols)
    epilogue_lanes: int = MAX_COLS // 2  # lanes of the GEMM epilogue (power of two <= array_cols)

    @property
    def macs_per_cycle(self) -> int:
        return self.array_rows * self.array_cols

    @property
    def array_dsps(self) -> int:
        """DSP slices the MAC array needs."""
        return -(-self.macs_per_cycle // self.macs_per_dsp)

    @property
    def peak_gmacs(self) -> float:
        """Peak int8 GMAC/s of the array."""
        return self.macs_per_cycle * self.clock_mhz / 1000.0

    @property
    def stream_gbps(self) -> float:
        """Weight-streaming bandwidth, GB/s: the smaller of the AXI masters' peak and the DDR peak."""
        return min(self.axi_ports * self.axi_data_bits / 8 * self.clock_mhz / 1000.0, self.ddr_peak_gbps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> int:
        """32-bit hash of every field (the hardware's CONFIG_HASH register; the runtime refuses a mismatch)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")


def _pow2_floor(n: int) -> int:
    return 1 << (max(int(n), 1).bit_length() - 1)


def _granule(n: float) -> int:
    return int(n) // BUFFER_GRANULE * BUFFER_GRANULE


def default_ln_lanes(rows: int, cols: int) -> int:
    """Derived LayerNorm lane count: the vector lanes of the array shape, capped at LN_DEFAULT_LANES."""
    return min(vector_lanes(rows, cols), LN_DEFAULT_LANES)


def default_softmax_lanes(cols: int) -> int:
    """Derived softmax datapath lanes: array_cols / 2 for arrays of >= SOFTMAX_SHARE_MIN_COLS columns, else all."""
    return cols // 2 if cols >= SOFTMAX_SHARE_MIN_COLS else cols


def default_epilogue_lanes(cols: int) -> int:
    """Derived epilogue lanes: array_cols / 2 for arrays of >= EPILOGUE_SHARE_MIN_COLS columns, else all."""
    return cols // 2 if cols >= EPILOGUE_SHARE_MIN_COLS else cols


def default_fields(board: BoardConfig) -> dict[str, Any]:
    """The derived (non-overridden) AcceleratorConfig fields for a board."""
    macs = _pow2_floor(int(board.dsp * DSP_FRACTION_FOR_ARRAY) * board.macs_per_dsp)
    cols = min(MAX_COLS, macs)
    rows = macs // cols
    if rows >= EXTRA_ROW_MIN_ROWS and (rows + 1) * cols <= int(board.dsp * DSP_FRACTION_FOR_ARRAY * 1.1) * (
            board.macs_per_dsp):
        rows += 1
    budget = board.onchip_bytes * ONCHIP_FRACTION
    return {
        "board": board.name,
        "part": board.part,
        "family": board.family,
        "clock_mhz": float(board.pl_clock_mhz),
        "array_rows": rows,
        "array_cols": cols,
        "macs_per_dsp": board.macs_per_dsp,
        "axi_data_bits": board.hp_port_width_bits,
        "axi_ports": board.hp_port_count,
        "ddr_peak_gbps": board.ddr_peak_gbps,
        "weight_buffer_bytes": _granule(budget * WEIGHT_FRACTION / 2),
        "act_buffer_bytes": min(_granule(budget * ACT_FRACTION), ACT_MAX_BYTES),
        "param_buffer_bytes": _granule(budget * PARAM_FRACTION),
        "ln_lanes": default_ln_lanes(rows, cols),
        "softmax_lanes": default_softmax_lanes(cols),
        "epilogue_lanes": default_epilogue_lanes(cols),
    }


# lane counts of units that split the array_cols columns (powers of two <= array_cols), and why
LANE_FIELDS = {
    "ln_lanes": "the LayerNorm unit reads its lanes from one ACT window of array_cols int16 channels",
    "softmax_lanes": "the softmax unit's datapath lanes serve array_cols / softmax_lanes lane groups of the "
                     "array_cols score columns",
    "epilogue_lanes": "the epilogue takes each array row as array_cols / epilogue_lanes lane slices",
}
_POW2_FIELDS = ("array_cols", *LANE_FIELDS)  # rows may be any positive count (see the module docstring)
_INT_FIELDS = (
    "array_rows", "array_cols", "axi_ports", "weight_buffer_bytes", "act_buffer_bytes", "param_buffer_bytes",
    "max_tokens", "max_experts", "max_topk", "ln_lanes", "softmax_lanes", "epilogue_lanes",
)


def parse_overrides(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Command-line `--set FIELD=VALUE` strings -> AcceleratorConfig overrides (int, else float).

    Field names and values are checked by derive_accelerator_config; this only parses."""
    res: dict[str, Any] = {}
    for it in items:
        key, eq, val = it.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set {it!r}: expected FIELD=VALUE (an AcceleratorConfig field)")
        try:
            res[key] = int(val)
        except ValueError:
            try:
                res[key] = float(val)
            except ValueError:
                raise ConfigError(f"--set {it!r}: value must be a number") from None
    return res


def derive_accelerator_config(
    board: BoardConfig | str, overrides: dict[str, Any] | None = None
) -> AcceleratorConfig:
    """AcceleratorConfig for a board (name, path or BoardConfig) with explicit `overrides` applied and checked."""
    if not isinstance(board, BoardConfig):
        board = load_board(board)
    fields = default_fields(board)
    names = {f.name for f in dataclasses.fields(AcceleratorConfig)}
    fixed = {"board", "part", "family", "macs_per_dsp"}
    for key, value in (overrides or {}).items():
        if key not in names or key in fixed:
            allowed = ", ".join(sorted(names - fixed))
            raise ConfigError(f"unknown accelerator config override {key!r}; allowed: {allowed}")
        if key in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"override {key}={value!r}: expected a positive integer")
            if key in _POW2_FIELDS and value & (value - 1):
                raise ConfigError(f"override {key}={value}: expected a power of two")
        elif key == "axi_data_bits":
            if value not in (32, 64, 128, 256, 512):
                raise ConfigError(f"override axi_data_bits={value!r}: expected one of 32, 64, 128, 256, 512")
        elif key in ("clock_mhz", "ddr_peak_gbps"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"override {key}={value!r}: expected a positive finite number")
            if key == "clock_mhz" and value > (cap := max_clock_mhz()):
                raise ConfigError(f"override clock_mhz={value!r}: expected at most {cap:g} MHz (the board schema's "
                                  "pl_clock_mhz maximum)")
        fields[key] = value
    if "ln_lanes" not in (overrides or {}):  # derived from the final array shape (see the module docstring)
        fields["ln_lanes"] = default_ln_lanes(fields["array_rows"], fields["array_cols"])
    if "softmax_lanes" not in (overrides or {}):
        fields["softmax_lanes"] = default_softmax_lanes(fields["array_cols"])
    if "epilogue_lanes" not in (overrides or {}):
        fields["epilogue_lanes"] = default_epilogue_lanes(fields["array_cols"])
    cfg = AcceleratorConfig(**fields)
    for key, why in LANE_FIELDS.items():
        if getattr(cfg, key) > cfg.array_cols:
            raise ConfigError(f"override {key}={getattr(cfg, key)}: expected a power of two <= array_cols "
                              f"({cfg.array_cols}); {why}")
    if not 1 <= cfg.max_topk <= cfg.max_experts:
        raise ConfigError(f"max_topk={cfg.max_topk}: expected 1 <= max_topk <= max_experts ({cfg.max_experts}); "
                          "the router keeps max_topk experts per token")
    beat = cfg.axi_data_bits // 8
    for key in ("weight_buffer_bytes", "act_buffer_bytes", "param_buffer_bytes"):
        size = getattr(cfg, key)
        if size <= 0 or size < beat:
            why = (f"the override {key}={size}" if key in (overrides or {}) else
                   f"the board's BRAM/URAM ({board.bram36} BRAM36, {board.uram} URAM = {board.onchip_bytes} bytes) "
                   f"is too small: {key} derives to {size}")
            raise ConfigError(f"{board.source or board.name}: {why} bytes, expected at least one AXI beat "
                              f"({beat} bytes)")
    if cfg.array_dsps > board.dsp:
        raise ConfigError(
            f"board {board.name}: a {cfg.array_rows}x{cfg.array_cols} MAC array needs {cfg.array_dsps} DSP slices "
            f"but the part has {board.dsp}"
        )
    onchip = cfg.act_buffer_bytes + 2 * cfg.weight_buffer_bytes + cfg.param_buffer_bytes
    if onchip > board.onchip_bytes:
        raise ConfigError(
            f"board {board.name}: buffers need {onchip} bytes on chip but BRAM+URAM hold {board.onchip_bytes}"
        )
    return cfg
