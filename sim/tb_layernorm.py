"""cocotb testbench: vitaccel_layernorm vs golden.ops.layernorm (exact stats, isqrt, normalised reciprocal)."""

from __future__ import annotations

from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

import tbutil
from tbutil import Sink, Source, pack, unpack
from vitaccel.golden.ops import LayerNormParams, layernorm, layernorm_params


def _outlier_rows(c: int) -> list[np.ndarray]:
    """Rows with the largest |y| (one channel against all others at the opposite extreme: |y| -> sqrt(C - 1) 2^14,
    1,048,464 at C = 4096), both signs."""
    return [np.concatenate([[(1 << 15) - 1], np.full(c - 1, -(1 << 15))]),
            np.concatenate([np.full(c - 1, (1 << 15) - 1), [-(1 << 15)]])]


def _y_visible_rows(gen: np.random.Generator, c: int) -> list[np.ndarray]:
    """Rows where many |y| < 128, so that gamma 1, beta 0, out_shift 0 (out = sat8(y)) shows y to the last bit:
    pairs +-u (u up to amplitude A: the variance) and the other channels r near the mean 0 (|y| ~ |r| 2^14 / std).
    A few amplitudes: different g and so different P windows (a = g // 8)."""
    rows = []
    for amp in (32767, 3000, 400):
        k = max(1, c // 8)
        u = gen.integers(amp // 2, amp + 1, k)
        if 2 * k > c:
            rows.append(np.resize(np.array([amp, -amp]), c))
            continue
        std = float(np.sqrt(2.0 * np.sum(u.astype(np.float64) ** 2) / c))
        rmax = max(1, int(std / 128.0))
        r = gen.integers(-rmax, rmax + 1, c - 2 * k)
        rows.append(gen.permutation(np.concatenate([u, -u, r])))
    return rows


def cases(gen: np.random.Generator, max_cols: int, lanes: int, n_random: int, wide_only: bool = False):
    """(x (rows, C) int16, LayerNormParams) cases: corners first, then random. wide_only: only the widest C (and
    C - 1) with the outlier rows and full-range parameters, for the |y| < 2^20 bound at C = MAX_COLS = 4096."""
    if wide_only:
        out = []
        for c in (max_cols, max_cols - 1):
            for sh in (0, 36):
                p = LayerNormParams(gamma_mult=gen.choice([-(1 << 15), (1 << 15) - 1], c),
                                    beta=gen.integers(-(1 << 31), 1 << 31, c), out_shift=sh, eps=1)
                out.append((np.stack([*_outlier_rows(c), gen.integers(-(1 << 15), 1 << 15, c)]), p))
            # gamma 1, beta 0: out = sat8(round_shift(y, 13)) keeps y's top bits (y / 2^13 in [-128, 127])
            p = LayerNormParams(gamma_mult=np.ones(c, dtype=np.int64), beta=np.zeros(c, dtype=np.int64), out_shift=13,
                                eps=1)
            out.append((np.stack(_outlier_rows(c)), p))
            p = LayerNormParams(gamma_mult=np.ones(c, dtype=np.int64), beta=np.zeros(c, dtype=np.int64), out_shift=0,
                                eps=1)
            out.append((np.stack(_y_visible_rows(gen, c)), p))
        return out
    out = []
    for c in sorted({1, lanes, max_cols // 2, max_cols, max(1, max_cols - 1), lanes + 1 if lanes + 1 <= max_cols else 1,
                     3 * max_cols // 4 + 1}):
        gamma = gen.uniform(0.5, 1.5, c)
        beta = gen.uniform(-0.5, 0.5, c)
        p = layernorm_params(gamma, beta, 1e-6, in_scale=2.0 ** -8, out_scale=2.0 ** -5)
        rows = [
            np.full(c, 1234),                                   # all equal: variance 0, D = eps
            np.full(c, -(1 << 15)),                             # most-negative input everywhere
            np.where(np.arange(c) % 2 == 0, -(1 << 15), (1 << 15) - 1),  # largest variance
            *_outlier_rows(c),                                  # one outlier (saturates)
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
    # y to the last bit (out = sat8(y)) at several column counts
    for c in sorted({max_cols, max(1, max_cols - 1), 3 * max_cols // 4 + 1, min(max_cols, 2 * lanes + 3)}):
        p = LayerNormParams(gamma_mult=np.ones(c, dtype=np.int64), beta=np.zeros(c, dtype=np.int64), out_shift=0,
                            eps=int(gen.choice([1, 1000])))
        out.append((np.stack(_y_visible_rows(gen, c)), p))
    # square-root / reciprocal corners: the row [u, -u, 0 ...] has D = 2 C u^2 + eps; eps makes D = 4^m (q = 2^30,
    # Rr = 2^16) or 4^m - 1 (q = 2^31 - 1, the smallest Rr); out = sat8(round_shift(y, 6)) shows y's top bits
    c = min(max_cols, 5)
    for u in (1, 3, 1000):
        for m, off in ((16, 0), (16, 1), (27, 0), (27, 1)):
            eps = (1 << (2 * m)) - off - 2 * c * u * u
            row = np.zeros(c, dtype=np.int64)
            row[0] = u
            if c > 1:
                row[1] = -u
            p = LayerNormParams(gamma_mult=np.ones(c, dtype=np.int64), beta=np.zeros(c, dtype=np.int64), out_shift=6,
                                eps=eps if c > 1 else (1 << (2 * m)) - off)
            out.append((row[None, :], p))
    # out_shift around the saturation / rounding boundaries of the output stage: t = y * gamma + beta spans 38 bits
    c = max(1, max_cols - 1)
    for sh in (1, 7, 8, 9, 21, 28, 35, 36, 37, 38):
        p = LayerNormParams(gamma_mult=gen.integers(-(1 << 15), 1 << 15, c),
                            beta=gen.integers(-(1 << 31), 1 << 31, c) >> int(gen.integers(0, 24)), out_shift=sh, eps=1)
        out.append((np.concatenate([np.stack(_outlier_rows(c)), gen.integers(-(1 << 15), 1 << 15, (2, c))]), p))
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
    """Counts rising edges (cycle stamps for the latency / rate checks) and stamps every input / output handshake
    with the number of the rising edge that takes it."""

    def __init__(self, dut: Any) -> None:
        self.n = 0
        self.dut = dut
        self.ins: list[int] = []
        self.outs: list[int] = []
        cocotb.start_soon(self._run())
        cocotb.start_soon(self._watch())

    async def _run(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            self.n += 1

    async def _watch(self) -> None:
        d = self.dut
        while True:
            await FallingEdge(d.clk)
            await ReadOnly()
            if int(d.in_valid.value) and int(d.in_ready.value):
                self.ins.append(self.n + 1)
            if int(d.out_valid.value) and int(d.out_ready.value):
                self.outs.append(self.n + 1)


def stats_latency(dut: Any) -> int:
    """Rising edges from the one taking a row's last input beat to the one taking its first output beat (sink
    ready): the unit's header latency SPIPE + 3 (out_valid rises SPIPE + 3 clocks after the input edge) plus the
    handshake edge, SPIPE = 5 + ceil(31 / SQ_K) + ceil(17 / DV_K) (34 edges with two steps per stage)."""
    sq_k, dv_k = int(dut.SQ_K.value), int(dut.DV_K.value)
    return 5 + -(-31 // sq_k) + -(-17 // dv_k) + 3 + 1


@cocotb.test()
async def layernorm_rows(dut: Any) -> None:
    c_ = tbutil.cfg()
    lanes, max_cols = int(dut.LANES.value), int(dut.MAX_COLS.value)
    gen = tbutil.rng()
    dut.prm_g_we.value, dut.prm_b_we.value, dut.hold.value = 0, 0, 0
    await tbutil.start(dut)
    clk = _Clock(dut)
    modes = tbutil.backpressure_modes()[:1] if c_.get("full_rate_only", False) else tbutil.backpressure_modes()
    for p_valid, p_ready in modes:
        for ci, (x, p) in enumerate(cases(gen, max_cols, lanes, int(c_.get("n_random", 3)),
                                          bool(c_.get("wide_only", False)))):
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
            i0, o0 = len(clk.ins), len(clk.outs)
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
                # exact: every row's first output beat comes stats_latency clocks after its last input beat
                ins, outs = clk.ins[i0:], clk.outs[o0:]
                for r in range(x.shape[0]):
                    got_lat = outs[r * nb] - ins[r * nb + nb - 1]
                    if got_lat != stats_latency(dut):
                        raise AssertionError(f"C={c} row {r}: first output {got_lat} clocks after the last input beat, "
                                             f"expected {stats_latency(dut)}")
                lat = cyc - len(beats) - nb
                dut._log.info("C=%d rows=%d beats=%d: %d cycles (latency after the first row %d)", c, x.shape[0],
                              len(beats), cyc, lat)
                if lat > int(c_.get("max_latency", 40)):
                    raise AssertionError(f"full-rate stream of {len(beats)} beats took {cyc} cycles (latency {lat})")
        dut._log.info("layernorm bit-exact at p_valid=%.2f p_ready=%.2f", p_valid, p_ready)
