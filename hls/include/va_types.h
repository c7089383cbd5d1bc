// vitaccel HLS: basic integer types of the datapath.
//
// Every width comes from the generated header va_params.h, which vitaccel.hlsgen writes from
// vitaccel.golden.fixedpoint and the board's AcceleratorConfig (contract 1 and 3). Nothing is retyped here.
#ifndef VA_TYPES_H
#define VA_TYPES_H

#include <ap_int.h>
#include <stdint.h>

#include "va_params.h"

namespace va {

typedef ap_int<VA_ACT_BITS> act_t;          // int8 activation code
typedef ap_uint<VA_ACT_BITS> uact_t;        // uint8 code (softmax probabilities at 2^-8)
typedef ap_int<VA_ACT_BITS + 1> opnd_t;     // array operand: int8 or uint8, sign- or zero-extended to 9 bits
typedef ap_int<VA_WEIGHT_BITS> wgt_t;       // int8 weight code
typedef ap_int<VA_ACC_BITS> acc_t;          // int32 accumulator (the compiler bounds |acc| < 2^31)
typedef ap_int<VA_RESIDUAL_BITS> res_t;     // int16 residual stream
typedef ap_uint<VA_MULT_BITS> mult_t;       // requantization multiplier, unsigned 16 bit
typedef ap_uint<VA_SHIFT_BITS> shift_t;     // requantization shift, 0..63

// acc * M: a signed 32-bit times an unsigned 16-bit value needs 32 + 16 bits (the product of the two extremes,
// -2^31 * (2^16 - 1), still fits in 48 signed bits).
static const int PROD_BITS = VA_ACC_BITS + VA_MULT_BITS;
typedef ap_int<PROD_BITS> prod_t;

}  // namespace va

#endif  // VA_TYPES_H
