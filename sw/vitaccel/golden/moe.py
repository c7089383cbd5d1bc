"""Integer task-gated mixture of experts (M3ViT routing, Edge-MoE patch reordering). docs/numerics.md "MoE".

For the int8 MoE input x (T, D) (the norm2 output) and task t:
  1. gate logits  a = x @ Wg[t]^T (int8 x int8 -> int32, no bias), (T, E);
  2. z = sat_int24(round_shift(a[:, e] * gate_mult[t, e], gate_shift[t, e])): per-expert requantization into the
     softmax's log2 domain (each expert's gate row has its own weight scale, so the raw int32 logits are not
     comparable across experts, z is);
  3. gate weights g = integer softmax of z over ALL experts (golden/softmax.py, online in increasing expert
     index), uint16 codes at 2^-16 (saturating at 65535);
  4. top-k per token by z, descending; on equal z the lower expert index wins (a streaming unit keeps the k best
     (z, e) pairs and replaces only on strictly greater z while scanning e = 0, 1, ...). The k weights are NOT
     renormalised;
  5. per-expert token queues: for e = 0..E-1, the tokens that selected e, in increasing token index (Edge-MoE
     patch reordering; empty queues are skipped: the expert's weights are never fetched);
  6. expert e on its queue: h = sat8(round_shift((x[q] @ W1[e]^T + b1[e]) * m1, s1)); h = GELU_e[h + 128];
     acc = h @ W2[e]^T + b2[e] (int32);
  7. combine with ONE rounding: c = round_shift(acc * comb_mult[e, n] * g[token, e], comb_shift[e, n]), where
     comb_mult * 2^-comb_shift encodes s_acc[e, n] / s_res / 2^16 (the 2^-16 of the gate weight is folded in);
  8. scatter-add into the int16 residual r[token] = sat16(r[token] + c), in increasing expert index, then
     increasing token index (saturation is not associative, so the order is part of the contract).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitaccel.errors import FitError
from vitaccel.golden.fixedpoint import (
    GATE_BITS,
    INT64,
    RESIDUAL_BITS,
    SM_Z_BITS,
    requantize,
    round_shift,
    saturate,
)
from vitaccel.golden.ops import gelu, gemm, requant_int8
from vitaccel.golden.softmax import softmax_z


@dataclass(frozen=True)
class MoEParams:
    """Integer parameters of one MoE block (E experts, hidden H, dim D, n_tasks gates).

    gate_weight int8 (n_tasks, E, D); gate_mult uint16 / gate_shift 0..63 (n_tasks, E);
    fc1_weight int8 (E, H, D), fc1_bias int32 (E, H), fc1_mult / fc1_shift (E, H) -> int8 GELU input;
    gelu_table int8 (E, 256); fc2_weight int8 (E, D, H), fc2_bias int32 (E, D);
    comb_mult uint16 / comb_shift 0..63 (E, D): combine into the residual scale with the gate weight.
    """

    top_k: int
    gate_weight: np.ndarray
    gate_mult: np.ndarray
    gate_shift: np.ndarray
    fc1_weight: np.ndarray
    fc1_bias: np.ndarray
    fc1_mult: np.ndarray
    fc1_shift: np.ndarray
    gelu_table: np.ndarray
    fc2_weight: np.ndarray
    fc2_bias: np.ndarray
    comb_mult: np.ndarray
    comb_shift: np.ndarray

    @property
    def num_experts(self) -> int:
        return int(self.fc1_weight.shape[0])


def gate_z(x: np.ndarray, p: MoEParams, task: int, name: str = "moe") -> tuple[np.ndarray, np.ndarray]:
    """(int32 gate logits (T, E), z (T, E) int24 log2-domain codes) for task `task`."""
    logits = gemm(x, p.gate_weight[task], None, name=f"{name}.gate")
    z = requantize(logits, p.gate_mult[task][None, :], p.gate_shift[task][None, :], bits=SM_Z_BITS, signed=True)
    return logits, z


def topk_lower_index(z: np.ndarray, k: int) -> np.ndarray:
    """Indices (T, k) of the k largest z per row, descending; equal values: the lower index first."""
    order = np.argsort(-np.asarray(z, dtype=INT64), axis=-1, kind="stable")
    return order[..., :k]


def expert_queues(topk: np.ndarray, num_experts: int) -> list[np.ndarray]:
    """For each expert e, the increasing token indices whose top-k contains e (possibly empty)."""
    topk = np.asarray(topk)
    return [np.nonzero((topk == e).any(axis=-1))[0] for e in range(num_experts)]


def combine_terms(acc: np.ndarray, gate_w: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                  name: str = "moe") -> np.ndarray:
    """c[i, n] = round_shift(acc[i, n] * mult[n] * gate_w[i], shift[n]) (one rounding), int64.

    acc: int32 expert output accumulators (Q, D); gate_w: uint16 gate weights of those tokens (Q,).
    The product is < 2^31 * 2^16 * 2^16 = 2^63; FitError if adding the rounding half could overflow 64 bits.
    """
    acc = np.asarray(acc, dtype=INT64)
    g = np.asarray(gate_w, dtype=INT64)
    m = np.asarray(mult, dtype=INT64)
    sh = np.asarray(shift, dtype=INT64)
    if acc.size:
        worst = int(np.abs(acc).max()) * int(m.max()) * int(g.max()) + (1 << max(int(sh.max()) - 1, 0))
        if worst >= (1 << 63):
            raise FitError(f"{name}: combine product {worst} exceeds the 64-bit combine datapath")
    return round_shift(acc * m[None, :] * g[:, None], sh[None, :])


def moe(r: np.ndarray, x: np.ndarray, p: MoEParams, task: int, name: str = "moe",
        trace: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """MoE block update of the int16 residual r (T, D) from the int8 MoE input x (T, D) (see module docstring).

    Returns the new residual (int64 holding int16). With `trace`: gate logits, z, gate weights (uint16),
    top-k indices, and per expert the queue, hidden and combine terms.
    """
    logits, z = gate_z(x, p, task, name)
    gw = softmax_z(z, GATE_BITS)
    topk = topk_lower_index(z, p.top_k)
    queues = expert_queues(topk, p.num_experts)
    out = np.asarray(r, dtype=INT64).copy()
    if trace is not None:
        trace[f"{name}.gate_logits"] = logits
        trace[f"{name}.gate_z"] = z
        trace[f"{name}.gate_weights"] = gw
        trace[f"{name}.topk"] = topk.astype(INT64)
    for e, q in enumerate(queues):
        if q.size == 0:
            continue
        h = requant_int8(gemm(x[q], p.fc1_weight[e], p.fc1_bias[e], name=f"{name}.experts.{e}.fc1"),
                         p.fc1_mult[e], p.fc1_shift[e])
        h = gelu(h, p.gelu_table[e])
        acc = gemm(h, p.fc2_weight[e], p.fc2_bias[e], name=f"{name}.experts.{e}.fc2")
        c = combine_terms(acc, gw[q, e], p.comb_mult[e], p.comb_shift[e], name=f"{name}.experts.{e}")
        # each token appears at most once in a queue, so this vectorised add equals the token-by-token order
        out[q] = saturate(out[q] + c, RESIDUAL_BITS, True)
        if trace is not None:
            trace[f"{name}.experts.{e}.tokens"] = q.astype(INT64)
            trace[f"{name}.experts.{e}.gelu"] = h
            trace[f"{name}.experts.{e}.combine"] = c
    return out


__all__ = ["MoEParams", "combine_terms", "expert_queues", "gate_z", "moe", "topk_lower_index"]
