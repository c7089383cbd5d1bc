// vitaccel HLS: the instruction-driven accelerator (contract 2: vitaccel.isa, docs/isa.md).
//
// Sequencer: fetch 256-bit instructions over the program m_axi port, decode with the field positions of the
// generated va_isa.h, check them (illegal opcode, version, reserved bits, enums, dimensions, alignment,
// on-chip / DDR ranges, weight-buffer protocol) and dispatch to the engines:
//   LOAD / STORE / IM2COL   DMA between DDR and the on-chip buffers (ACT, weight-buffer halves)
//   GEMM                    the unified R x C MAC array (va_gemm.h) + fused epilogue (va_epilogue.h) incl.
//                           softmax over rows (va_softmax.h) and MoE combine (va_moe.h)
//   LAYERNORM               streaming integer LayerNorm (va_layernorm.h)
//   ROUTE                   gate requantization, 16-bit softmax, top-k, per-expert token queues (va_moe.h)
// The first error stops execution: STATUS = code | error << 8 | done << 9, ERROR_PC = instruction index.
//
// Double buffering: a LOAD into a weight-buffer half is checked and booked at dispatch (program order, so errors
// carry its own index) and its data movement is deferred to overlap the next compute instruction, which by the
// WBUF protocol reads the other half (overlapped_step). The engines themselves run one instruction at a time.
// Whether Vitis HLS schedules the overlapped step concurrently (DATAFLOW) is not verified here: no vendor tool.
// Nothing here is a performance claim.
#ifndef VA_KERNEL_H
#define VA_KERNEL_H

#include "va_epilogue.h"
#include "va_gemm.h"
#include "va_isa.h"
#include "va_isa_ext.h"
#include "va_layernorm.h"
#include "va_moe.h"
#include "va_softmax.h"

namespace va {

typedef ap_uint<VA_AXI_DATA_BITS> word_t;
typedef ap_uint<VA_INSTR_BITS> instr_t;
static const int WORD_BYTES = VA_AXI_DATA_BITS / 8;
static const int INSTR_WORDS = VA_INSTR_BYTES / WORD_BYTES;
static const int R = VA_ARRAY_ROWS;
static const int C = VA_ARRAY_COLS;
static_assert((1 << LN_MAX_C_BITS) == VA_UA_LN_MAX_COLS, "va_layernorm.h widths must cover uarch.LN_MAX_COLS channels");
static const int ACT_BYTES = VA_CFG_ACT_BYTES;
static const int WBUF_BYTES = VA_CFG_WBUF_HALF_BYTES;
static const int TOPK_MAX = VA_MAX_TOPK;  // top-k width of the router (AcceleratorConfig.max_topk; k > it: UNSUPPORTED)

// Field extraction with the generated positions: FIELD(w, GEMM, M) = bits [LO + W - 1 : LO] of w.
#define VA_FIELD(w, OP, NAME) \
    ((w).range(VA_F_##OP##_##NAME##_LO + VA_F_##OP##_##NAME##_W - 1, VA_F_##OP##_##NAME##_LO).to_uint64())

// Sizes of the three DDR regions (from the memory-image header); every DDR access is checked against them.
struct DdrSizes {
    uint64_t image_bytes;
    uint64_t input_bytes;
    uint64_t output_bytes;
};

// The three m_axi ports are passed as separate pointer arguments down to the engines (never through a struct or
// a selected pointer, which HLS cannot map onto distinct AXI masters).
#define VA_PORTS const word_t *image, const word_t *input, word_t *output
#define VA_PORT_ARGS image, input, output

// On-chip state of the accelerator. The arrays are the activation buffer, the two weight-buffer halves
// (operand tiles + parameter records) and the MoE queues of the last ROUTE.
struct OnChip {
    ap_uint<8> act[ACT_BYTES];
    ap_uint<8> wbuf[2][WBUF_BYTES];
    bool wbuf_loaded[2];
    ExpertQueues<VA_MAX_EXPERTS, VA_MAX_TOKENS> q;
    int route_experts;  // experts of the last ROUTE (0: no ROUTE yet)
};

struct Status {
    ap_uint<8> code;
    ap_uint<32> pc;
};

// ---- little helpers ------------------------------------------------------------------------------------------
inline bool aligned(uint64_t v, int a) { return (v % a) == 0; }

template <int N>
inline uint64_t rd_le(const ap_uint<8> *mem, uint64_t addr) {
#pragma HLS INLINE
    uint64_t v = 0;
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        v |= uint64_t(mem[addr + i].to_uint()) << (8 * i);
    }
    return v;
}

template <int N>
inline void wr_le(ap_uint<8> *mem, uint64_t addr, uint64_t v) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        mem[addr + i] = (v >> (8 * i)) & 0xFF;
    }
}

inline int64_t sext(uint64_t v, int bits) {
    uint64_t m = uint64_t(1) << (bits - 1);
    v &= (bits == 64) ? ~uint64_t(0) : ((uint64_t(1) << bits) - 1);
    return int64_t((v ^ m) - m);
}

// A byte of a DDR region (word-addressed AXI port).
inline ap_uint<8> ddr_byte(const word_t *base, uint64_t off) {
#pragma HLS INLINE
    word_t w = base[off / WORD_BYTES];
    int b = off % WORD_BYTES;
    return w.range(8 * b + 7, 8 * b);
}

// Size of the DDR region of a base register; false for an undefined base.
inline bool region_size(const DdrSizes &d, int base, uint64_t &size) {
    if (base == VA_BASE_IMAGE) size = d.image_bytes;
    else if (base == VA_BASE_INPUT) size = d.input_bytes;
    else if (base == VA_BASE_OUTPUT) size = d.output_bytes;
    else return false;
    return true;
}

