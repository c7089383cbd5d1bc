// vitaccel HLS: integer base-2 softmax, single pass online (golden/softmax.py, docs/numerics.md "Softmax").
//
// Pass 1 walks the row strictly in increasing index order, one element per step (the rounding of each rescale
// of the running sum depends on when the running max grew; this order is part of the contract). In the kernel,
// R of these units run side by side, one per query row of the MAC array, each consuming the C scores of a
// Q.K^T tile one per clock while the array computes the next tile.
//
// All constants (fraction bits, table widths, the two 64-entry 2^-x tables) come from the generated headers
// va_params.h / va_tables.h, emitted from vitaccel.golden.
#ifndef VA_SOFTMAX_H
#define VA_SOFTMAX_H

#include "va_divide.h"
#include "va_fixed.h"
#include "va_tables.h"

namespace va {

typedef ap_int<VA_SM_Z_BITS> z_t;                    // log2-domain score, LSB 2^-12, int24
typedef ap_int<VA_SM_Z_BITS - VA_SM_FRAC_BITS + 2> smax_t;  // running max: ceil(z / 2^12) in [-2^11, 2^11]
typedef ap_uint<VA_SM_SUM_BITS> ssum_t;              // running sum, < 2^40
typedef ap_uint<VA_SM_EXP_BITS + 1> sexp_t;          // 2^-(d/4096) at 2^-24, <= 2^24
typedef ap_uint<VA_SM_RECIP_BITS + 1> srecip_t;      // R in [2^15, 2^16]
// d = m * 2^12 - z >= 0: m * 2^12 is at most 2^23 and -z at most 2^23, so d < 2^24 + 2^12.
typedef ap_uint<VA_SM_Z_BITS + 2> sdist_t;

// Scores -> z: sat_int24(round_shift(acc * M, s)) (golden scores_to_z).
inline z_t scores_to_z(acc_t acc, mult_t m, shift_t s) {
#pragma HLS INLINE
    return sat_signed<VA_SM_Z_BITS, PROD_BITS>(scale_round(acc, m, s));
}

// ceil(z / 2^12) = -((-z) >> 12)
inline smax_t ceil_int(z_t z) {
#pragma HLS INLINE
    ap_int<VA_SM_Z_BITS + 1> nz = -ap_int<VA_SM_Z_BITS + 1>(z);
    return smax_t(-(nz >> VA_SM_FRAC_BITS));
}

// exp2neg(d) = round_shift(T_HI[f[11:6]] * T_LO[f[5:0]], min(6 + k, 63)), k = d >> 12, f = d & 4095.
// Two 64 x 16-bit ROMs and one 16x16 multiply; the shift is a barrel shifter (intended II = 1).
inline sexp_t exp2neg(sdist_t d) {
#pragma HLS INLINE
    ap_uint<VA_SM_FRAC_BITS> f = d(VA_SM_FRAC_BITS - 1, 0);
    ap_uint<VA_SM_Z_BITS + 2 - VA_SM_FRAC_BITS> k = d >> VA_SM_FRAC_BITS;
    ap_uint<VA_SM_TABLE_INDEX_BITS> hi = f >> VA_SM_TABLE_INDEX_BITS;
    ap_uint<VA_SM_TABLE_INDEX_BITS> lo = f & ((1 << VA_SM_TABLE_INDEX_BITS) - 1);
    ap_int<2 * (VA_SM_TABLE_VALUE_BITS + 1) + 1> prod = ap_uint<2 * (VA_SM_TABLE_VALUE_BITS + 1)>(
        VA_SM_T_HI[hi] * VA_SM_T_LO[lo]);
    const int e_shift0 = 2 * VA_SM_TABLE_VALUE_BITS - VA_SM_EXP_BITS;
    shift_t sh = (k > VA_MAX_SHIFT - e_shift0) ? shift_t(VA_MAX_SHIFT) : shift_t(k + e_shift0);
    return sexp_t(round_shift<2 * (VA_SM_TABLE_VALUE_BITS + 1) + 1>(prod, sh));
}

// Running state of one row.
struct SoftmaxState {
    smax_t m;
    ssum_t s;
};

inline void softmax_init(SoftmaxState &st, z_t z0) {
#pragma HLS INLINE
    st.m = ceil_int(z0);
    st.s = 0;
}

// One online step: m' = max(m, c_j); S = round_shift(S, min(m' - m, 63)) + exp2neg(m' * 2^12 - z_j).
// The loop-carried path is max -> barrel shift -> add (intended II = 1 on the element loop).
inline void softmax_step(SoftmaxState &st, z_t z) {
#pragma HLS INLINE
    smax_t c = ceil_int(z);
    smax_t m_new = (c > st.m) ? c : st.m;
    ap_uint<VA_SM_Z_BITS - VA_SM_FRAC_BITS + 3> grow = m_new - st.m;
    shift_t sh = (grow > VA_MAX_SHIFT) ? shift_t(VA_MAX_SHIFT) : shift_t(grow);
    ap_int<VA_SM_SUM_BITS + 1> s_signed = st.s;
    ssum_t s_res = ssum_t(round_shift<VA_SM_SUM_BITS + 1>(s_signed, sh));
    sdist_t d = sdist_t((ap_int<VA_SM_Z_BITS + 3>(m_new) << VA_SM_FRAC_BITS) - ap_int<VA_SM_Z_BITS + 3>(z));
    st.s = s_res + exp2neg(d);
    st.m = m_new;
}

// Normalised reciprocal, once per row: n = bit_length(S), R = floor((2^(n+16) + S) / (2S)).
inline void softmax_reciprocal(ssum_t s, srecip_t &r, ap_uint<8> &n) {
#pragma HLS INLINE
    n = bit_length<VA_SM_SUM_BITS>(s);
    const int NW = VA_SM_SUM_BITS + VA_SM_RECIP_BITS + 1;
    ap_uint<NW> num = (ap_uint<NW>(1) << (n + VA_SM_RECIP_BITS)) + ap_uint<NW>(s);
    ap_uint<VA_SM_SUM_BITS + 1> den = ap_uint<VA_SM_SUM_BITS + 1>(s) << 1;
    r = divide_small_quotient<VA_SM_RECIP_BITS + 1, NW, VA_SM_SUM_BITS + 1>(num, den);
}

// Pass 2, one element: p = min(round_shift(exp2neg(m * 2^12 - z) * R, n - 1 + 16 - out_bits), 2^out_bits - 1).
inline ap_uint<16> softmax_normalise(z_t z, smax_t m, srecip_t r, ap_uint<8> n, int out_bits) {
#pragma HLS INLINE
    sdist_t d = sdist_t((ap_int<VA_SM_Z_BITS + 3>(m) << VA_SM_FRAC_BITS) - ap_int<VA_SM_Z_BITS + 3>(z));
    const int PW = VA_SM_EXP_BITS + 1 + VA_SM_RECIP_BITS + 1 + 1;
    ap_int<PW> prod = ap_int<PW>(exp2neg(d)) * ap_int<PW>(r);
    shift_t sh = shift_t(n - 1 + VA_SM_RECIP_BITS - out_bits);
    ap_int<PW> p = round_shift<PW>(prod, sh);
    ap_int<PW> top = (ap_int<PW>(1) << out_bits) - 1;
    return ap_uint<16>(p > top ? top : p);
}

// A whole row (function-level unit and the kernel's fallback path): z[0..L-1] -> p[0..L-1].
template <int LMAX>
void softmax_row(const z_t z[LMAX], int len, int out_bits, ap_uint<16> p[LMAX]) {
#pragma HLS INLINE off
    SoftmaxState st;
    softmax_init(st, z[0]);
SM_PASS1:
    for (int j = 0; j < len; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = LMAX
        softmax_step(st, z[j]);
    }
    srecip_t r;
    ap_uint<8> n;
    softmax_reciprocal(st.s, r, n);
SM_PASS2:
    for (int j = 0; j < len; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = LMAX
        p[j] = softmax_normalise(z[j], st.m, r, n, out_bits);
    }
}

}  // namespace va

#endif  // VA_SOFTMAX_H
