// vitaccel HLS: MoE router (golden/moe.py, docs/numerics.md "MoE"): per-token top-k over the experts' gate
// scores, per-expert token queues (Edge-MoE's patch reordering done on chip: tokens are never copied, only
// their indices and gate weights are queued) and the combine step of the experts' outputs into the residual.
//
// The gate logits come from the MAC array (x @ Wg^T), their per-expert requantization to z is the softmax
// front end (va_softmax.h scores_to_z) and the gate weights are the softmax with 16-bit outputs.
#ifndef VA_MOE_H
#define VA_MOE_H

#include "va_fixed.h"
#include "va_softmax.h"

namespace va {

typedef ap_uint<8> expert_t;  // expert index (< 256)
typedef ap_uint<16> token_t;  // token index
typedef ap_uint<VA_GATE_BITS> gatew_t;  // gate weight, uint16 at 2^-16

// Streaming top-k of one token: scan experts e = 0, 1, ..., keep the KMAX best (z, e) pairs sorted by z
// descending. A new pair is inserted before the first kept pair with a strictly smaller z, so on equal z the
// lower expert index stays first (= golden's stable argsort of -z). One expert per clock (II = 1): the KMAX
// comparisons are parallel, the insertion is a shift of the kept list.
template <int KMAX>
struct TopK {
    z_t z[KMAX];
    expert_t e[KMAX];
    ap_uint<KMAX> valid;
};

template <int KMAX>
inline void topk_reset(TopK<KMAX> &t) {
#pragma HLS INLINE
    t.valid = 0;
}

template <int KMAX>
inline void topk_push(TopK<KMAX> &t, int k, z_t z, expert_t e) {
#pragma HLS INLINE
    // position of insertion: the first slot that is empty or holds a strictly smaller z
    ap_uint<KMAX> better;
TOPK_CMP:
    for (int i = 0; i < KMAX; i++) {
#pragma HLS UNROLL
        better[i] = (i < k) && (!t.valid[i] || z > t.z[i]);
    }
TOPK_SHIFT:
    for (int i = KMAX - 1; i >= 0; i--) {
#pragma HLS UNROLL
        bool here = better[i] && (i == 0 || !better[i - 1]);
        bool below = (i > 0) && better[i - 1];  // something is inserted above: shift down by one
        if (below && i < k) {
            t.z[i] = t.z[i - 1];
            t.e[i] = t.e[i - 1];
            t.valid[i] = t.valid[i - 1];
        } else if (here) {
            t.z[i] = z;
            t.e[i] = e;
            t.valid[i] = 1;
        }
    }
}

// Per-expert token queues, filled in increasing token index (append only). Capacity: every token once per
// expert. In the kernel these live in the parameter memory; the queue lengths decide which experts' weights
// are fetched at all (an empty queue skips the expert).
template <int EMAX, int TMAX>
struct ExpertQueues {
    ap_uint<16> len[EMAX];
    token_t tok[EMAX][TMAX];
    gatew_t gw[EMAX][TMAX];
};

template <int EMAX, int TMAX>
inline void queues_reset(ExpertQueues<EMAX, TMAX> &q, int num_experts) {
#pragma HLS INLINE
QUEUE_RESET:
    for (int e = 0; e < EMAX; e++) {
#pragma HLS UNROLL
        q.len[e] = 0;
    }
}

// Route one token: z[0..E-1] (gate scores, log2 domain), gw[0..E-1] (its 16-bit gate weights).
// Intended II = 1 per expert on the scan; the k appends are one per clock after it.
template <int KMAX, int EMAX, int TMAX>
void route_token(token_t t, const z_t z[EMAX], const gatew_t gw[EMAX], int num_experts, int k,
                 ExpertQueues<EMAX, TMAX> &q, expert_t sel[KMAX]) {
#pragma HLS INLINE off
    TopK<KMAX> best;
    topk_reset(best);
ROUTE_SCAN:
    for (int e = 0; e < num_experts; e++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = EMAX
        topk_push<KMAX>(best, k, z[e], expert_t(e));
    }
ROUTE_APPEND:
    for (int i = 0; i < k; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = KMAX
// the k selected experts are distinct, so consecutive appends never touch the same queue length
#pragma HLS DEPENDENCE variable = q.len inter false
        expert_t e = best.e[i];
        ap_uint<16> n = q.len[e];
        q.tok[e][n] = t;
        q.gw[e][n] = gw[e];
        q.len[e] = n + 1;
        sel[i] = e;
    }
}

// Combine one expert output element into the residual with ONE rounding and ONE saturation:
// r = sat16(r + round_shift(acc * mult * g, shift)). |acc * mult * g| < 2^63 (the compiler checks, golden
// combine_terms raises FitError otherwise), so a 64-bit signed product is exact.
inline res_t combine_elem(res_t r, acc_t acc, mult_t mult, gatew_t g, shift_t shift) {
#pragma HLS INLINE
    ap_int<64> p = ap_int<64>(acc) * ap_int<64>(ap_uint<VA_MULT_BITS + VA_GATE_BITS>(mult * g));
    ap_int<65> sum = ap_int<65>(round_shift<64>(p, shift)) + ap_int<65>(r);
    return sat_signed<VA_RESIDUAL_BITS, 65>(sum);
}

}  // namespace va

#endif  // VA_MOE_H