// A byte of the DDR region `base` (the port is selected by a switch, one AXI master per region bundle).
inline ap_uint<8> ddr_read(VA_PORTS, int base, uint64_t off) {
#pragma HLS INLINE
    if (base == VA_BASE_IMAGE) return ddr_byte(image, off);
    if (base == VA_BASE_INPUT) return ddr_byte(input, off);
    return ddr_byte(output, off);
}

// Operand check of an (addr, rows, row_bytes, pitch) block in a memory of `size` bytes, in the order the ISA
// simulator applies (vitaccel.sim.machine._span): empty -> BAD_FIELD; pitch < row -> BAD_FIELD; misaligned
// address / pitch -> BAD_FIELD; start outside -> ADDR_RANGE; end past the memory -> BUF_OVERFLOW.
inline int span(uint64_t size, uint64_t addr, uint64_t rows, uint64_t row_bytes, uint64_t pitch, int align) {
    if (rows == 0 || row_bytes == 0) return VA_ERR_BAD_FIELD;
    if (rows > 1 && pitch < row_bytes) return VA_ERR_BAD_FIELD;
    if (align > 1 && (addr % align || (rows > 1 && pitch % align))) return VA_ERR_BAD_FIELD;
    if (addr >= size) return VA_ERR_ADDR_RANGE;
    if (addr + (rows - 1) * pitch + row_bytes > size) return VA_ERR_BUF_OVERFLOW;
    return VA_ERR_NONE;
}

#define VA_TRY(expr)                          \
    do {                                      \
        int va_err_ = (expr);                 \
        if (va_err_ != VA_ERR_NONE) return va_err_; \
    } while (0)

// ---- instruction checks --------------------------------------------------------------------------------------
inline bool known_opcode(int op) {
    return op == VA_OP_NOP || op == VA_OP_END || op == VA_OP_SYNC || op == VA_OP_LOAD || op == VA_OP_STORE ||
           op == VA_OP_IM2COL || op == VA_OP_LAYERNORM || op == VA_OP_GEMM || op == VA_OP_ROUTE;
}

// Word i of the used-bit mask of an opcode (generated tables in va_isa_ext.h; GEMM depends on pimm).
inline uint32_t used_mask_word(int op, int pimm, int i) {
#pragma HLS INLINE
    switch (op) {
        case VA_OP_NOP: return VA_USED_MASK_NOP[i];
        case VA_OP_END: return VA_USED_MASK_END[i];
        case VA_OP_SYNC: return VA_USED_MASK_SYNC[i];
        case VA_OP_LOAD: return VA_USED_MASK_LOAD[i];
        case VA_OP_STORE: return VA_USED_MASK_STORE[i];
        case VA_OP_IM2COL: return VA_USED_MASK_IM2COL[i];
        case VA_OP_LAYERNORM: return VA_USED_MASK_LAYERNORM[i];
        case VA_OP_GEMM: return pimm ? VA_USED_MASK_GEMM_PIMM1[i] : VA_USED_MASK_GEMM_PIMM0[i];
        default: return VA_USED_MASK_ROUTE[i];
    }
}

// No reserved bit set (BAD_FIELD otherwise).
inline bool reserved_ok(const instr_t &w, int op, int pimm) {
#pragma HLS INLINE
    bool ok = true;
RESERVED_WORDS:
    for (int i = 0; i < VA_INSTR_BITS / 32; i++) {
#pragma HLS UNROLL
        ap_uint<32> word = w.range(32 * i + 31, 32 * i);
        if ((word & ~ap_uint<32>(used_mask_word(op, pimm, i))) != 0) ok = false;
    }
    return ok;
}

// ---- DMA engines ------------------------------------------------------------------------------------------------
// A validated LOAD: what the DMA engine moves.
struct LoadPlan {
    bool valid;
    int base, space, half;
    uint64_t off, stride, rows, rb, dst, pitch;
};

// LOAD, dispatch half: every check (in the ISA simulator's order) and the weight-buffer state update happen here,
// in program order, so errors carry the LOAD's own instruction index whatever the DMA does later.
inline int check_load(OnChip &s, const DdrSizes &d, const instr_t &w, LoadPlan &lp) {
    lp.valid = false;
    lp.base = VA_FIELD(w, LOAD, DDR_BASE);
    lp.space = VA_FIELD(w, LOAD, SPACE);
    lp.half = VA_FIELD(w, LOAD, WBUF);
    lp.off = VA_FIELD(w, LOAD, DDR_OFF);
    lp.dst = VA_FIELD(w, LOAD, DST);
    lp.rb = VA_FIELD(w, LOAD, ROW_BYTES);
    lp.rows = VA_FIELD(w, LOAD, ROWS);
    lp.stride = (lp.rows <= 1) ? lp.rb : uint64_t(VA_FIELD(w, LOAD, SRC_STRIDE));
    uint64_t size;
    if (!region_size(d, lp.base, size)) return VA_ERR_BAD_FIELD;
    VA_TRY(span(size, lp.off, lp.rows, lp.rb, lp.stride, 1));
    if (lp.space == VA_SPACE_WBUF) {
        if (s.wbuf_loaded[lp.half]) return VA_ERR_WBUF_STATE;
        if (lp.rows != 1) return VA_ERR_BAD_FIELD;
        VA_TRY(span(WBUF_BYTES, lp.dst, 1, lp.rb, lp.rb, VA_WBUF_ALIGN));
        lp.pitch = lp.rb;
        s.wbuf_loaded[lp.half] = true;  // the half now belongs to this segment (protocol state, program order)
    } else if (lp.space == VA_SPACE_ACT) {
        lp.pitch = (lp.rows > 1) ? uint64_t(VA_FIELD(w, LOAD, DST_PITCH)) : lp.rb;
        VA_TRY(span(ACT_BYTES, lp.dst, lp.rows, lp.rb, lp.pitch, VA_ACT_ALIGN));
    } else {
        return VA_ERR_BAD_FIELD;
    }
    lp.valid = true;
    return VA_ERR_NONE;
}

