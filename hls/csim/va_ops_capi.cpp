// vitaccel C-simulation: extern "C" entry points over the HLS functions, for ctypes (vitaccel.hlsgen.csim).
//
// These wrappers only move data between flat C arrays and the HLS functions' ap_int buffers and walk tiles;
// every arithmetic step happens inside the HLS functions (va_*.h), which are what Vitis HLS synthesizes.
// Return value: 0 on success, a negative code when a size exceeds the wrapper's static buffers.
#include <stdint.h>
#include <string.h>

#include "va_epilogue.h"
#include "va_gemm.h"
#include "va_layernorm.h"
#include "va_moe.h"
#include "va_softmax.h"

using namespace va;

static const int R = VA_ARRAY_ROWS;
static const int C = VA_ARRAY_COLS;
static const int KMAX = 4096;  // deepest reduction the wrapper accepts (the kernel's limit is its buffers)
static const int LMAX = 4096;  // longest softmax row / LayerNorm row the wrapper accepts

extern "C" {

// Build facts: out[0..3] = rows, cols, KMAX, LMAX.
int va_info(int32_t *out) {
    out[0] = R;
    out[1] = C;
    out[2] = KMAX;
    out[3] = LMAX;
    return 0;
}

// acc[M][N] = sum_k x[M][K] * w[N][K] through the R x C array, one gemm_tile call per output tile.
// x holds raw 8-bit codes, read as uint8 when x_unsigned, else int8.
int va_gemm(const uint8_t *x, int x_unsigned, const int8_t *w, int M, int N, int K, int32_t *acc) {
    if (K > KMAX || K < 0 || M < 0 || N < 0) return -1;
    static ap_uint<VA_ACT_BITS> a_tile[R][KMAX];
    static wgt_t w_tile[KMAX][C];
    static acc_t acc_tile[R][C];
    for (int m0 = 0; m0 < M; m0 += R) {
        for (int r = 0; r < R; r++)
            for (int k = 0; k < K; k++) a_tile[r][k] = (m0 + r < M) ? x[(m0 + r) * K + k] : 0;
        for (int n0 = 0; n0 < N; n0 += C) {
            for (int k = 0; k < K; k++)
                for (int c = 0; c < C; c++) w_tile[k][c] = (n0 + c < N) ? w[(n0 + c) * K + k] : 0;
            gemm_tile<R, C, KMAX>(a_tile, x_unsigned != 0, w_tile, K, false, acc_tile);
            for (int r = 0; r < R && m0 + r < M; r++)
                for (int c = 0; c < C && n0 + c < N; c++) acc[(m0 + r) * N + n0 + c] = acc_tile[r][c].to_int();
        }
    }
    return 0;
}

// Epilogue over an (M, N) accumulator with per-channel bias / multiplier / shift.
int va_epilogue(int mode, const int32_t *acc, const int32_t *bias, const uint16_t *mult, const uint8_t *shift,
                const int8_t *gelu_table, int M, int N, const int16_t *r_in, int8_t *out8, int16_t *res_out,
                int32_t *out32) {
    act_t table[1 << VA_ACT_BITS];
    for (int i = 0; i < (1 << VA_ACT_BITS); i++) table[i] = gelu_table ? gelu_table[i] : 0;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            int i = m * N + n;
            res_t r = r_in ? res_t(r_in[i]) : res_t(0);
            EpiOut o = epilogue_elem(EpiMode(mode), acc_t(acc[i]), acc_t(bias[n]), mult_t(mult[n]),
                                     shift_t(shift[n]), table, r);
            if (out8) out8[i] = (int8_t)o.out8.to_int();
            if (res_out) res_out[i] = (int16_t)o.res.to_int();
            if (out32) out32[i] = o.out32.to_int();
        }
    }
    return 0;
}

// z = sat_int24(round_shift(acc * M, s)) with per-column multiplier / shift (n columns per row).
int va_scores_to_z(const int32_t *acc, int rows, int n, const uint16_t *mult, const uint8_t *shift, int32_t *z) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < n; j++)
            z[i * n + j] = scores_to_z(acc_t(acc[i * n + j]), mult_t(mult[j]), shift_t(shift[j])).to_int();
    return 0;
}

