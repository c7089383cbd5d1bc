"""cocotb testbench: vitaccel_moe_router vs golden.moe (gate z, uint16 gate softmax, top-k with the lower-index
tie rule, per-expert token queues with gate weights)."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

import tbutil
from tbutil import Source, pack, val
from vitaccel.golden.fixedpoint import GATE_BITS, SM_Z_BITS, requantize
from vitaccel.golden.moe import expert_queues, topk_lower_index
from vitaccel.golden.softmax import softmax_params, softmax_z


def cases(gen: np.random.Generator, lanes: int, max_e: int, max_t: int, topk_max: int, n_random: int):
    """(logits (T, E) int32, mult (E,), shift (E,), k) cases: corners first."""
    out = []
    e = max_e
    p = softmax_params(np.full(e, 4.0 / (1 << 14)), GATE_BITS)
    mult, shift = np.asarray(p.mult), np.asarray(p.shift)
    out.append((np.full((max_t, e), 777), mult, shift, topk_max))   # all tie: expert 0..k-1 queues FULL, rest empty
    one = np.full((max_t - 1, e), -3000)
    one[:, e - 1] = 3000
    out.append((one, mult, shift, 1))                                # everyone picks the last expert
    out.append((gen.integers(-2, 3, (lanes + 1, e)) * 1000, mult, shift, topk_max))  # many ties, short last group
    out.append((gen.integers(-(1 << 31), 1 << 31, (3, e)), np.asarray(softmax_params(np.full(e, 1e-3), 16).mult),
                np.asarray(softmax_params(np.full(e, 1e-3), 16).shift), topk_max))  # z saturates at +-2^23
    out.append((gen.integers(-20000, 20000, (5, 1)), mult[:1], shift[:1], 1))  # a single expert
    # z at the int24 saturation edges: logit * mult * 2 >>> shift next to +-2^24 and +-2^25 (shift 0..3, mult 1 or 3)
    edge = np.array([(1 << 23) - 1, 1 << 23, -(1 << 23), -(1 << 23) - 1, (1 << 24) - 2, (1 << 24) - 1, -(1 << 24) - 1,
                     -(1 << 24) - 2, (1 << 25) - 1, 1 << 25, -(1 << 25), -(1 << 25) - 1, (1 << 31) - 1, -(1 << 31), 0, -1])
    t_e = min(max_t, edge.size)
    out.append((np.stack([np.roll(edge, i)[:t_e] for i in range(e)], axis=1), np.array([1, 3] * e)[:e],
                np.arange(e) % 4, topk_max))
    for _ in range(n_random):
        ee = int(gen.integers(2, max_e + 1))
        t = int(gen.integers(1, max_t + 1))
        pp = softmax_params(10.0 ** gen.uniform(-5, -3, ee), GATE_BITS)
        out.append((gen.integers(-(1 << 15), 1 << 15, (t, ee)), np.asarray(pp.mult), np.asarray(pp.shift),
                    int(gen.integers(1, topk_max + 1))))
    return out


@cocotb.test()
async def router_queues(dut):
    c = tbutil.cfg()
    lanes, max_e, max_t = int(dut.LANES.value), int(dut.MAX_EXPERTS.value), int(dut.MAX_TOKENS.value)
    topk_max = int(dut.TOPK_MAX.value)
    gen = tbutil.rng()
    dut.clear.value = 0
    await tbutil.start(dut)
    for p_valid in (1.0, 0.5):
        for ci, (logits, mult, shift, k) in enumerate(cases(gen, lanes, max_e, max_t, topk_max, int(c.get("n_random", 4)))):
            t, e = logits.shape
            z = requantize(logits, mult[None, :], shift[None, :], bits=SM_Z_BITS, signed=True)
            gw = softmax_z(z, GATE_BITS)
            queues = expert_queues(topk_lower_index(z, k), e)
            await FallingEdge(dut.clk)
            dut.clear.value, dut.cfg_topk.value = 1, k
            await FallingEdge(dut.clk)
            dut.clear.value = 0
            beats = []
            for g in range(0, t, lanes):
                blk = np.zeros((lanes, e), dtype=np.int64)
                n = min(lanes, t - g)
                blk[:n] = logits[g:g + n]
                for ex in range(e):
                    beats.append({"in_logit": pack(blk[:, ex], 32), "in_mult": int(mult[ex]), "in_shift": int(shift[ex]),
                                  "in_tok_valid": (1 << n) - 1, "in_last": int(ex == e - 1)})
            await Source(dut, "in_valid", "in_ready", p_valid, gen).send(beats)
            for _ in range(100000):
                await FallingEdge(dut.clk)
                await ReadOnly()
                if not int(dut.busy.value):
                    break
            else:
                raise AssertionError("router stayed busy")
            for ex in range(max_e):
                await FallingEdge(dut.clk)
                dut.rd_expert.value = ex
                dut.len_expert.value = ex
                dut.len_expert2.value = ex
                await ReadOnly()
                qlen = val(dut.q_len)
                assert val(dut.q_len2) == qlen, f"case {ci}: second length port differs for expert {ex}"
                exp_q = queues[ex] if ex < e else np.zeros(0, dtype=np.int64)
                assert qlen == len(exp_q), f"case {ci} (T={t} E={e} k={k}) expert {ex}: queue length {qlen}, expected {len(exp_q)}"
                for i, tok in enumerate(exp_q.tolist()):
                    await FallingEdge(dut.clk)
                    dut.rd_index.value = i
                    await FallingEdge(dut.clk)
                    await ReadOnly()
                    got = (val(dut.rd_token), val(dut.rd_weight))
                    assert got == (tok, int(gw[tok, ex])), (
                        f"case {ci} expert {ex} entry {i}: got token/weight {got}, expected {(tok, int(gw[tok, ex]))}")
            assert int(dut.err_overflow.value) == 0
            dut._log.info("case %d: T=%d E=%d k=%d queues %s bit-exact", ci, t, e, k, [len(q) for q in queues])