// LOAD, data half: rows x row_bytes from DDR (stride src_stride) into ACT or a weight half. Each row is one AXI
// burst of sequential words (intended II = 1 per byte; the m_axi adapter splits bursts at 4 KiB).
inline void do_load(OnChip &s, VA_PORTS, const LoadPlan &lp) {
LOAD_ROWS:
    for (uint64_t r = 0; r < lp.rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
        uint64_t a = lp.off + r * lp.stride;
        uint64_t o = lp.dst + r * lp.pitch;
    LOAD_BYTES:
        for (uint64_t i = 0; i < lp.rb; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 16 max = 65536
            ap_uint<8> v = ddr_read(VA_PORT_ARGS, lp.base, a + i);
            if (lp.space == VA_SPACE_WBUF) s.wbuf[lp.half][o + i] = v;
            else s.act[o + i] = v;
        }
    }
}

// STORE: rows x row_bytes from ACT (pitch src_pitch) to the OUTPUT region (stride dst_stride). Only OUTPUT is
// writable. Read-modify-write of the AXI words keeps bytes outside the block intact.
inline int exec_store(OnChip &s, word_t *output, const DdrSizes &d, const instr_t &w) {
    int base = VA_FIELD(w, STORE, DDR_BASE);
    uint64_t off = VA_FIELD(w, STORE, DDR_OFF), src = VA_FIELD(w, STORE, SRC), rb = VA_FIELD(w, STORE, ROW_BYTES);
    uint64_t rows = VA_FIELD(w, STORE, ROWS);
    uint64_t pitch = rows > 1 ? uint64_t(VA_FIELD(w, STORE, SRC_PITCH)) : rb;
    uint64_t stride = rows > 1 ? uint64_t(VA_FIELD(w, STORE, DST_STRIDE)) : rb;
    uint64_t size;
    if (!region_size(d, base, size)) return VA_ERR_BAD_FIELD;
    if (base != VA_BASE_OUTPUT) return VA_ERR_BAD_FIELD;
    VA_TRY(span(ACT_BYTES, src, rows, rb, pitch, VA_ACT_ALIGN));
    VA_TRY(span(size, off, rows, rb, stride, 1));
STORE_ROWS:
    for (uint64_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
    STORE_BYTES:
        for (uint64_t i = 0; i < rb; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 16 max = 65536
            uint64_t a = off + r * stride + i;
            word_t wd = output[a / WORD_BYTES];
            int b = a % WORD_BYTES;
            wd.range(8 * b + 7, 8 * b) = s.act[src + r * pitch + i];
            output[a / WORD_BYTES] = wd;
        }
    }
    return VA_ERR_NONE;
}

// IM2COL: uint8 image (C, H, W) in DDR -> int8 patch rows (pixel - 128), patches row-major over the grid,
// each flattened in (c, py, px) order (golden ops.patchify_u8). The image is streamed once in DDR order.
inline int exec_im2col(OnChip &s, VA_PORTS, const DdrSizes &d, const instr_t &w) {
    int base = VA_FIELD(w, IM2COL, DDR_BASE);
    uint64_t off = VA_FIELD(w, IM2COL, DDR_OFF), dst = VA_FIELD(w, IM2COL, DST);
    uint64_t h = VA_FIELD(w, IM2COL, HEIGHT), wd = VA_FIELD(w, IM2COL, WIDTH), ch = VA_FIELD(w, IM2COL, CHANS),
             p = VA_FIELD(w, IM2COL, PATCH), pitch = VA_FIELD(w, IM2COL, DST_PITCH);
    uint64_t size;
    if (!region_size(d, base, size)) return VA_ERR_BAD_FIELD;
    if (h == 0 || wd == 0 || ch == 0 || p == 0 || h % p || wd % p) return VA_ERR_BAD_FIELD;
    uint64_t gw = wd / p, npatch = (h / p) * gw, row = ch * p * p, n = ch * h * wd;
    VA_TRY(span(size, off, 1, n, n, 1));
    VA_TRY(span(ACT_BYTES, dst, npatch, row, pitch, VA_ACT_ALIGN));
IM2COL_PIX:
    for (uint64_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 768 max = 196608
        uint64_t c = i / (h * wd), y = (i / wd) % h, x = i % wd;
        uint64_t patch = (y / p) * gw + (x / p);
        uint64_t col = (c * p + (y % p)) * p + (x % p);
        s.act[dst + patch * pitch + col] = ap_uint<8>(ddr_read(VA_PORT_ARGS, base, off + i) - 128);
    }
    return VA_ERR_NONE;
}

