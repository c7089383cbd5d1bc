"""cocotb testbench: vitaccel_layernorm vs golden.ops.layernorm (exact stats, isqrt, normalised reciprocal)."""

from __future__ import annotations

from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

import tbutil
from tbutil import Sink, Source, pack, unpack
from vitaccel.golden.ops import LayerNormParams, layernorm, layernorm_params


def cases(gen: np.random.Generator, max_cols: int, lanes: int, n_random: int):
    """(x (rows, C) int16, LayerNormParams) cases: corners first, then random."""
    out = []
    for c in sorted({lanes, max_cols // 2, max_cols, max(1, max_cols - 1), lanes + 1 if lanes + 1 <= max_cols else 1,
                     3 * max_cols // 4 + 1}):
        gamma = gen.uniform(0.5, 1.5, c)
        beta = gen.uniform(-0.5, 0.5, c)
        p = layernorm_params(gamma, beta, 1e-6, in_scale=2.0 ** -8, out_scale=2.0 ** -5)
        rows = [
            np.full(c, 1234),                                   # all equal: variance 0, D = eps
            np.full(c, -(1 << 15)),                             # most-negative input everywhere
            np.where(np.arange(c) % 2 == 0, -(1 << 15), (1 << 15) - 1),  # largest variance
            np.concatenate([[(1 << 15) - 1], np.full(c - 1, -(1 << 15))]),  # one outlier (saturates)
        ]
        rows += [gen.integers(-(1 << 15), 1 << 15, c) for _ in range(2)]
        rows += [np.round(gen.normal(0, 10.0 ** gen.uniform(0.5, 3.5), c)).clip(-(1 << 15), (1 << 15) - 1)
                 .astype(np.int64) for _ in range(n_random)]
        out.append((np.stack(rows).astype(np.int64), p))
    # extreme integer parameters: largest gamma / beta, shift 0 and 63, large eps
    c = max_cols
    p = LayerNormParams(gamma_mult=gen.choice([-(1 << 15), (1 << 15) - 1], c), beta=gen.integers(-(1 << 31), 1 << 31, c),
                        out_shift=63, eps=(1 << 40))
    out.append((gen.integers(-(1 << 15), 1 << 15, (3, c)), p))
    p = LayerNormParams(gamma_mult=gen.integers(-(1 << 15), 1 << 15, c), beta=gen.integers(-300, 300, c),
                        out_shift=0, eps=1)
    out.append((gen.integers(-50, 50, (3, c)), p))
    c = max(1, max_cols - 1)  # largest valid eps (2^56) on a column count that is not a multiple of the lanes
    p = LayerNormParams(gamma_mult=gen.integers(-(1 << 15), 1 << 15, c), beta=gen.integers(-(1 << 31), 1 << 31, c),
                        out_shift=int(gen.integers(0, 64)), eps=1 << 56)
    out.append((np.concatenate([np.full((1, c), -(1 << 15)), gen.integers(-(1 << 15), 1 << 15, (2, c))]), p))
    p = LayerNormParams(gamma_mult=gen.integers(-(1 << 15), 1 << 15, c), beta=gen.integers(-(1 << 20), 1 << 20, c),
                        out_shift=int(gen.integers(20, 30)), eps=int(gen.integers(1, 1 << 20)))
    out.append((gen.integers(-(1 << 15), 1 << 15, (4, c)), p))
    return out


def _pad(row: np.ndarray, nb: int, lanes: int) -> np.ndarray:
    """A row padded with zero lanes to nb * lanes channels (the unit's contract for the last beat)."""
    return np.concatenate([row, np.zeros(nb * lanes - row.size, dtype=np.int64)])


async def _load_params(dut: Any, p: LayerNormParams, c: int, lanes: int) -> None:
    """gamma / beta through the prm_* port, one beat index per clock (all lanes enabled)."""
    nb = -(-c // lanes)
    g = _pad(np.asarray(p.gamma_mult, dtype=np.int64), nb, lanes)
    b = _pad(np.asarray(p.beta, dtype=np.int64), nb, lanes)
    for i in range(nb):
        dut.prm_g_we.value, dut.prm_b_we.value, dut.prm_addr.value = (1 << lanes) - 1, (1 << lanes) - 1, i
        dut.prm_gamma.value = pack(g[i * lanes:(i + 1) * lanes], 16)
        dut.prm_beta.value = pack(b[i * lanes:(i + 1) * lanes], 32)
        await FallingEdge(dut.clk)
    dut.prm_g_we.value, dut.prm_b_we.value = 0, 0


class _Clock:
    """Counts rising edges (cycle stamps for the latency / rate checks)."""

    def __init__(self, dut: Any) -> None:
        self.n = 0
        self.dut = dut
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            self.n += 1


@cocotb.test()
async def layernorm_rows(dut: Any) -> None:
    c_ = tbutil.cfg()
    lanes, max_cols = int(dut.LANES.value), int(dut.MAX_COLS.value)
    gen = tbutil.rng()
    dut.prm_g_we.value, dut.prm_b_we.value, dut.hold.value = 0, 0, 0
    await tbutil.start(dut)
    clk = _Clock(dut)
    for p_valid, p_ready in tbutil.backpressure_modes():
        for ci, (x, p) in enumerate(cases(gen, max_cols, lanes, int(c_.get("n_random", 3)))):
            c = x.shape[1]
            nb = -(-c // lanes)
            exp = layernorm(x, p)
            # instruction setup: configuration and the gamma/beta record
            await FallingEdge(dut.clk)
            dut.cfg_cols.value, dut.cfg_eps.value, dut.cfg_out_shift.value = c, int(p.eps), int(p.out_shift)
            await _load_params(dut, p, c, lanes)
            xp = [_pad(row, nb, lanes) for row in x]
            beats = [{"in_x": pack(row[b * lanes:(b + 1) * lanes], 16)} for row in xp for b in range(nb)]
            src = Source(dut, "in_valid", "in_ready", p_valid, gen)
            snk = Sink(dut, "out_valid", "out_ready", p_ready, gen)
            t0 = clk.n
            cocotb.start_soon(src.send(beats))
            got = await snk.collect(len(beats), ["out_y", "out_last"])
            cyc = clk.n - t0
            for r in range(x.shape[0]):
                y = np.concatenate([unpack(got[r * nb + b]["out_y"], lanes, 8) for b in range(nb)])[:c]
                lasts = [got[r * nb + b]["out_last"] for b in range(nb)]
                if not np.array_equal(y, exp[r]) or lasts != [0] * (nb - 1) + [1]:
                    bad = int(np.nonzero(y != exp[r])[0][0]) if not np.array_equal(y, exp[r]) else -1
                    raise AssertionError(
                        f"({p_valid},{p_ready}) case {ci} C={c} row {r} channel {bad}: got {y[bad]} expected "
                        f"{exp[r][bad]} (eps={p.eps} out_shift={p.out_shift}) lasts={lasts}"
                    )
            if p_valid == 1.0 and p_ready == 1.0:
                # full rate: one beat per clock in and out, rows back to back; fixed latency on top
                # (the first output waits for the first row's P beats and the statistics pipeline)
                lat = cyc - len(beats) - nb
                dut._log.info("C=%d rows=%d beats=%d: %d cycles (latency after the first row %d)", c, x.shape[0],
                              len(beats), cyc, lat)
                if lat > int(c_.get("max_latency", 40)):
                    raise AssertionError(f"full-rate stream of {len(beats)} beats took {cyc} cycles (latency {lat})")
        dut._log.info("layernorm bit-exact at p_valid=%.2f p_ready=%.2f", p_valid, p_ready)