// Softmax over rows of z (int24 log2-domain codes): p = uint8 / uint16 codes.
int va_softmax(const int32_t *z, int rows, int len, int out_bits, uint16_t *p) {
    if (len < 1 || len > LMAX) return -1;
    static z_t zr[LMAX];
    static ap_uint<16> pr[LMAX];
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < len; j++) zr[j] = z[i * len + j];
        softmax_row<LMAX>(zr, len, out_bits, pr);
        for (int j = 0; j < len; j++) p[i * len + j] = (uint16_t)pr[j].to_uint();
    }
    return 0;
}

// Softmax statistics only (pass 1): running max m and sum S per row (checks the online order on its own).
int va_softmax_stats(const int32_t *z, int rows, int len, int32_t *m, int64_t *s) {
    for (int i = 0; i < rows; i++) {
        SoftmaxState st;
        softmax_init(st, z_t(z[i * len]));
        for (int j = 0; j < len; j++) softmax_step(st, z_t(z[i * len + j]));
        m[i] = st.m.to_int();
        s[i] = (int64_t)st.s.to_uint64();
    }
    return 0;
}

// LayerNorm over rows of int16 codes.
int va_layernorm(const int16_t *x, int rows, int c, int64_t eps, const int16_t *gamma, const int32_t *beta,
                 int out_shift, int8_t *out) {
    if (c < 1 || c > LMAX) return -1;
    static res_t xr[LMAX];
    static ap_int<VA_LN_GAMMA_BITS> g[LMAX];
    static ap_int<VA_LN_BETA_BITS> b[LMAX];
    static act_t o[LMAX];
    for (int j = 0; j < c; j++) {
        g[j] = gamma[j];
        b[j] = beta[j];
    }
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < c; j++) xr[j] = x[i * c + j];
        layernorm_row<LMAX>(xr, c, ln_d_t(eps), g, b, shift_t(out_shift), o);
        for (int j = 0; j < c; j++) out[i * c + j] = (int8_t)o[j].to_int();
    }
    return 0;
}

// MoE routing of T tokens over E experts: z (T, E) gate scores, gw (T, E) uint16 gate weights (the 16-bit
// softmax of z), top-k k. Outputs: sel (T, k) selected experts in order, qlen (E), qtok / qgw (E, T) queues.
static const int MOE_KMAX = 8;
static const int MOE_TMAX = 1024;
int va_moe_route(const int32_t *z, const uint16_t *gw, int T, int E, int k, int32_t *sel, int32_t *qlen,
                 int32_t *qtok, int32_t *qgw) {
    if (E < 1 || E > VA_MAX_EXPERTS || k < 1 || k > MOE_KMAX || k > E || T < 0 || T > MOE_TMAX) return -1;
    static ExpertQueues<VA_MAX_EXPERTS, MOE_TMAX> q;
    queues_reset(q, E);
    z_t zr[VA_MAX_EXPERTS];
    gatew_t gr[VA_MAX_EXPERTS];
    expert_t s[MOE_KMAX];
    for (int t = 0; t < T; t++) {
        for (int e = 0; e < E; e++) {
            zr[e] = z[t * E + e];
            gr[e] = gw[t * E + e];
        }
        route_token<MOE_KMAX, VA_MAX_EXPERTS, MOE_TMAX>(token_t(t), zr, gr, E, k, q, s);
        for (int i = 0; i < k; i++) sel[t * k + i] = s[i].to_int();
    }
    for (int e = 0; e < E; e++) {
        qlen[e] = q.len[e].to_int();
        for (int i = 0; i < qlen[e]; i++) {
            qtok[e * T + i] = q.tok[e][i].to_int();
            qgw[e * T + i] = q.gw[e][i].to_int();
        }
    }
    return 0;
}

// Combine: r[i, n] = sat16(r[i, n] + round_shift(acc[i, n] * mult[n] * g[i], shift[n])) for Q queued tokens.
int va_combine(const int32_t *acc, const uint16_t *g, const uint16_t *mult, const uint8_t *shift, int Q, int N,
               int16_t *r) {
    for (int i = 0; i < Q; i++)
        for (int n = 0; n < N; n++)
            r[i * N + n] = (int16_t)combine_elem(res_t(r[i * N + n]), acc_t(acc[i * N + n]), mult_t(mult[n]),
                                                 gatew_t(g[i]), shift_t(shift[n])).to_int();
    return 0;
}

}  // extern "C"