// ---- LAYERNORM ---------------------------------------------------------------------------------------------------
inline int exec_layernorm(OnChip &s, const instr_t &w) {
    uint64_t src = VA_FIELD(w, LAYERNORM, SRC), dst = VA_FIELD(w, LAYERNORM, DST);
    uint64_t rows = VA_FIELD(w, LAYERNORM, ROWS), cols = VA_FIELD(w, LAYERNORM, COLS);
    uint64_t sp = VA_FIELD(w, LAYERNORM, SRC_PITCH), dp = VA_FIELD(w, LAYERNORM, DST_PITCH);
    uint64_t param = VA_FIELD(w, LAYERNORM, PARAM);
    int half = VA_FIELD(w, LAYERNORM, WBUF);
    if (cols > VA_UA_LN_MAX_COLS) return VA_ERR_UNSUPPORTED;
    VA_TRY(span(ACT_BYTES, src, rows, 2 * cols, sp, VA_ACT_ALIGN));
    if (!s.wbuf_loaded[half]) return VA_ERR_WBUF_STATE;
    uint64_t rbytes = va_rec_layernorm_bytes(cols);
    VA_TRY(span(WBUF_BYTES, param, 1, rbytes, rbytes, VA_WBUF_ALIGN));
    const ap_uint<8> *rec = s.wbuf[half] + param;
    ln_d_t eps = ln_d_t(rd_le<8>(rec, va_rec_layernorm_eps(cols)));
    uint64_t osh = rec[va_rec_layernorm_out_shift(cols)].to_uint();
    if (osh > VA_MAX_SHIFT) return VA_ERR_BAD_FIELD;
    VA_TRY(span(ACT_BYTES, dst, rows, cols, dp, VA_ACT_ALIGN));
    shift_t out_shift = shift_t(osh);
LN_ROWS:
    for (uint64_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 256
        ln_s1_t s1 = 0;
        ln_s2_t s2 = 0;
    LN_PASS1:
        for (uint64_t c = 0; c < cols; c++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 64 max = 4096
            res_t x = res_t(sext(rd_le<2>(s.act, src + r * sp + 2 * c), 16));
            s1 += x;
            s2 += ap_uint<2 * VA_RESIDUAL_BITS>(x * x);
        }
        LnStats st = layernorm_stats(s1, s2, ap_uint<LN_MAX_C_BITS + 1>(cols), eps);
    LN_PASS2:
        for (uint64_t c = 0; c < cols; c++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 64 max = 4096
            res_t x = res_t(sext(rd_le<2>(s.act, src + r * sp + 2 * c), 16));
            ap_int<VA_LN_GAMMA_BITS> g = sext(rd_le<2>(rec, va_rec_layernorm_gamma(cols) + 2 * c), 16);
            ap_int<VA_LN_BETA_BITS> b = sext(rd_le<4>(rec, va_rec_layernorm_beta(cols) + 4 * c), 32);
            s.act[dst + r * dp + c] = ap_uint<8>(layernorm_out(x, st, ap_uint<LN_MAX_C_BITS + 1>(cols), g, b,
                                                               out_shift));
        }
    }
    return VA_ERR_NONE;
}

// ---- ROUTE -------------------------------------------------------------------------------------------------------
// Per token (one lane here; the perf model assumes ROUTE_LANES in parallel): gate scores -> z (per-expert
// requantization), 16-bit softmax over the experts (online in increasing expert index), streaming top-k,
// append to the selected experts' queues.
inline int exec_route(OnChip &s, const instr_t &w) {
    uint64_t src = VA_FIELD(w, ROUTE, SRC), sp = VA_FIELD(w, ROUTE, SRC_PITCH);
    uint64_t t_n = VA_FIELD(w, ROUTE, TOKENS), e_n = VA_FIELD(w, ROUTE, EXPERTS), k = VA_FIELD(w, ROUTE, TOPK);
    uint64_t param = VA_FIELD(w, ROUTE, PARAM);
    int half = VA_FIELD(w, ROUTE, WBUF);
    if (t_n < 1 || e_n < 1 || k < 1 || k > e_n) return VA_ERR_BAD_FIELD;
    if (t_n > VA_MAX_TOKENS || e_n > VA_MAX_EXPERTS) return VA_ERR_UNSUPPORTED;
    if (k > TOPK_MAX) return VA_ERR_UNSUPPORTED;
    VA_TRY(span(ACT_BYTES, src, t_n, 4 * e_n, sp, VA_ACT_ALIGN));
    if (!s.wbuf_loaded[half]) return VA_ERR_WBUF_STATE;
    uint64_t rbytes = va_rec_route_bytes(e_n);
    VA_TRY(span(WBUF_BYTES, param, 1, rbytes, rbytes, VA_WBUF_ALIGN));
    const ap_uint<8> *rec = s.wbuf[half] + param;
    for (uint64_t e = 0; e < e_n; e++)
        if (rec[va_rec_route_shift(e_n) + e] > VA_MAX_SHIFT) return VA_ERR_BAD_FIELD;
    queues_reset(s.q, e_n);
    s.route_experts = e_n;
ROUTE_TOKENS:
    for (uint64_t t = 0; t < t_n; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = VA_MAX_TOKENS
        z_t z[VA_MAX_EXPERTS];
        ap_uint<16> p[VA_MAX_EXPERTS];
        gatew_t gw[VA_MAX_EXPERTS];
        expert_t sel[TOPK_MAX];
    ROUTE_Z:
        for (uint64_t e = 0; e < e_n; e++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = VA_MAX_EXPERTS
            acc_t a = acc_t(sext(rd_le<4>(s.act, src + t * sp + 4 * e), 32));
            z[e] = scores_to_z(a, mult_t(rd_le<2>(rec, va_rec_route_mult(e_n) + 2 * e)),
                               shift_t(rec[va_rec_route_shift(e_n) + e]));
        }
        softmax_row<VA_MAX_EXPERTS>(z, e_n, VA_GATE_BITS, p);
        for (uint64_t e = 0; e < e_n; e++) gw[e] = p[e];
        route_token<TOPK_MAX, VA_MAX_EXPERTS, VA_MAX_TOKENS>(token_t(t), z, gw, e_n, k, s.q, sel);
    }
    return VA_ERR_NONE;
}

