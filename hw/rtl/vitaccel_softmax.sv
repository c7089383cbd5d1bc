// vitaccel_softmax: single-pass online integer softmax over rows, LANES independent columns
// (golden: vitaccel.golden.softmax, ISA epilogue SOFTMAX: the softmax runs over the array's M dimension, so
// column n of successive output rows m = 0, 1, ... is one softmax row, consumed one element per step in
// increasing index order exactly as the contract requires).
//
// Input beat m (in_acc lane n = int32 score[m][n]; in_mult/in_shift per lane: per-tensor for attention, per
// expert for the MoE gate; in_last on the final m):
//   z     = sat24(round_shift(acc * mult, shift))                    (scores_to_z)
//           REQUANT = 0: in_acc lane n already holds z (sign-extended int24, e.g. the GEMM epilogue's SOFTMAX
//           mode) and in_mult / in_shift are ignored: no per-lane multiplier or shifter (same timing).
//   pass 1 (online, one beat per clock): c = ceil(z / 2^12); m' = max(m, c) (m starts at c_0, S at 0);
//          S = round_shift(S, min(m' - m, 63)) + exp2neg(m' * 2^12 - z); m = m'
//   z is kept in a row buffer (MAX_ROWS x LANES x 24 bit).
// After in_last: R = floor((2^(n+16) + S) / (2 S)), n = bit_length(S), by a 17-step restoring division on the
// normalised sum (all lanes in parallel). Then pass 2 emits the M rows in order (out_last on the final one):
//   p = min(round_shift(exp2neg(m * 2^12 - z) * R, n - 1 + 16 - OUT_BITS), 2^OUT_BITS - 1)
// exp2neg(d) = round_shift(T_HI[f[11:6]] * T_LO[f[5:0]], min(6 + (d >> 12), 63)), f = d & 4095; the tables are
// vitaccel_num_pkg::SM_T_HI / SM_T_LO, generated from golden.softmax.exp2_tables().
// Rows longer than MAX_ROWS are not accepted: in_ready stays 0 and err_overflow is raised (the sequencer
// reports it in the error register).
// CONTEXTS = 2 (the GEMM sequencer): two groups in flight. Groups (in_last ends one) alternate between two
// contexts (running max / sum, reciprocal, z row buffer each) and leave in the order they came in, so pass 1
// of group g + 1 runs while group g is divided and emitted. The pass-1 datapath (requantization, exp2neg,
// rescale), the sum normaliser and the pass-2 datapath (exp2neg, e * R, output rounding) exist once; only the
// 17-step dividers and the state are per context. The timing of each group is that of a lone unit, and the
// rows of the next group follow the last row of the previous one without a bubble when they are ready.
module vitaccel_softmax
#(
    parameter int LANES    = 4,
    parameter int MAX_ROWS = 64,
    parameter int OUT_BITS = 8,
    parameter bit REQUANT  = 1'b1,
    parameter int CONTEXTS = 1      // 1 or 2 groups in flight
) (
    input  logic                      clk,
    input  logic                      rst_n,
    input  logic                      in_valid,
    output logic                      in_ready,
    input  logic [LANES*32-1:0]       in_acc,
    input  logic [LANES*16-1:0]       in_mult,
    input  logic [LANES*6-1:0]        in_shift,
    input  logic                      in_last,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic [LANES*OUT_BITS-1:0] out_prob,
    output logic                      out_last,
    output logic                      err_overflow
);
    localparam int ZW  = vitaccel_num_pkg::SM_Z_BITS;        // 24
    localparam int SW  = vitaccel_num_pkg::SM_SUM_BITS;      // 40
    localparam int AW  = (MAX_ROWS > 1) ? $clog2(MAX_ROWS) : 1;
    localparam int CW  = ZW - vitaccel_num_pkg::SM_FRAC_BITS + 1;  // ceil(z / 2^12): 13-bit signed
    localparam int DW  = ZW + 1;           // d = m * 2^12 - z >= 0, 25 bit
    localparam int QB  = vitaccel_num_pkg::SM_RECIP_BITS + 1; // quotient bits: R in [2^15, 2^16]
    localparam int EXPW = vitaccel_num_pkg::SM_EXP_BITS + 1;  // exp2neg value <= 2^24
    localparam int NC  = CONTEXTS;
    localparam int P0  = 22 + vitaccel_num_pkg::SM_RECIP_BITS - OUT_BITS;  // fixed part of the pass-2 shift

    typedef enum logic [1:0] {S_ACC, S_TAIL, S_DIV, S_OUT} state_t;

    // ---------------- per-context control ----------------
    state_t      state  [NC];
    logic [AW:0] n_rows [NC];   // rows written
    logic [4:0]  div_step [NC];
    logic [NC-1:0] rd_done;     // every row of the context's group has been read in pass 2
    logic [NC-1:0] tail_end;    // context c leaves S_TAIL this cycle (its last beat has updated m and S)
    logic        ic;            // context taking input
    logic        rc;            // context whose rows pass 2 reads
    logic [AW:0] rd_ptr;        // rows of context rc read in pass 2
    logic        a_valid, a_first, a_ctx;
    logic [LANES*ZW-1:0] a_z;
    logic [LANES*ZW-1:0] zq;
    logic        rq_valid, rq_last, rq_ctx;
    logic        en2;           // output register enable
    logic        en_r;          // read stage enable
    logic        rd_go;         // read stage issues a row of context rc
    logic        tctx;          // context whose sum the shared normaliser sees (the one leaving S_TAIL)

    assign err_overflow = (state[ic] == S_ACC) && in_valid && (n_rows[ic] == (AW + 1)'(MAX_ROWS));
    assign in_ready     = (state[ic] == S_ACC) && !(n_rows[ic] == (AW + 1)'(MAX_ROWS));
    assign en2          = !out_valid || out_ready;
    assign en_r         = !rq_valid || en2;
    assign rd_go        = en_r && (state[rc] == S_OUT) && !rd_done[rc];
    genvar cx;
    generate
        for (cx = 0; cx < NC; cx++) begin : g_tail
            assign tail_end[cx] = (state[cx] == S_TAIL) && !(a_valid && a_ctx == 1'(cx));
        end
    endgenerate
    assign tctx = (NC > 1) && !tail_end[0];

    // exp2neg building blocks
    localparam logic [1023:0] T_HI = vitaccel_num_pkg::SM_T_HI;
    localparam logic [1023:0] T_LO = vitaccel_num_pkg::SM_T_LO;
    function automatic logic [15:0] t_hi(input logic [5:0] a);
        t_hi = T_HI[a*16 +: 16];
    endfunction
    function automatic logic [15:0] t_lo(input logic [5:0] b);
        t_lo = T_LO[b*16 +: 16];
    endfunction
    function automatic logic [vitaccel_num_pkg::SM_EXP_BITS:0] exp2neg(input logic [DW-1:0] d);
        logic [30:0] prod;   // <= 2^30
        logic [4:0]  sh;
        logic [25:0] t;
        logic [DW-13:0] k;
        k    = d[DW-1:12];
        prod = t_hi(d[11:6]) * t_lo(d[5:0]);   // 16 x 16 bit, <= 2^30
        // round_shift(prod, s), s = min(6 + k, 63) >= 6, as ((prod >> (s - 1)) + 1) >> 1 (the same value): a
        // fixed shift by 5, a variable one by s - 6 in 0..26 (prod <= 2^30, so every s >= 32 gives 0)
        sh   = (k > (DW - 12)'(26)) ? 5'd26 : 5'(k);
        t    = 26'(prod >> 5) >> sh;
        exp2neg = EXPW'((27'(t) + 27'd1) >> 1);
    endfunction

    // ---------------- stage A: z requantization (registered) ----------------
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            a_valid <= 1'b0;
        end else begin
            a_valid <= in_valid && in_ready;
        end
    end
    always_ff @(posedge clk) begin
        if (in_valid && in_ready) begin
            a_first <= (n_rows[ic] == '0);
            a_ctx   <= ic;
        end
    end

    genvar l;
    generate
        if (REQUANT) begin : g_requant
            for (l = 0; l < LANES; l++) begin : g_zq
                logic signed [48:0] p;
                logic signed [49:0] r;
                logic [5:0] sh;
                assign sh = in_shift[l*6 +: 6];
                assign p  = $signed(in_acc[l*32 +: 32]) * $signed({1'b0, in_mult[l*16 +: 16]});
                // shifts >= 49 give 0 or -1 after rounding: clamp to 49 (|p| < 2^47, same result)
                always_comb begin
                    logic [5:0] s2;
                    s2 = (sh > 6'd49) ? 6'd49 : sh;
                    r  = (s2 == 6'd0) ? 50'(p) : ((50'(p) + (50'sd1 <<< (s2 - 6'd1))) >>> s2);
                end
                always_ff @(posedge clk) begin
                    if (in_valid && in_ready) begin
                        a_z[l*ZW +: ZW] <= (r > 50'sd8388607) ? 24'h7fffff : (r < -50'sd8388608) ? 24'h800000
                                                                                                 : r[ZW-1:0];
                    end
                end
            end
        end else begin : g_z_in
            for (l = 0; l < LANES; l++) begin : g_zq
                always_ff @(posedge clk) begin
                    if (in_valid && in_ready) a_z[l*ZW +: ZW] <= in_acc[l*32 +: ZW];
                end
            end
            logic unused_requant;
            assign unused_requant = ^{in_mult, in_shift, in_acc};
        end
    endgenerate

    // ---------------- z row buffers (one per context) ----------------
    logic [AW-1:0] wr_addr;  // row of the beat in stage A (explicit width: Icarus widens index expressions)
    logic [LANES*ZW-1:0] zrd [NC];
    assign wr_addr = n_rows[a_ctx][AW-1:0] - AW'(1);
    generate
        for (cx = 0; cx < NC; cx++) begin : g_zbuf
            logic [LANES*ZW-1:0] zbuf [MAX_ROWS];
            always_ff @(posedge clk) begin
                if (a_valid && a_ctx == 1'(cx)) zbuf[wr_addr] <= a_z;
            end
            always_ff @(posedge clk) begin
                if (rd_go && rc == 1'(cx)) zrd[cx] <= zbuf[rd_ptr[AW-1:0]];
            end
        end
    endgenerate
    assign zq = zrd[rq_ctx];

    // ---------------- per-lane running max / sum, reciprocal, pass 2 ----------------
    generate
        for (l = 0; l < LANES; l++) begin : g_lane
            logic signed [CW-1:0] m_run [NC];
            logic [SW-1:0]        s_run [NC];
            logic [5:0]           nb    [NC];   // bit_length(S) of the context's final sum
            logic [QB-1:0]        rq    [NC];   // reciprocal R
            logic signed [CW-1:0] c, m_new, m_use, m_a;
            logic [SW-1:0]        s_a, s_rescaled, s_t;
            logic [CW:0]          dm;
            logic [5:0]           rsh;
            logic [DW-1:0]        d1, d2;
            logic [vitaccel_num_pkg::SM_EXP_BITS:0] e1, e2;
            logic signed [ZW-1:0] z1, z2;
            logic [5:0]           nbits;    // bit_length(s_t)
            logic [SW-1:0]        s_norm;
            logic [41:0]          er;       // e * R < 2^41 (25 x 17 bit)
            logic [47:0]          pr;       // e * R + half < 2^41 + 2^46
            logic [4:0]           psh;
            logic [41:0]          erp;      // er >> (psh - 1)

            // pass 1 (context a_ctx)
            assign m_a   = m_run[a_ctx];
            assign s_a   = s_run[a_ctx];
            assign z1    = $signed(a_z[l*ZW +: ZW]);
            assign c     = CW'(((ZW + 1)'(z1) + (ZW + 1)'(4095)) >>> vitaccel_num_pkg::SM_FRAC_BITS);   // ceil(z / 2^12)
            assign m_use = a_first ? c : m_a;
            assign m_new = (c > m_use) ? c : m_use;
            assign dm    = (CW + 1)'(m_new) - (CW + 1)'(m_use);
            assign rsh   = (dm > (CW + 1)'(41)) ? 6'd41 : 6'(dm);        // S < 2^40: shifts >= 41 give 0
            assign s_rescaled = (rsh == 6'd0) ? s_a
                              : SW'(((SW + 1)'(s_a) + ((SW + 1)'(1) << (rsh - 6'd1))) >> rsh);
            assign d1    = DW'((DW'(m_new) <<< vitaccel_num_pkg::SM_FRAC_BITS) - DW'(z1));

            // bit length of the sum of the context leaving S_TAIL (S >= 2^23 after the first element)
            assign s_t = s_run[tctx];
            always_comb begin
                nbits = 6'd0;
                for (int i = 0; i < SW; i++) if (s_t[i]) nbits = 6'(i + 1);
            end
            // S >= 2^23 once a group's first element is in (that element's e >= 2^23), so nbits is in 24..SW and
            // the normalising shift in 0..SW - 24 (5 bits)
            assign s_norm = s_t << 5'(6'(SW) - nbits);

            for (cx = 0; cx < NC; cx++) begin : g_ctx
                logic [SW:0]   rem;      // long-division remainder (< divisor < 2^41)
                logic [SW:0]   div;      // 2 * S_n
                logic [QB-1:0] low;      // dividend bits still to shift in, MSB first
                logic [SW+1:0] rem2;
                always_ff @(posedge clk) begin
                    if (a_valid && a_ctx == 1'(cx)) begin
                        m_run[cx] <= m_new;
                        s_run[cx] <= (a_first ? '0 : s_rescaled) + SW'(e1);
                    end
                end
                // R = floor(N / (2 S_n)), N = 2^56 + S_n (= floor((2^(n+16) + S) / (2 S))): restoring division,
                // 17 quotient bits MSB first. The quotient is < 2^17, so the remainder starts as N >> 17
                // (< 2 S_n) and the low 17 dividend bits (= S_n[16:0]) are shifted in one per step.
                assign rem2 = {rem, low[QB-1]};
                always_ff @(posedge clk) begin
                    if (tail_end[cx]) begin
                        rem <= (SW + 1)'(1) << (SW + vitaccel_num_pkg::SM_RECIP_BITS - QB) | (SW + 1)'(s_norm >> QB);
                        low <= s_norm[QB-1:0];
                        div <= {s_norm, 1'b0};
                        rq[cx] <= '0;
                        nb[cx] <= nbits;
                    end else if (state[cx] == S_DIV) begin
                        if (rem2 >= {1'b0, div}) begin
                            rem <= (SW + 1)'(rem2 - {1'b0, div});
                            rq[cx] <= {rq[cx][QB-2:0], 1'b1};
                        end else begin
                            rem <= rem2[SW:0];
                            rq[cx] <= {rq[cx][QB-2:0], 1'b0};
                        end
                        low <= low << 1;
                    end
                end
            end

            // pass 2 (context rq_ctx): p = min(round_shift(e * R, n - 1 + 16 - OUT_BITS), 2^OUT_BITS - 1)
            assign z2  = $signed(zq[l*ZW +: ZW]);
            assign d2  = DW'((DW'(m_run[rq_ctx]) <<< vitaccel_num_pkg::SM_FRAC_BITS) - DW'(z2));
            if (NC == 1) begin : g_exp_shared  // one context never runs both passes at once: one exp2neg
                logic [DW-1:0] dx;
                logic [vitaccel_num_pkg::SM_EXP_BITS:0] ex;
                assign dx = (state[0] == S_OUT) ? d2 : d1;
                assign ex = exp2neg(dx);
                assign e1 = ex;
                assign e2 = ex;
            end else begin : g_exp_two
                assign e1 = exp2neg(d1);
                assign e2 = exp2neg(d2);
            end
            assign er  = e2 * rq[rq_ctx];
            // psh = n - 1 + 16 - OUT_BITS with n = nb in 24..SW: psh >= P0 + 1, P0 = 22 + 16 - OUT_BITS.
            // round_shift(er, psh) = ((er >> (psh - 1)) + 1) >> 1: a fixed shift by P0, a variable one by
            // psh - 1 - P0 = nb - 24 in 0..SW - 24
            assign psh = 5'(nb[rq_ctx] - 6'd24);
            assign erp = (er >> P0) >> psh;
            assign pr  = (48'(erp) + 48'd1) >> 1;
            always_ff @(posedge clk) begin
                if (en2) begin
                    out_prob[l*OUT_BITS +: OUT_BITS] <= (pr > 48'((1 << OUT_BITS) - 1))
                        ? {OUT_BITS{1'b1}} : pr[OUT_BITS-1:0];
                end
            end
        end
    endgenerate

    // ---------------- control ----------------
    // a context's group ends when its last row leaves the output register
    logic out_done;
    assign out_done = out_valid && out_ready && out_last;
    logic oc;  // context of the row in the output register
    always_ff @(posedge clk) begin
        if (en2) oc <= rq_ctx;
    end

    generate
        for (cx = 0; cx < NC; cx++) begin : g_state
            always_ff @(posedge clk) begin
                if (!rst_n) begin
                    state[cx]    <= S_ACC;
                    n_rows[cx]   <= '0;
                    div_step[cx] <= '0;
                    rd_done[cx]  <= 1'b0;
                end else begin
                    if (rd_go && rc == 1'(cx) && rd_ptr == n_rows[cx] - 1'b1) rd_done[cx] <= 1'b1;
                    case (state[cx])
                        S_ACC: begin
                            if (in_valid && in_ready && ic == 1'(cx)) begin
                                n_rows[cx] <= n_rows[cx] + 1'b1;
                                if (in_last) state[cx] <= S_TAIL;
                            end
                        end
                        S_TAIL: begin  // the last row updates m and S in this cycle
                            if (tail_end[cx]) begin
                                state[cx]    <= S_DIV;
                                div_step[cx] <= '0;
                            end
                        end
                        S_DIV: begin
                            div_step[cx] <= div_step[cx] + 5'd1;
                            if (div_step[cx] == 5'(QB - 1)) begin
                                state[cx]   <= S_OUT;
                                rd_done[cx] <= 1'b0;
                            end
                        end
                        S_OUT: begin
                            if (out_done && oc == 1'(cx)) begin
                                state[cx]  <= S_ACC;
                                n_rows[cx] <= '0;
                            end
                        end
                        default: state[cx] <= S_ACC;
                    endcase
                end
            end
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            ic        <= 1'b0;
            rc        <= 1'b0;
            rd_ptr    <= '0;
            rq_valid  <= 1'b0;
            rq_ctx    <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            if (in_valid && in_ready && in_last && NC > 1) ic <= ~ic;
            if (en_r) begin
                rq_valid <= rd_go;
                rq_last  <= (rd_ptr == n_rows[rc] - 1'b1);
                rq_ctx   <= rc;
            end
            if (rd_go) begin
                if (rd_ptr == n_rows[rc] - 1'b1) begin  // last row of this group: the next group is read next
                    rd_ptr <= '0;
                    if (NC > 1) rc <= ~rc;
                end else begin
                    rd_ptr <= rd_ptr + 1'b1;
                end
            end
            if (en2) begin
                out_valid <= rq_valid;
                out_last  <= rq_last;
            end
        end
    end

`ifndef SYNTHESIS
    initial begin
        if (CONTEXTS != 1 && CONTEXTS != 2) $fatal(1, "vitaccel_softmax: CONTEXTS must be 1 or 2");
    end
`endif
endmodule
