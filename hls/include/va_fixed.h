// vitaccel HLS: the fixed-point rules of vitaccel.golden.fixedpoint, bit for bit.
//
// round_shift(x, s) = floor((x + 2^(s-1)) / 2^s) for s > 0, x for s == 0 (round half toward +inf).
// Implemented as ((x >> (s-1)) + 1) >> 1, which is the same value (write x = q*2^(s-1) + r, 0 <= r < 2^(s-1))
// but needs no adder wider than x and stays exact for shifts larger than the width of x (the golden model
// works in int64; here x >> (s-1) with s-1 >= W is the sign fill, giving 0 or -1, then (0+1)>>1 = 0 and
// (-1+1)>>1 = 0, exactly the golden result for |x| < 2^(s-1)).
#ifndef VA_FIXED_H
#define VA_FIXED_H

#include "va_types.h"

namespace va {

template <int W>
inline ap_int<W> round_shift(ap_int<W> x, shift_t s) {
#pragma HLS INLINE
    if (s == 0) return x;
    ap_int<W + 1> q = x;
    q >>= (s - 1);  // arithmetic shift: sign fill
    q += 1;
    return ap_int<W>(q >> 1);
}

// Clamp a signed value to the range of an OUT_W-bit signed integer (never wrap).
template <int OUT_W, int W>
inline ap_int<OUT_W> sat_signed(ap_int<W> x) {
#pragma HLS INLINE
    const ap_int<W> hi = (ap_int<W>(1) << (OUT_W - 1)) - 1;
    const ap_int<W> lo = -(ap_int<W>(1) << (OUT_W - 1));
    if (x > hi) return ap_int<OUT_W>(hi);
    if (x < lo) return ap_int<OUT_W>(lo);
    return ap_int<OUT_W>(x);
}

// Clamp a signed value to the range of an OUT_W-bit unsigned integer.
template <int OUT_W, int W>
inline ap_uint<OUT_W> sat_unsigned(ap_int<W> x) {
#pragma HLS INLINE
    const ap_int<W + 1> hi = (ap_int<W + 1>(1) << OUT_W) - 1;
    if (x < 0) return 0;
    if (ap_int<W + 1>(x) > hi) return ap_uint<OUT_W>(hi);
    return ap_uint<OUT_W>(x);
}

// acc * M, then round_shift by s: the common core of requantization (48-bit product, DSP-friendly: one
// 27x18 on DSP48E2 is too narrow for 32x17, so HLS cascades two DSPs per product; the epilogue runs once per
// output element, not per MAC).
inline prod_t scale_round(acc_t acc, mult_t m, shift_t s) {
#pragma HLS INLINE
    prod_t p = prod_t(acc) * prod_t(m);
    return round_shift<PROD_BITS>(p, s);
}

// fixedpoint.requantize(acc, M, s, bits=8, signed=True)
inline act_t requant_s8(acc_t acc, mult_t m, shift_t s) {
#pragma HLS INLINE
    return sat_signed<VA_ACT_BITS, PROD_BITS>(scale_round(acc, m, s));
}

// fixedpoint.requantize(acc, M, s, bits=8, signed=False)
inline uact_t requant_u8(acc_t acc, mult_t m, shift_t s) {
#pragma HLS INLINE
    return sat_unsigned<VA_ACT_BITS, PROD_BITS>(scale_round(acc, m, s));
}

// fixedpoint.requantize(acc, M, s, bits=16, signed=True)
inline res_t requant_s16(acc_t acc, mult_t m, shift_t s) {
#pragma HLS INLINE
    return sat_signed<VA_RESIDUAL_BITS, PROD_BITS>(scale_round(acc, m, s));
}

}  // namespace va

#endif  // VA_FIXED_H