// ---- GEMM ---------------------------------------------------------------------------------------------------------
struct GemmArgs {
    int epi, bsrc, half, pimm, a_u8, gather, trans, qrows, expert;
    uint64_t a, b, dst, param, m, n, k, a_pitch, b_pitch, dst_pitch;
    mult_t imm_mult;
    shift_t imm_shift;
};

inline int epi_out_bytes(int epi) {
    return (epi == VA_EPI_ACC32) ? 4 : (epi == VA_EPI_RESADD || epi == VA_EPI_MOE_COMBINE) ? 2 : 1;
}

// One R x C output tile: acc[r][c] = sum_k A[row(m0 + r)][k] * B[k][n0 + c] on the MAC array.
inline void gemm_tile_exec(const OnChip &s, const GemmArgs &g, uint64_t m0, uint64_t n0, uint64_t rows_valid,
                           acc_t acc[R][C]) {
#pragma HLS INLINE off
    uint64_t arow[R];
#pragma HLS ARRAY_PARTITION variable = arow complete
TILE_ROWS:
    for (int r = 0; r < R; r++) {
#pragma HLS UNROLL
        uint64_t i = m0 + r;
        uint64_t src_row = (g.gather && i < rows_valid) ? uint64_t(s.q.tok[g.expert][i].to_uint()) : i;
        arow[r] = g.a + src_row * g.a_pitch;
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = 0;
    const ap_uint<8> *wb = s.wbuf[g.half];
    uint64_t tile_base = g.b + (n0 / C) * g.k * C;  // packed column tile n0 / C (isa.pack_b_tiles)
TILE_K:
    for (uint64_t kk = 0; kk < g.k; kk++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 16 max = 768
        opnd_t av[R];
        wgt_t wv[C];
#pragma HLS ARRAY_PARTITION variable = av complete
#pragma HLS ARRAY_PARTITION variable = wv complete
        for (int r = 0; r < R; r++) {
#pragma HLS UNROLL
            ap_uint<8> raw = (m0 + r < rows_valid) ? s.act[arow[r] + kk] : ap_uint<8>(0);
            av[r] = to_operand(raw, g.a_u8 != 0);
        }
        for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
            ap_uint<8> raw = 0;
            if (n0 + c < g.n) raw = (g.bsrc == VA_BSRC_WBUF) ? wb[tile_base + kk * C + c]
                                                              : s.act[g.b + kk * g.b_pitch + n0 + c];
            wv[c] = wgt_t(raw);
        }
        mac_step<R, C>(av, wv, acc);
    }
}

inline uint64_t out_addr(const GemmArgs &g, uint64_t row, uint64_t col, int esize) {
    return g.trans ? g.dst + col * g.dst_pitch + row * esize : g.dst + row * g.dst_pitch + col * esize;
}

