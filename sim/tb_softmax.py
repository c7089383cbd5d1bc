"""cocotb testbench: vitaccel_softmax vs golden.softmax (scores_to_z + softmax_z over each column; with
REQUANT = 0 the beats carry the z codes and the multiplier / shift inputs are random junk the unit must ignore).
With GROUPS = F > 1 (F lane groups sharing the pass-1 datapath) a monitor also checks the handshake rate: rows are
taken at most every F clocks, exactly every F clocks at full rate, and pass 2 still emits one row per clock."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

import tbutil
from tbutil import Sink, Source, pack, unpack
from vitaccel.golden.softmax import SoftmaxParams, scores_to_z, softmax_params, softmax_z


def groups(gen: np.random.Generator, lanes: int, max_rows: int, n_random: int):
    """(scores (M, LANES) int32, mult (LANES,), shift (LANES,)) cases: corners first, then random."""
    out = []
    base = softmax_params(np.full(lanes, 8.0 / (1 << 14)), 8)
    mult, shift = np.asarray(base.mult), np.asarray(base.shift)
    out.append((np.full((7, lanes), 1234), mult, shift))                      # all-equal rows
    out.append((np.full((1, lanes), -5000), mult, shift))                     # one element
    out.append((np.tile(np.arange(max_rows)[:, None] * 300, (1, lanes)), mult, shift))  # max grows every step (full)
    out.append((np.tile(np.arange(9)[::-1, None] * 700, (1, lanes)), mult, shift))     # decreasing
    peaky = np.full((12, lanes), -(1 << 31))
    peaky[5] = (1 << 31) - 1
    big = softmax_params(np.full(lanes, 1e-3), 8)                             # z saturates at +-2^23
    out.append((peaky, np.asarray(big.mult), np.asarray(big.shift)))
    alt = np.where(np.arange(10)[:, None] % 2 == 0, 20000, -20000) * np.ones((1, lanes), dtype=np.int64)
    out.append((alt, mult, shift))
    for _ in range(n_random):
        m = int(gen.integers(1, max_rows + 1))
        scales = 10.0 ** gen.uniform(-5.5, -2.0, lanes)
        p = softmax_params(scales, 8)
        sc = gen.integers(-(1 << 15), 1 << 15, (m, lanes))
        out.append((sc, np.asarray(p.mult), np.asarray(p.shift)))
    return out


class RateMonitor:
    """Clock numbers of the input and output handshakes (sampled at the rising edge)."""

    def __init__(self, dut) -> None:
        self.dut, self.cycle, self.ins, self.outs = dut, 0, [], []

    async def run(self) -> None:
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            self.cycle += 1
            if int(d.in_valid.value) and int(d.in_ready.value):
                self.ins.append(self.cycle)
            if int(d.out_valid.value) and int(d.out_ready.value):
                self.outs.append(self.cycle)

    def check(self, f: int, full_rate: bool, what: str) -> None:
        for name, t, step in (("input", self.ins, f), ("output", self.outs, 1)):
            gaps = np.diff(np.asarray(t))
            if gaps.size == 0:
                continue
            assert gaps.min() >= step, f"{what}: {name} rows {gaps.min()} clocks apart, expected >= {step}"
            if full_rate:  # back-to-back rows of a group: exactly `step` clocks apart
                vals, counts = np.unique(gaps, return_counts=True)
                assert vals[np.argmax(counts)] == step, \
                    f"{what}: {name} gaps {dict(zip(vals.tolist(), counts.tolist()))}"
        self.ins, self.outs = [], []


@cocotb.test()
async def softmax_columns(dut):
    c = tbutil.cfg()
    lanes, max_rows, ob = int(dut.LANES.value), int(dut.MAX_ROWS.value), int(dut.OUT_BITS.value)
    requant = int(dut.REQUANT.value)  # 0: the beats carry z (the GEMM epilogue's SOFTMAX mode did the requant)
    f = int(dut.GROUPS.value)  # lane groups per datapath lane: clocks per row
    gen = tbutil.rng()
    await tbutil.start(dut)
    mon = RateMonitor(dut)
    cocotb.start_soon(mon.run())
    for p_valid, p_ready in tbutil.backpressure_modes():
        cases = groups(gen, lanes, max_rows, int(c.get("n_random", 6)))
        beats, expect = [], []
        for scores, mult, shift in cases:
            z = scores_to_z(scores, SoftmaxParams(mult=mult[None, :], shift=shift[None, :], out_bits=ob))
            expect.append(softmax_z(z.T, ob).T)  # softmax over rows (M) for every column
            for m in range(scores.shape[0]):
                beats.append({"in_acc": pack(scores[m] if requant else z[m], 32), "in_mult": pack(mult, 16),
                              "in_shift": pack(shift, 6),
                              "in_last": int(m == scores.shape[0] - 1)})
        src = Source(dut, "in_valid", "in_ready", p_valid, gen)
        snk = Sink(dut, "out_valid", "out_ready", p_ready, gen)
        cocotb.start_soon(src.send(beats))
        got = await snk.collect(sum(e.shape[0] for e in expect), ["out_prob", "out_last"])
        i = 0
        for g_idx, exp in enumerate(expect):
            for m in range(exp.shape[0]):
                y = unpack(got[i]["out_prob"], lanes, ob, signed=False)
                if not np.array_equal(y, exp[m]) or got[i]["out_last"] != int(m == exp.shape[0] - 1):
                    raise AssertionError(
                        f"({p_valid},{p_ready}) case {g_idx} row {m}/{exp.shape[0]}: got {y.tolist()} "
                        f"expected {exp[m].tolist()} last={got[i]['out_last']}"
                    )
                i += 1
        assert int(dut.err_overflow.value) == 0
        mon.check(f, p_valid == 1.0 and p_ready == 1.0, f"({p_valid},{p_ready})")
        dut._log.info("%d softmax groups bit-exact (p_valid=%.2f p_ready=%.2f)", len(cases), p_valid, p_ready)
