// vitaccel HLS: the unified int8 MAC array (R x C, int32 accumulators).
//
// Every matrix product of the model runs on this one array: patch embedding, Q/K/V/proj, Q.K^T, A.V, FC1/FC2,
// experts, gates and heads. Schedule: output stationary. A tile is R rows (tokens) x C columns (output
// channels); each step k broadcasts one column of A (R operands) along the rows and one row of W (C weights)
// along the columns, and every cell does acc += a * w. One step per clock (II=1) keeps R*C multipliers busy.
//
// Operand A is int8 (activations) or uint8 (softmax probabilities in A.V): both are extended to a 9-bit signed
// operand, so one array serves both without a mode in the multiplier itself. 9 x 8 bit products fit one
// DSP48E1 (25x18) / DSP48E2 (27x18) multiplier; on DSP48E2 two int8 weights of one shared operand can be packed
// into the 27-bit port (the board config counts 2 MACs per DSP48E2) -- HLS infers that packing only in some
// releases, so the resource figure must come from a synthesis report, not from this comment.
#ifndef VA_GEMM_H
#define VA_GEMM_H

#include "va_types.h"

namespace va {

// Extend a raw 8-bit code to the array operand: sign-extend (int8) or zero-extend (uint8).
inline opnd_t to_operand(ap_uint<VA_ACT_BITS> raw, bool a_unsigned) {
#pragma HLS INLINE
    ap_int<VA_ACT_BITS> s = raw;  // reinterpret the bits
    return a_unsigned ? opnd_t(raw) : opnd_t(s);
}

// One clock of the array: acc[r][c] += a[r] * w[c] for all R*C cells (fully unrolled; the caller pipelines).
template <int R, int C>
inline void mac_step(const opnd_t a[R], const wgt_t w[C], acc_t acc[R][C]) {
#pragma HLS INLINE
ROWS:
    for (int r = 0; r < R; r++) {
#pragma HLS UNROLL
    COLS:
        for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
            acc[r][c] += a[r] * w[c];
        }
    }
}

// A full tile: acc = (accumulate ? acc : 0) + sum_{k<K} A[r][k] * W[k][c].
// a: R x KMAX raw 8-bit codes (row r = token), w: KMAX x C int8 weights (row k = input channel).
// Intended II = 1 on the K loop: a is partitioned on its row dimension (R reads per clock), w on its column
// dimension (C reads per clock), acc completely (R*C registers). Latency ~ K + pipeline depth.
template <int R, int C, int KMAX>
void gemm_tile(const ap_uint<VA_ACT_BITS> a[R][KMAX], bool a_unsigned, const wgt_t w[KMAX][C], int K,
               bool accumulate, acc_t acc[R][C]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable = a complete dim = 1
#pragma HLS ARRAY_PARTITION variable = w complete dim = 2
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
    if (!accumulate) {
    CLEAR_R:
        for (int r = 0; r < R; r++) {
#pragma HLS UNROLL
        CLEAR_C:
            for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
                acc[r][c] = 0;
            }
        }
    }
STEP_K:
    for (int k = 0; k < K; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = KMAX
        opnd_t av[R];
        wgt_t wv[C];
#pragma HLS ARRAY_PARTITION variable = av complete
#pragma HLS ARRAY_PARTITION variable = wv complete
    LOAD_A:
        for (int r = 0; r < R; r++) {
#pragma HLS UNROLL
            av[r] = to_operand(a[r][k], a_unsigned);
        }
    LOAD_W:
        for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
            wv[c] = w[k][c];
        }
        mac_step<R, C>(av, wv, acc);
    }
}

}  // namespace va

#endif  // VA_GEMM_H
