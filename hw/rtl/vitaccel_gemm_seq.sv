// vitaccel_gemm_seq: GEMM sequencer, first subset: epilogue REQ8, with per-tensor immediates (pimm = 1) or the
// "req" record at `param` of half `wbuf` (pimm = 0: per-channel bias int32, mult uint16, shift uint8):
// out[m][n] = requant_int8(sum_k A[m][k] * B[k][n] + bias[n], mult, shift) (ops.gemm + ops.requant_int8), A int8 or uint8
// (a_u8) in ACT at a / a_pitch, B int8 in ACT at b / b_pitch (bsrc = ACT) or packed column tiles at offset b of
// weight half `wbuf` (bsrc = WBUF, isa.pack_b_tiles: B[k][c0 + c] at b + c0*K + k*COLS + c), the int8 result
// at dst / dst_pitch, transposed with trans (element (m, n) at dst + n*dst_pitch + m).
//
// chk_code: the ISA simulator's GEMM checks in its order (vitaccel.sim.machine._gemm): cond before any ROUTE,
// undefined epilogue, zero n / k / m, SOFTMAX without pimm+trans, GELU8 / MOE_COMBINE / ACC32 with pimm,
// MOE_COMBINE without qrows or with trans, RESADD with trans (BAD_FIELD); SOFTMAX over more than MAX_TOKENS rows
// (UNSUPPORTED); qrows / gather before any ROUTE (BAD_FIELD); then every form outside the subset above stops
// with UNSUPPORTED; then the span of A (m x k) in ACT, B (WBUF: the half must be FULL, else WBUF_STATE, and the
// K * ceil(N / COLS) * COLS packed bytes inside it; ACT: k x n at b / b_pitch), for pimm = 0 the record (half
// FULL, record inside it); these are chk_code. Then, at run time before anything is written, a record shift
// above 63 (BAD_FIELD) and the destination span in ACT (BAD_FIELD alignment, ADDR_RANGE, BUF_OVERFLOW) are
// err_code with done (the destination span is in chk_code for pimm = 1).
//
// Execution (correct, not fast): for each column tile (COLS outputs) and row tile (ROWS rows), for each k the
// ROWS bytes of A's column and the COLS bytes of B's row are gathered (ACT / WBUF) one byte per two clocks (rows /
// columns past m / n are zero) and pushed as one k-step into vitaccel_gemm_core; the tile's ROWS drained rows
// leave the epilogue (REQ8, the immediates on every lane, no bias) and are written to ACT one byte per clock.
// The tile is finished before the next one starts. The operands must not overlap the destination (the compiler
// never does that; the ISA simulator reads both operands before writing).
module vitaccel_gemm_seq #(
    parameter int ACT_BYTES  = 4096,
    parameter int WBUF_BYTES = 4096,
    parameter int DATA_W     = 128,
    parameter int ROWS       = 4,
    parameter int COLS       = 8,
    parameter int PACK       = 2,
    parameter int MAX_TOKENS = 256,
    localparam int B      = DATA_W / 8,
    localparam int BSH    = $clog2(B),
    localparam int ACT_AW = ((ACT_BYTES + B - 1) / B > 1) ? $clog2((ACT_BYTES + B - 1) / B) : 1,
    localparam int WB_AW  = ((WBUF_BYTES + B - 1) / B > 1) ? $clog2((WBUF_BYTES + B - 1) / B) : 1
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic [255:0]        instr,
    input  logic [1:0]          wbuf_full,
    output logic [7:0]          chk_code,
    input  logic                start,
    output logic                busy,
    output logic                done,
    output logic [7:0]          err_code,    // with done: ERR_NONE or the run-time error (nothing written)
    // ACT ports (byte granular)
    output logic                act_rd_en,
    output logic [ACT_AW-1:0]   act_rd_addr,
    input  logic [DATA_W-1:0]   act_rd_data,
    output logic                act_wr_en,
    output logic [31:0]         act_wr_word,
    output logic [DATA_W-1:0]   act_wr_data,
    output logic [B-1:0]        act_wr_be,
    // weight-buffer read port
    output logic                wb_rd_en,
    output logic                wb_rd_half,
    output logic [WB_AW-1:0]    wb_rd_addr,
    input  logic [DATA_W-1:0]   wb_rd_data
);
    localparam logic [7:0] E_NONE   = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_FIELD  = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_RANGE  = 8'(vitaccel_isa_pkg::ERR_ADDR_RANGE);
    localparam logic [7:0] E_OVER   = 8'(vitaccel_isa_pkg::ERR_BUF_OVERFLOW);
    localparam logic [7:0] E_UNSUPP = 8'(vitaccel_isa_pkg::ERR_UNSUPPORTED);
    localparam logic [7:0] E_WBUF   = 8'(vitaccel_isa_pkg::ERR_WBUF_STATE);
    localparam logic [3:0] EPI_ACC32   = 4'(vitaccel_isa_pkg::EPI_ACC32);
    localparam logic [3:0] EPI_REQ8    = 4'(vitaccel_isa_pkg::EPI_REQ8);
    localparam logic [3:0] EPI_GELU8   = 4'(vitaccel_isa_pkg::EPI_GELU8);
    localparam logic [3:0] EPI_RESADD  = 4'(vitaccel_isa_pkg::EPI_RESADD);
    localparam logic [3:0] EPI_SOFTMAX = 4'(vitaccel_isa_pkg::EPI_SOFTMAX);
    localparam logic [3:0] EPI_MOE     = 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE);
    localparam int IW = $clog2(ROWS + COLS + 1);

    // ---------------- fields ----------------
    logic        f_cond, f_pimm, f_u8, f_bsrc, f_gather, f_trans, f_qrows, f_wbuf;
    logic [3:0]  f_epi;
    logic [31:0] f_a, f_b, f_dst, f_param;
    logic [15:0] f_mult, f_m, f_n, f_k, f_ap, f_bp, f_dp;
    logic [5:0]  f_shift;
    assign f_cond   = instr[vitaccel_isa_pkg::F_GEMM_COND_LO];
    assign f_pimm   = instr[vitaccel_isa_pkg::F_GEMM_PIMM_LO];
    assign f_wbuf   = instr[vitaccel_isa_pkg::F_GEMM_WBUF_LO];
    assign f_u8     = instr[vitaccel_isa_pkg::F_GEMM_A_U8_LO];
    assign f_epi    = instr[vitaccel_isa_pkg::F_GEMM_EPI_LO +: 4];
    assign f_bsrc   = instr[vitaccel_isa_pkg::F_GEMM_BSRC_LO];
    assign f_gather = instr[vitaccel_isa_pkg::F_GEMM_GATHER_LO];
    assign f_trans  = instr[vitaccel_isa_pkg::F_GEMM_TRANS_LO];
    assign f_qrows  = instr[vitaccel_isa_pkg::F_GEMM_QROWS_LO];
    assign f_a      = instr[vitaccel_isa_pkg::F_GEMM_A_LO +: 32];
    assign f_b      = instr[vitaccel_isa_pkg::F_GEMM_B_LO +: 32];
    assign f_dst    = instr[vitaccel_isa_pkg::F_GEMM_DST_LO +: 32];
    assign f_param  = instr[vitaccel_isa_pkg::F_GEMM_PARAM_LO +: 32];
    assign f_mult   = instr[vitaccel_isa_pkg::F_GEMM_MULT_LO +: 16];
    assign f_shift  = instr[vitaccel_isa_pkg::F_GEMM_SHIFT_LO +: 6];
    assign f_m      = instr[vitaccel_isa_pkg::F_GEMM_M_LO +: 16];
    assign f_n      = instr[vitaccel_isa_pkg::F_GEMM_N_LO +: 16];
    assign f_k      = instr[vitaccel_isa_pkg::F_GEMM_K_LO +: 16];
    assign f_ap     = instr[vitaccel_isa_pkg::F_GEMM_A_PITCH_LO +: 16];
    assign f_bp     = instr[vitaccel_isa_pkg::F_GEMM_B_PITCH_LO +: 16];
    assign f_dp     = instr[vitaccel_isa_pkg::F_GEMM_DST_PITCH_LO +: 16];

    function automatic logic [7:0] span(input logic [31:0] addr, input logic [15:0] rows, input logic [15:0] rb,
                                        input logic [15:0] pitch);
        logic [63:0] last;
        last = 64'(addr) + 64'(rows - 16'd1) * 64'(pitch) + 64'(rb);
        if (rows == 16'd0 || rb == 16'd0)                                          span = E_FIELD;
        else if (rows > 16'd1 && pitch < rb)                                       span = E_FIELD;
        else if (addr[3:0] != 4'd0 || (rows > 16'd1 && pitch[3:0] != 4'd0))       span = E_FIELD;
        else if (64'(addr) >= 64'(ACT_BYTES))                                      span = E_RANGE;
        else if (last > 64'(ACT_BYTES))                                            span = E_OVER;
        else                                                                       span = E_NONE;
    endfunction

    logic [7:0]  c_a, c_b, c_d, c_bw, c_rec;
    logic [63:0] bw_bytes;
    logic [31:0] r_mo, r_so, r_bytes;   // req record: mult offset, shift offset, total bytes (16-byte aligned arrays)
    always_comb begin
        r_mo    = ((32'(f_n) << 2) + 32'd15) & ~32'd15;
        r_so    = r_mo + (((32'(f_n) << 1) + 32'd15) & ~32'd15);
        r_bytes = (r_so + 32'(f_n) + 32'd15) & ~32'd15;
        if (f_param[3:0] != 4'd0)                                c_rec = E_FIELD;
        else if (64'(f_param) >= 64'(WBUF_BYTES))                c_rec = E_RANGE;
        else if (64'(f_param) + 64'(r_bytes) > 64'(WBUF_BYTES))  c_rec = E_OVER;
        else                                                     c_rec = E_NONE;
        c_a = span(f_a, f_m, f_k, f_ap);
        c_b = span(f_b, f_k, f_n, f_bp);
        // packed WBUF operand: K * ceil(N / COLS) * COLS bytes (k, n > 0 here)
        bw_bytes = 64'(f_k) * ((64'(f_n) + 64'(COLS - 1)) / 64'(COLS)) * 64'(COLS);
        if (f_b[3:0] != 4'd0)                                   c_bw = E_FIELD;
        else if (64'(f_b) >= 64'(WBUF_BYTES))                    c_bw = E_RANGE;
        else if (64'(f_b) + bw_bytes > 64'(WBUF_BYTES))          c_bw = E_OVER;
        else                                                     c_bw = E_NONE;
        c_d = f_trans ? span(f_dst, f_n, f_m, f_dp) : span(f_dst, f_m, f_n, f_dp);
        if (f_cond)                                                             chk_code = E_FIELD;
        else if (f_epi > EPI_MOE)                                               chk_code = E_FIELD;
        else if (f_n == 16'd0 || f_k == 16'd0 || (f_m == 16'd0 && !f_qrows))    chk_code = E_FIELD;
        else if (f_epi == EPI_SOFTMAX && !(f_pimm && f_trans))                  chk_code = E_FIELD;
        else if ((f_epi == EPI_GELU8 || f_epi == EPI_MOE || f_epi == EPI_ACC32) && f_pimm) chk_code = E_FIELD;
        else if (f_epi == EPI_MOE && (!f_qrows || f_trans))                     chk_code = E_FIELD;
        else if (f_epi == EPI_RESADD && f_trans)                                chk_code = E_FIELD;
        else if (f_epi == EPI_SOFTMAX && 32'(f_m) > 32'(MAX_TOKENS))            chk_code = E_UNSUPP;
        else if (f_qrows || f_gather)                                           chk_code = E_FIELD;
        else if (f_epi != EPI_REQ8)                                             chk_code = E_UNSUPP;
        else if (c_a != E_NONE)                                                 chk_code = c_a;
        else if (f_bsrc == 1'(vitaccel_isa_pkg::BSRC_WBUF) && !wbuf_full[f_wbuf]) chk_code = E_WBUF;
        else if (f_bsrc == 1'(vitaccel_isa_pkg::BSRC_WBUF) && c_bw != E_NONE)   chk_code = c_bw;
        else if (f_bsrc == 1'(vitaccel_isa_pkg::BSRC_ACT) && c_b != E_NONE)     chk_code = c_b;
        else if (!f_pimm && !wbuf_full[f_wbuf])                                 chk_code = E_WBUF;
        else if (!f_pimm)                                                       chk_code = c_rec;
        else                                                                    chk_code = c_d;
    end

    // ---------------- execution ----------------
    typedef enum logic [3:0] {G_IDLE, G_K, G_RD, G_CAP, G_PUSH, G_DRAIN, G_WR, G_POP, G_SH, G_SHC, G_P, G_PC}
        gstate_t;
    gstate_t st;
    logic              u8, trans, bwb, half, pimm;
    logic [31:0]       param, mo, so;
    logic [7:0]        dcode;                // destination span code (run-time order)
    logic [15:0]       j;                    // shift pre-check index
    logic [$clog2(COLS+1)-1:0] plc;         // record lane being loaded
    logic [2:0]        pq;                   // byte of the lane: 0..3 bias, 4..5 mult, 6 shift
    logic [COLS*32-1:0] p_bias;
    logic [COLS*16-1:0] p_mult;
    logic [COLS*6-1:0]  p_shift;
    logic [31:0]       p_addr;
    logic              p_valid;
    logic [7:0]        wb_byte;
    logic [31:0]       a, b, dst;
    logic [15:0]       m, n, k, ap, bp, dp;
    logic [15:0]       r0, c0, kk;
    logic [IW-1:0]     idx;                  // gather index: A rows 0..ROWS-1, then B columns
    logic [$clog2(COLS+1)-1:0] oc;          // output column within the tile
    logic [$clog2(ROWS+1)-1:0] orow;        // output row within the tile
    logic [ROWS*8-1:0] a_vec;
    logic [COLS*8-1:0] b_vec;
    logic              g_valid;              // gathered byte inside the matrix
    logic [31:0]       g_addr, w_addr;
    logic [BSH-1:0]    g_sel;
    logic              w_valid;
    logic [15:0]       g_row, g_col, w_row, w_col;

    // gemm core
    logic               in_valid, in_ready, out_valid, out_ready;
    /* verilator lint_off UNUSEDSIGNAL */  // the REQ8 result is the low byte of each sign-extended lane
    logic [COLS*32-1:0] out_data;
    logic               out_last, rs_ready;
    /* verilator lint_on UNUSEDSIGNAL */

    vitaccel_gemm_core #(.ROWS(ROWS), .COLS(COLS), .PACK(PACK)) u_core (
        .clk, .rst_n,
        .in_valid, .in_ready, .in_a(a_vec), .in_b(b_vec), .in_a_unsigned(u8),
        .in_first(kk == 16'd0), .in_last(kk == k - 16'd1),
        .rs_valid(busy), .rs_ready, .rs_mode(EPI_REQ8), .rs_bias(p_bias), .rs_mult(p_mult),
        .rs_shift(p_shift), .rs_res({(COLS*16){1'b0}}), .rs_gate(16'd0),
        .out_valid, .out_ready, .out_data, .out_last,
        .tbl_we(1'b0), .tbl_addr(8'd0), .tbl_wdata(8'd0)
    );

    assign busy = (st != G_IDLE);

    // gather address of index idx at step kk
    always_comb begin
        g_row = r0 + 16'(idx);
        g_col = c0 + 16'(idx) - 16'(ROWS);
        if (32'(idx) < 32'(ROWS)) begin
            g_valid = g_row < m;
            g_addr  = a + 32'(g_row) * 32'(ap) + 32'(kk);
        end else begin
            g_valid = g_col < n;
            g_addr  = bwb ? b + 32'(c0) * 32'(k) + 32'(kk) * 32'(COLS) + 32'(g_col - c0)
                          : b + 32'(kk) * 32'(bp) + 32'(g_col);
        end
        // record byte: shift pre-check (G_SH) or lane plc byte pq of the column tile (G_P)
        p_valid = (st == G_SH) || (c0 + 16'(plc) < n);
        if (st == G_SH)      p_addr = param + so + 32'(j);
        else if (pq < 3'd4)  p_addr = param + ((32'(c0) + 32'(plc)) << 2) + 32'(pq);
        else if (pq < 3'd6)  p_addr = param + mo + ((32'(c0) + 32'(plc)) << 1) + 32'(pq) - 32'd4;
        else                 p_addr = param + so + 32'(c0) + 32'(plc);
        w_row   = r0 + 16'(orow);
        w_col   = c0 + 16'(oc);
        w_valid = w_row < m && w_col < n;
        w_addr  = trans ? dst + 32'(w_col) * 32'(dp) + 32'(w_row) : dst + 32'(w_row) * 32'(dp) + 32'(w_col);
    end

    assign act_rd_en   = (st == G_RD) && g_valid && !(bwb && 32'(idx) >= 32'(ROWS));
    assign wb_rd_en    = ((st == G_RD) && g_valid && bwb && 32'(idx) >= 32'(ROWS))
                         || ((st == G_SH || st == G_P) && p_valid);
    assign wb_rd_half  = half;
    assign wb_rd_addr  = (st == G_SH || st == G_P) ? WB_AW'(p_addr >> BSH) : WB_AW'(g_addr >> BSH);
    assign wb_byte     = wb_rd_data[8*g_sel +: 8];
    assign act_rd_addr = ACT_AW'(g_addr >> BSH);
    assign act_wr_en   = (st == G_WR) && w_valid;
    assign act_wr_word = w_addr >> BSH;
    assign act_wr_data = {B{out_data[32*oc +: 8]}};
    assign act_wr_be   = B'(1) << w_addr[BSH-1:0];
    assign in_valid    = (st == G_PUSH);
    assign out_ready   = (st == G_POP);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            st   <= G_IDLE;
            done <= 1'b0;
        end else begin
            done <= 1'b0;
            if (st == G_SH || st == G_P) g_sel <= p_addr[BSH-1:0];
            case (st)
                G_IDLE: if (start) begin
                    u8 <= f_u8;  trans <= f_trans;
                    bwb <= f_bsrc == 1'(vitaccel_isa_pkg::BSRC_WBUF);  half <= f_wbuf;
                    a <= f_a;  b <= f_b;  dst <= f_dst;
                    m <= f_m;  n <= f_n;  k <= f_k;  ap <= f_ap;  bp <= f_bp;  dp <= f_dp;
                    r0 <= '0;  c0 <= '0;  kk <= '0;  idx <= '0;
                    pimm <= f_pimm;  param <= f_param;  mo <= r_mo;  so <= r_so;  dcode <= c_d;
                    j <= '0;  plc <= '0;  pq <= '0;
                    err_code <= E_NONE;
                    p_bias  <= '0;
                    p_mult  <= {COLS{f_mult}};
                    p_shift <= {COLS{f_shift}};
                    st <= f_pimm ? G_RD : G_SH;
                end
                // ---- pimm = 0: every shift <= 63, then the destination span, before anything is written ----
                G_SH: st <= G_SHC;
                G_SHC: begin
                    if (wb_byte > 8'd63) begin
                        err_code <= E_FIELD;
                        done     <= 1'b1;
                        st       <= G_IDLE;
                    end else if (j != n - 16'd1) begin
                        j  <= j + 16'd1;
                        st <= G_SH;
                    end else if (dcode != E_NONE) begin
                        err_code <= dcode;
                        done     <= 1'b1;
                        st       <= G_IDLE;
                    end else begin
                        st <= G_P;
                    end
                end
                // ---- pimm = 0: the column tile's bias / mult / shift lanes from the record ----
                G_P: st <= G_PC;
                G_PC: begin
                    case (pq)
                        3'd0, 3'd1, 3'd2, 3'd3: p_bias[32*plc + 8*pq +: 8] <= p_valid ? wb_byte : 8'd0;
                        3'd4, 3'd5:             p_mult[16*plc + 8*32'(pq[0]) +: 8] <= p_valid ? wb_byte : 8'd0;
                        default:                p_shift[6*plc +: 6] <= p_valid ? wb_byte[5:0] : 6'd0;
                    endcase
                    if (pq != 3'd6) begin
                        pq <= pq + 3'd1;
                        st <= G_P;
                    end else begin
                        pq <= '0;
                        if (32'(plc) != 32'(COLS - 1)) begin
                            plc <= plc + 1'b1;
                            st  <= G_P;
                        end else begin
                            plc <= '0;
                            idx <= '0;
                            st  <= G_RD;
                        end
                    end
                end
                G_K: begin
                    idx <= '0;
                    st  <= G_RD;
                end
                G_RD: begin
                    g_sel <= g_addr[BSH-1:0];
                    st    <= G_CAP;
                end
                G_CAP: begin
                    // act_rd_data holds the word read in G_RD; rows / columns outside the matrix are zero
                    if (32'(idx) < 32'(ROWS)) a_vec[8*idx +: 8] <= g_valid ? act_rd_data[8*g_sel +: 8] : 8'd0;
                    else b_vec[8*(32'(idx) - 32'(ROWS)) +: 8] <= !g_valid ? 8'd0
                                                                 : bwb ? wb_byte : act_rd_data[8*g_sel +: 8];
                    if (32'(idx) == 32'(ROWS + COLS - 1)) begin
                        st <= G_PUSH;
                    end else begin
                        idx <= idx + IW'(1);
                        st  <= G_RD;
                    end
                end
                G_PUSH: if (in_ready) begin
                    if (kk == k - 16'd1) begin
                        kk   <= '0;
                        orow <= '0;
                        st   <= G_DRAIN;
                    end else begin
                        kk <= kk + 16'd1;
                        st <= G_K;
                    end
                end
                G_DRAIN: if (out_valid) begin
                    oc <= '0;
                    st <= G_WR;
                end
                G_WR: begin
                    if (32'(oc) == 32'(COLS - 1)) st <= G_POP;
                    else oc <= oc + 1'b1;
                end
                G_POP: begin
                    if (32'(orow) != 32'(ROWS - 1)) begin
                        orow <= orow + 1'b1;
                        st   <= G_DRAIN;
                    end else if (32'(r0) + 32'(ROWS) < 32'(m)) begin
                        r0  <= r0 + 16'(ROWS);
                        idx <= '0;
                        st  <= G_RD;
                    end else if (32'(c0) + 32'(COLS) < 32'(n)) begin
                        r0  <= '0;
                        c0  <= c0 + 16'(COLS);
                        idx <= '0;
                        st  <= pimm ? G_RD : G_P;
                    end else begin
                        done <= 1'b1;
                        st   <= G_IDLE;
                    end
                end
                default: st <= G_IDLE;
            endcase
        end
    end
endmodule
