// vitaccel HLS: fused epilogue on the MAC array output (golden/ops.py: linear_acc, requant_int8, gelu,
// residual_add, head). One output element per clock per epilogue lane; the caller pipelines at II=1 and
// unrolls over the array columns it drains in parallel.
#ifndef VA_EPILOGUE_H
#define VA_EPILOGUE_H

#include "va_fixed.h"

namespace va {

// Epilogue modes (the numeric values are private to the C++ sources and their ctypes wrappers; the ISA's own
// encoding, when it has one, comes from the generated va_isa.h).
enum EpiMode {
    EPI_ACC32 = 0,     // int32 accumulator + bias (heads)
    EPI_S8 = 1,        // sat8(round_shift((acc + bias) * M, s))
    EPI_S8_GELU = 2,   // GELU table [requantized int8 code + 128], output requantization folded into the table
    EPI_RES16 = 3,     // sat16(r + round_shift((acc + bias) * M, s)): ONE saturation into the int16 residual
};

// 256-entry int8 GELU table of one layer, indexed by (int8 code + 128), i.e. by the code's bits with the sign
// bit inverted.
inline act_t gelu_lookup(const act_t table[1 << VA_ACT_BITS], act_t code) {
#pragma HLS INLINE
    ap_uint<VA_ACT_BITS> idx = ap_uint<VA_ACT_BITS>(code) ^ ap_uint<VA_ACT_BITS>(1 << (VA_ACT_BITS - 1));
    return table[idx];
}

// Residual update sat16(r + round_shift(acc * M, s)). round_shift of the 48-bit product is at most 48 bits;
// the 49-bit adder cannot overflow, so the only saturation is the final one.
inline res_t residual_update(res_t r, acc_t acc, mult_t m, shift_t s) {
#pragma HLS INLINE
    ap_int<PROD_BITS + 1> sum = ap_int<PROD_BITS + 1>(scale_round(acc, m, s)) + ap_int<PROD_BITS + 1>(r);
    return sat_signed<VA_RESIDUAL_BITS, PROD_BITS + 1>(sum);
}

// One element of the epilogue. acc is the raw array accumulator, bias the channel's int32 bias (acc + bias is
// within the int32 bound the compiler checks, golden ops.check_acc_bound). Outputs: out8 for EPI_S8 / GELU,
// res for EPI_RES16 (read-modify-write of the residual), out32 for EPI_ACC32.
struct EpiOut {
    act_t out8;
    res_t res;
    acc_t out32;
};

inline EpiOut epilogue_elem(EpiMode mode, acc_t acc, acc_t bias, mult_t m, shift_t s,
                            const act_t gelu_table[1 << VA_ACT_BITS], res_t r_in) {
#pragma HLS INLINE
    EpiOut o;
    acc_t a = acc + bias;
    act_t q = requant_s8(a, m, s);
    o.out32 = a;
    o.out8 = (mode == EPI_S8_GELU) ? gelu_lookup(gelu_table, q) : q;
    o.res = (mode == EPI_RES16) ? residual_update(r_in, a, m, s) : r_in;
    return o;
}

}  // namespace va

#endif  // VA_EPILOGUE_H
