// vitaccel HLS: streaming integer LayerNorm of int16 residual codes -> int8 (golden/ops.py layernorm,
// docs/numerics.md "LayerNorm"): exact statistics, floor integer sqrt of the normalised variance numerator,
// normalised reciprocal, per-channel int16 gamma multiplier and int32 beta.
//
// Pass 1 (II = 1 per channel): S1 = sum x, S2 = sum x^2. Statistics (once per row, ~50 clocks: 31 sqrt digits +
// 17 quotient bits): D = C*S2 - S1^2 + eps; g = (62 - bit_length(D)) / 2; q = isqrt(D << 2g);
// Rr = floor((2^47 + q) / (2q)). Pass 2 (II = 1 per channel): y = round_shift((C x - S1) * Rr, 32 - g),
// out = sat8(round_shift(y * gamma + beta, out_shift)).
#ifndef VA_LAYERNORM_H
#define VA_LAYERNORM_H

#include "va_divide.h"
#include "va_fixed.h"

namespace va {

static const int LN_MAX_C_BITS = 12;                            // C <= 4096 (golden FitError beyond)
typedef ap_int<VA_RESIDUAL_BITS + LN_MAX_C_BITS + 1> ln_s1_t;   // |S1| <= 4096 * 2^15
typedef ap_uint<2 * VA_RESIDUAL_BITS + LN_MAX_C_BITS> ln_s2_t;  // S2 <= 4096 * 2^30
typedef ap_uint<VA_LN_NORM_BITS> ln_d_t;                        // D < 2^62
typedef ap_uint<VA_LN_NORM_BITS / 2> ln_q_t;                    // q in [2^30, 2^31)
typedef ap_uint<VA_MULT_BITS + 1> ln_rr_t;                      // Rr in [2^15, 2^16]
// |y| = |C (x - mean)| / sqrt(C^2 var + eps) * 2^14 <= sqrt(C - 1) * 2^14 (1 + 2^-14) < 2^20: 22 bits hold it.
typedef ap_int<22> ln_y_t;

struct LnStats {
    ln_s1_t s1;
    ln_rr_t rr;
    shift_t y_shift;  // 46 - 14 - g
};

// Statistics of one row from its sums. c: channel count, eps: the integer epsilon (>= 1).
inline LnStats layernorm_stats(ln_s1_t s1, ln_s2_t s2, ap_uint<LN_MAX_C_BITS + 1> c, ln_d_t eps) {
#pragma HLS INLINE
    ap_int<VA_LN_NORM_BITS + 2> d = ap_int<VA_LN_NORM_BITS + 2>(c) * ap_int<VA_LN_NORM_BITS + 2>(s2) -
                                    ap_int<VA_LN_NORM_BITS + 2>(s1) * ap_int<VA_LN_NORM_BITS + 2>(s1) +
                                    ap_int<VA_LN_NORM_BITS + 2>(eps);
    ln_d_t du = ln_d_t(d);
    ap_uint<8> n = bit_length<VA_LN_NORM_BITS>(du);
    ap_uint<8> g = (VA_LN_NORM_BITS - n) >> 1;
    ln_d_t dn = du << (2 * g);
    ln_q_t q = isqrt_floor<VA_LN_NORM_BITS>(dn);
    const int NW = VA_LN_RECIP_SHIFT + 2;
    ap_uint<NW> num = (ap_uint<NW>(1) << (VA_LN_RECIP_SHIFT + 1)) + ap_uint<NW>(q);
    ap_uint<VA_LN_NORM_BITS / 2 + 1> den = ap_uint<VA_LN_NORM_BITS / 2 + 1>(q) << 1;
    LnStats st;
    st.s1 = s1;
    st.rr = divide_small_quotient<VA_MULT_BITS + 1, NW, VA_LN_NORM_BITS / 2 + 1>(num, den);
    st.y_shift = VA_LN_RECIP_SHIFT - VA_LN_FRAC_BITS - g;
    return st;
}

// Pass 2, one channel.
inline act_t layernorm_out(res_t x, const LnStats &st, ap_uint<LN_MAX_C_BITS + 1> c,
                           ap_int<VA_LN_GAMMA_BITS> gamma, ap_int<VA_LN_BETA_BITS> beta, shift_t out_shift) {
#pragma HLS INLINE
    ap_int<VA_RESIDUAL_BITS + LN_MAX_C_BITS + 3> num = ap_int<VA_RESIDUAL_BITS + LN_MAX_C_BITS + 3>(c) * x - st.s1;
    const int YW = VA_RESIDUAL_BITS + LN_MAX_C_BITS + 3 + VA_MULT_BITS + 2;
    ap_int<YW> yw = round_shift<YW>(ap_int<YW>(num) * ap_int<YW>(st.rr), st.y_shift);
    ln_y_t y = ln_y_t(yw);
    const int OW = 22 + VA_LN_GAMMA_BITS + 2;
    ap_int<OW> o = ap_int<OW>(y) * ap_int<OW>(gamma) + ap_int<OW>(beta);
    return sat_signed<VA_ACT_BITS, OW>(round_shift<OW>(o, out_shift));
}

// A whole row: x[0..C-1] int16 -> out[0..C-1] int8.
template <int CMAX>
void layernorm_row(const res_t x[CMAX], int c, ln_d_t eps, const ap_int<VA_LN_GAMMA_BITS> gamma[CMAX],
                   const ap_int<VA_LN_BETA_BITS> beta[CMAX], shift_t out_shift, act_t out[CMAX]) {
#pragma HLS INLINE off
    ln_s1_t s1 = 0;
    ln_s2_t s2 = 0;
LN_SUMS:
    for (int i = 0; i < c; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CMAX
        res_t v = x[i];
        s1 += v;
        s2 += ap_uint<2 * VA_RESIDUAL_BITS>(v * v);
    }
    LnStats st = layernorm_stats(s1, s2, c, eps);
LN_OUT:
    for (int i = 0; i < c; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CMAX
        out[i] = layernorm_out(x[i], st, c, gamma[i], beta[i], out_shift);
    }
}

}  // namespace va

#endif  // VA_LAYERNORM_H
