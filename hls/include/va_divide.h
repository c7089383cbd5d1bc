// vitaccel HLS: the two exact integer kernels the normalisers need, written as short fixed-trip loops so HLS
// builds one small sequential unit (no generic divider core, no floating point).
#ifndef VA_DIVIDE_H
#define VA_DIVIDE_H

#include "va_types.h"

namespace va {

// floor(num / den) for a quotient known to be < 2^QBITS (restoring division, one quotient bit per iteration).
// Used for R = floor((2^(n+16) + S) / (2S)) (softmax) and Rr = floor((2^47 + q) / (2q)) (LayerNorm), both in
// [2^15, 2^16]: QBITS = 17. Intended II = 1 per iteration (a NW-bit compare-subtract), latency QBITS clocks.
template <int QBITS, int NW, int DW>
ap_uint<QBITS> divide_small_quotient(ap_uint<NW> num, ap_uint<DW> den) {
#pragma HLS INLINE off
    ap_uint<NW> rem = num;
    ap_uint<QBITS> quot = 0;
DIV_BITS:
    for (int b = QBITS - 1; b >= 0; b--) {
#pragma HLS PIPELINE II = 1
        ap_uint<NW + QBITS> d = ap_uint<NW + QBITS>(den) << b;
        if (ap_uint<NW + QBITS>(rem) >= d) {
            rem = rem - ap_uint<NW>(d);
            quot[b] = 1;
        }
    }
    return quot;
}

// floor(sqrt(x)) of an unsigned W-bit value (W even), digit by digit: W/2 iterations of a compare-subtract,
// no multiplier. Intended II = 1 per iteration.
template <int W>
ap_uint<W / 2> isqrt_floor(ap_uint<W> x) {
#pragma HLS INLINE off
    ap_uint<W + 1> rem = x;
    ap_uint<W + 1> res = 0;
    ap_uint<W + 1> bit = ap_uint<W + 1>(1) << (W - 2);
ISQRT_DIGITS:
    for (int i = 0; i < W / 2; i++) {
#pragma HLS PIPELINE II = 1
        if (rem >= res + bit) {
            rem -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return ap_uint<W / 2>(res);
}

// Bit length of a positive value (position of the leading one + 1); 0 for 0. A priority encoder.
template <int W>
inline ap_uint<8> bit_length(ap_uint<W> x) {
#pragma HLS INLINE
    ap_uint<8> n = 0;
BITLEN:
    for (int i = 0; i < W; i++) {
#pragma HLS UNROLL
        if (x[i]) n = i + 1;
    }
    return n;
}

}  // namespace va

#endif  // VA_DIVIDE_H