inline int exec_gemm(OnChip &s, const instr_t &w) {
    GemmArgs g;
    g.epi = VA_FIELD(w, GEMM, EPI);
    g.bsrc = VA_FIELD(w, GEMM, BSRC);
    g.half = VA_FIELD(w, GEMM, WBUF);
    g.pimm = VA_FIELD(w, GEMM, PIMM);
    g.a_u8 = VA_FIELD(w, GEMM, A_U8);
    g.gather = VA_FIELD(w, GEMM, GATHER);
    g.trans = VA_FIELD(w, GEMM, TRANS);
    g.qrows = VA_FIELD(w, GEMM, QROWS);
    g.expert = VA_FIELD(w, GEMM, EXPERT);
    g.a = VA_FIELD(w, GEMM, A);
    g.b = VA_FIELD(w, GEMM, B);
    g.dst = VA_FIELD(w, GEMM, DST);
    g.param = g.pimm ? 0 : VA_FIELD(w, GEMM, PARAM);
    g.imm_mult = g.pimm ? VA_FIELD(w, GEMM, MULT) : 0;
    g.imm_shift = g.pimm ? VA_FIELD(w, GEMM, SHIFT) : 0;
    g.m = VA_FIELD(w, GEMM, M);
    g.n = VA_FIELD(w, GEMM, N);
    g.k = VA_FIELD(w, GEMM, K);
    g.a_pitch = VA_FIELD(w, GEMM, A_PITCH);
    g.b_pitch = VA_FIELD(w, GEMM, B_PITCH);
    g.dst_pitch = VA_FIELD(w, GEMM, DST_PITCH);
    const int esz = epi_out_bytes(g.epi);

    // -- checks, in the ISA simulator's order (vitaccel.sim.machine._gemm) --
    if (g.epi > VA_EPI_MOE_COMBINE) return VA_ERR_BAD_FIELD;
    if (g.n == 0 || g.k == 0 || (g.m == 0 && !g.qrows)) return VA_ERR_BAD_FIELD;
    if (g.epi == VA_EPI_SOFTMAX && !(g.pimm && g.trans)) return VA_ERR_BAD_FIELD;
    if ((g.epi == VA_EPI_GELU8 || g.epi == VA_EPI_MOE_COMBINE || g.epi == VA_EPI_ACC32) && g.pimm)
        return VA_ERR_BAD_FIELD;
    if (g.epi == VA_EPI_MOE_COMBINE && (!g.qrows || g.trans)) return VA_ERR_BAD_FIELD;
    if (g.epi == VA_EPI_RESADD && g.trans) return VA_ERR_BAD_FIELD;
    if (g.epi == VA_EPI_SOFTMAX && g.m > VA_MAX_TOKENS) return VA_ERR_UNSUPPORTED;
    uint64_t rows = g.m;
    uint64_t max_tok = 0;  // largest gathered / scattered token index + 1
    if (g.qrows || g.gather) {
        if (s.route_experts == 0 || g.expert >= s.route_experts) return VA_ERR_BAD_FIELD;
        uint64_t qlen = s.q.len[g.expert].to_uint();
        if (g.qrows) {
            if (qlen > g.m) return VA_ERR_BUF_OVERFLOW;
            rows = qlen;
        } else if (qlen < rows) {
            rows = qlen;  // gather without qrows reads queue[0 .. min(m, len) - 1]
        }
        for (uint64_t i = 0; i < rows; i++) {
            uint64_t t = s.q.tok[g.expert][i].to_uint() + 1;
            if (t > max_tok) max_tok = t;
        }
    }
    if (rows == 0) return VA_ERR_NONE;  // empty queue: nothing to compute (release still applies)
    if (g.gather) VA_TRY(span(ACT_BYTES, g.a, max_tok ? max_tok : 1, g.k, g.a_pitch, VA_ACT_ALIGN));
    else VA_TRY(span(ACT_BYTES, g.a, rows, g.k, g.a_pitch, VA_ACT_ALIGN));
    if (g.bsrc == VA_BSRC_WBUF) {
        if (!s.wbuf_loaded[g.half]) return VA_ERR_WBUF_STATE;
        uint64_t nbytes = g.k * ((g.n + C - 1) / C) * C;  // isa.b_tiles_bytes
        VA_TRY(span(WBUF_BYTES, g.b, 1, nbytes, nbytes, VA_WBUF_ALIGN));
    } else {
        VA_TRY(span(ACT_BYTES, g.b, g.k, g.n, g.b_pitch, VA_ACT_ALIGN));
        // B-operand buffer: max_tokens words of W = ACT_WORD_COLS * C bytes (uarch.b_operand_fits)
        const uint64_t bw = VA_UA_ACT_WORD_COLS * C;
        if (g.k * ((g.n + bw - 1) / bw) > VA_MAX_TOKENS) return VA_ERR_UNSUPPORTED;
    }
    if (!g.pimm) {
        if (!s.wbuf_loaded[g.half]) return VA_ERR_WBUF_STATE;
        uint64_t rb = (g.epi == VA_EPI_ACC32) ? va_rec_bias_bytes(g.n)
                      : (g.epi == VA_EPI_GELU8) ? va_rec_gelu_bytes(g.n)
                      : (g.epi == VA_EPI_MOE_COMBINE) ? va_rec_combine_bytes(g.n)
                                                      : va_rec_req_bytes(g.n);
        VA_TRY(span(WBUF_BYTES, g.param, 1, rb, rb, VA_WBUF_ALIGN));
    }

    // -- epilogue parameters (record in the weight half, or per-tensor immediates) --
    const ap_uint<8> *rec = s.wbuf[g.half] + g.param;
    const uint64_t o_bias = (g.epi == VA_EPI_ACC32) ? va_rec_bias_bias(g.n)
                            : (g.epi == VA_EPI_GELU8) ? va_rec_gelu_bias(g.n)
                            : (g.epi == VA_EPI_MOE_COMBINE) ? va_rec_combine_bias(g.n)
                                                            : va_rec_req_bias(g.n);
    const uint64_t o_mult = (g.epi == VA_EPI_GELU8) ? va_rec_gelu_mult(g.n)
                            : (g.epi == VA_EPI_MOE_COMBINE) ? va_rec_combine_cmult(g.n)
                                                            : va_rec_req_mult(g.n);
    const uint64_t o_shift = (g.epi == VA_EPI_GELU8) ? va_rec_gelu_shift(g.n)
                             : (g.epi == VA_EPI_MOE_COMBINE) ? va_rec_combine_cshift(g.n)
                                                             : va_rec_req_shift(g.n);
    act_t table[1 << VA_ACT_BITS];
    if (g.epi == VA_EPI_GELU8) {
        for (int i = 0; i < (1 << VA_ACT_BITS); i++) table[i] = act_t(rec[va_rec_gelu_table(g.n) + i]);
    }

    if (!g.pimm && g.epi != VA_EPI_ACC32) {  // requantization / combine shifts of the record must be 0..63
        for (uint64_t n = 0; n < g.n; n++)
            if (rec[o_shift + n] > VA_MAX_SHIFT) return VA_ERR_BAD_FIELD;
    }
    if (g.epi == VA_EPI_MOE_COMBINE) {
        VA_TRY(span(ACT_BYTES, g.dst, max_tok ? max_tok : 1, 2 * g.n, g.dst_pitch, VA_ACT_ALIGN));
    } else if (g.trans) {
        VA_TRY(span(ACT_BYTES, g.dst, g.n, rows * esz, g.dst_pitch, VA_ACT_ALIGN));
    } else {
        VA_TRY(span(ACT_BYTES, g.dst, rows, g.n * esz, g.dst_pitch, VA_ACT_ALIGN));
    }

    static acc_t acc[R][C];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
    if (g.epi == VA_EPI_SOFTMAX) {
        // Softmax over rows (keys) of each column (query): pass 1 online in increasing row index across the
        // row tiles, then one reciprocal per column, then pass 2 recomputes each tile (no z storage) and
        // writes uint8 probabilities (transposed when trans = 1).
        for (uint64_t n0 = 0; n0 < g.n; n0 += C) {
            SoftmaxState st[C];
            for (uint64_t m0 = 0; m0 < rows; m0 += R) {
                gemm_tile_exec(s, g, m0, n0, rows, acc);
                for (int c = 0; c < C; c++) {
                    if (n0 + c >= g.n) continue;
                    for (int r = 0; r < R && m0 + r < rows; r++) {
                        z_t z = scores_to_z(acc[r][c], g.imm_mult, g.imm_shift);
                        if (m0 + r == 0) softmax_init(st[c], z);
                        softmax_step(st[c], z);
                    }
                }
            }
            srecip_t rcp[C];
            ap_uint<8> nb[C];
            for (int c = 0; c < C; c++)
                if (n0 + c < g.n) softmax_reciprocal(st[c].s, rcp[c], nb[c]);
            for (uint64_t m0 = 0; m0 < rows; m0 += R) {
                gemm_tile_exec(s, g, m0, n0, rows, acc);
                for (int r = 0; r < R && m0 + r < rows; r++)
                    for (int c = 0; c < C && n0 + c < g.n; c++) {
                        z_t z = scores_to_z(acc[r][c], g.imm_mult, g.imm_shift);
                        ap_uint<16> p = softmax_normalise(z, st[c].m, rcp[c], nb[c], VA_PROB_BITS);
                        s.act[out_addr(g, m0 + r, n0 + c, 1)] = ap_uint<8>(p);
                    }
            }
        }
        return VA_ERR_NONE;
    }
    for (uint64_t m0 = 0; m0 < rows; m0 += R) {
        for (uint64_t n0 = 0; n0 < g.n; n0 += C) {
            gemm_tile_exec(s, g, m0, n0, rows, acc);
        EPI_ROWS:
            for (int r = 0; r < R; r++) {
                if (m0 + r >= rows) break;
            EPI_COLS:
                for (int c = 0; c < C; c++) {
#pragma HLS PIPELINE II = 1
                    uint64_t n = n0 + c;
                    if (n >= g.n) break;
                    uint64_t i = m0 + r;
                    acc_t bias = g.pimm ? acc_t(0) : acc_t(sext(rd_le<4>(rec, o_bias + 4 * n), 32));
                    mult_t mu = g.pimm ? g.imm_mult : mult_t(rd_le<2>(rec, o_mult + 2 * n));
                    shift_t sh = g.pimm ? g.imm_shift : shift_t(rec[o_shift + n]);
                    if (g.epi == VA_EPI_MOE_COMBINE) {
                        uint64_t t = s.q.tok[g.expert][i].to_uint();
                        uint64_t addr = g.dst + t * g.dst_pitch + 2 * n;
                        res_t rv = res_t(sext(rd_le<2>(s.act, addr), 16));
                        res_t o = combine_elem(rv, acc[r][c] + bias, mu, s.q.gw[g.expert][i], sh);
                        wr_le<2>(s.act, addr, uint64_t(o.to_int()) & 0xFFFF);
                        continue;
                    }
                    uint64_t addr = out_addr(g, i, n, esz);
                    res_t rv = 0;
                    if (g.epi == VA_EPI_RESADD) rv = res_t(sext(rd_le<2>(s.act, addr), 16));
                    EpiMode mode = (g.epi == VA_EPI_ACC32) ? EPI_ACC32
                                   : (g.epi == VA_EPI_GELU8) ? EPI_S8_GELU
                                   : (g.epi == VA_EPI_RESADD) ? EPI_RES16
                                                              : EPI_S8;
                    EpiOut o = epilogue_elem(mode, acc[r][c], bias, mu, sh, table, rv);
                    if (esz == 4) wr_le<4>(s.act, addr, uint64_t(uint32_t(o.out32.to_int())));
                    else if (esz == 2) wr_le<2>(s.act, addr, uint64_t(o.res.to_int()) & 0xFFFF);
                    else s.act[addr] = ap_uint<8>(o.out8);
                }
            }
        }
    }
    return VA_ERR_NONE;
}

// ---- compute dispatch and the overlapped step -------------------------------------------------------------------
inline int exec_compute(OnChip &s, const instr_t &w, int op) {
    if (op == VA_OP_GEMM) return exec_gemm(s, w);
    if (op == VA_OP_LAYERNORM) return exec_layernorm(s, w);
    return exec_route(s, w);
}

// The DMA of one weight segment into half lp.half and a compute instruction that does not read that half.
// Intended HLS structure: a DATAFLOW region of the two processes (they share no data: the DMA writes only
// wbuf[lp.half], the engine reads ACT and the other half). C-simulation runs the engine FIRST and the DMA after
// it: the adversarial order, so a sequencer bug that let an engine read a half whose DMA has not finished shows up
// as stale data in C-simulation (tests compare with the ISA simulator). Not yet through Vitis HLS (hls/README.md).
inline int overlapped_step(OnChip &s, VA_PORTS, const LoadPlan &lp, const instr_t &w, int op) {
    int err = exec_compute(s, w, op);
    do_load(s, VA_PORT_ARGS, lp);
    return err;
}

// ---- the sequencer ---------------------------------------------------------------------------------------------
// Runs the program; returns the status (code, pc). `count` bounds the fetch; END stops with code NONE.
inline Status run_program(OnChip &s, const word_t *program, uint64_t count, VA_PORTS, const DdrSizes &d) {
    Status st;
    st.code = VA_ERR_NONE;
    st.pc = 0;
    s.wbuf_loaded[0] = false;
    s.wbuf_loaded[1] = false;
    s.route_experts = 0;
    queues_reset(s.q, VA_MAX_EXPERTS);
    LoadPlan pending;  // weight-buffer LOAD dispatched but not yet moved (double buffering)
    pending.valid = false;
SEQ:
    for (uint64_t pc = 0; pc < count; pc++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
        instr_t w;
    FETCH:
        for (int i = 0; i < INSTR_WORDS; i++) {
#pragma HLS PIPELINE II = 1
            w.range(VA_AXI_DATA_BITS * i + VA_AXI_DATA_BITS - 1, VA_AXI_DATA_BITS * i) =
                program[pc * INSTR_WORDS + i];
        }
        st.pc = pc;
        int op = VA_FIELD(w, NOP, OPCODE);
        if (!known_opcode(op)) {
            st.code = VA_ERR_ILLEGAL_OPCODE;
            return st;
        }
        if (VA_FIELD(w, NOP, VERSION) != VA_ISA_MAJOR) {
            st.code = VA_ERR_BAD_VERSION;
            return st;
        }
        int pimm = (op == VA_OP_GEMM) ? int(VA_FIELD(w, GEMM, PIMM)) : 0;
        if (!reserved_ok(w, op, pimm)) {
            st.code = VA_ERR_BAD_FIELD;
            return st;
        }
        if (op == VA_OP_END) {
            if (pending.valid) do_load(s, VA_PORT_ARGS, pending);
            return st;
        }
        // conditional execution on the last ROUTE's queue of `expert`
        int cond = int(VA_FIELD(w, NOP, COND));  // reserved (0) for opcodes that may not set it
        int expert = VA_FIELD(w, NOP, EXPERT);
        if (cond) {
            if (s.route_experts == 0 || expert >= s.route_experts) {  // no ROUTE yet / expert not routed
                st.code = VA_ERR_BAD_FIELD;
                return st;
            }
            if (s.q.len[expert] == 0) continue;  // skipped: no fetch, no compute, no release
        }
        int err = VA_ERR_NONE;
        if (op == VA_OP_LOAD) {
            LoadPlan lp;
            err = check_load(s, d, w, lp);
            if (err == VA_ERR_NONE) {
                if (lp.space == VA_SPACE_WBUF) {
                    // Weight segments stream in the background: the DMA of this half overlaps the next compute
                    // instruction (which, by the WBUF protocol, reads the other half). One DMA queue: an earlier
                    // pending load completes first.
                    if (pending.valid) do_load(s, VA_PORT_ARGS, pending);
                    pending = lp;
                } else {
                    do_load(s, VA_PORT_ARGS, lp);  // ACT loads are blocking (docs/isa.md)
                }
            }
        } else if (op == VA_OP_GEMM || op == VA_OP_LAYERNORM || op == VA_OP_ROUTE) {
            bool reads_wbuf = (op != VA_OP_GEMM) || VA_FIELD(w, GEMM, BSRC) == VA_BSRC_WBUF || !pimm;
            int half = VA_FIELD(w, NOP, WBUF);
            if (pending.valid && reads_wbuf && half == pending.half) {
                do_load(s, VA_PORT_ARGS, pending);  // the segment this instruction reads must be complete
                pending.valid = false;
            }
            if (pending.valid) {
                err = overlapped_step(s, VA_PORT_ARGS, pending, w, op);
                pending.valid = false;
            } else {
                err = exec_compute(s, w, op);
            }
        } else if (op == VA_OP_STORE) {
            if (pending.valid && pending.base == VA_BASE_OUTPUT) {  // read-after-write order on the OUTPUT region
                do_load(s, VA_PORT_ARGS, pending);
                pending.valid = false;
            }
            err = exec_store(s, output, d, w);
        } else if (op == VA_OP_IM2COL) {
            err = exec_im2col(s, VA_PORT_ARGS, d, w);
        }  // NOP, SYNC: nothing to do (the engines of this implementation are in order)
        if (err != VA_ERR_NONE) {
            st.code = err;
            return st;
        }
        // release (reserved for opcodes that may not set it): this was the half's last reader
        if (VA_FIELD(w, NOP, RELEASE)) s.wbuf_loaded[VA_FIELD(w, NOP, WBUF)] = false;
    }
    st.code = VA_ERR_NO_END;
    st.pc = count;
    return st;
}

// Image header check (BAD_IMAGE): magic, ISA major version, config hash; returns the DDR region sizes.
inline int check_header(const word_t *image, DdrSizes &d) {
    ap_uint<8> h[VA_IMAGE_HEADER_BYTES];
    for (int i = 0; i < VA_IMAGE_HEADER_BYTES; i++) h[i] = ddr_byte(image, i);
    uint64_t magic = rd_le<4>(h, VA_HDR_MAGIC_OFF), major = rd_le<2>(h, VA_HDR_ISA_MAJOR_OFF),
             chash = rd_le<4>(h, VA_HDR_CONFIG_HASH_OFF);
    if (magic != VA_IMAGE_MAGIC || major != VA_ISA_MAJOR || chash != VA_CFG_CONFIG_HASH) return VA_ERR_BAD_IMAGE;
    d.image_bytes = rd_le<4>(h, VA_HDR_IMAGE_BYTES_OFF);
    d.input_bytes = rd_le<4>(h, VA_HDR_INPUT_BYTES_OFF);
    d.output_bytes = rd_le<4>(h, VA_HDR_OUTPUT_BYTES_OFF);
    return VA_ERR_NONE;
}

}  // namespace va

#endif  // VA_KERNEL_H
