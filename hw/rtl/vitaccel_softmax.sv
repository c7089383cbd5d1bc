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
//   pass 1 (online): c = ceil(z / 2^12); m' = max(m, c) (m starts at c_0, S at 0);
//          S = round_shift(S, min(m' - m, 63)) + exp2neg(m' * 2^12 - z); m = m'
//   z is kept in a row buffer (MAX_ROWS x LANES x 24 bit).
// After in_last: R = floor((2^(n+16) + S) / (2 S)), n = bit_length(S), by a 17-step restoring division (all lanes
// in parallel) of N = 2^(n+16) + S by D = 2 S: the remainder starts as N >> 17 = 2^(n-1) | (S >> 17) and the
// dividend bits S[16:0] are shifted in MSB first (no normalising shifter: only n is found, by a priority encoder).
// Then pass 2 emits the M rows in order (out_last on the final one):
//   p = min(round_shift(exp2neg(m * 2^12 - z) * R, n - 1 + 16 - OUT_BITS), 2^OUT_BITS - 1)
// exp2neg(d) = round_shift(T_HI[f[11:6]] * T_LO[f[5:0]], min(6 + (d >> 12), 63)), f = d & 4095; the tables are
// vitaccel_num_pkg::SM_T_HI / SM_T_LO, generated from golden.softmax.exp2_tables().
// Rows longer than MAX_ROWS are not accepted: in_ready stays 0 and err_overflow is raised (the sequencer
// reports it in the error register).
// CONTEXTS = 2 (the GEMM sequencer): two groups in flight. Groups (in_last ends one) alternate between two
// contexts (running max / sum, reciprocal, z row buffer each) and leave in the order they came in, so pass 1
// of group g + 1 runs while group g is divided and emitted. The pass-1 datapath (requantization, exp2neg,
// rescale), the bit-length finder and the pass-2 datapath (exp2neg, e * R, output rounding) exist once; only the
// state is per context. The 17-step dividers (one per lane) serve one context at a time: a group whose last row
// comes in while the other context still divides (S_NORM / S_DIV, only for groups shorter than the division)
// waits in S_TAIL. Otherwise the timing of each group is that of a lone unit, and the rows of the next group
// follow the last row of the previous one without a bubble when they are ready.
// GROUPS = F > 1 (time multiplexing, DP = LANES / F datapath lanes, group g = lanes g*DP .. (g+1)*DP - 1): the
// pass-1 datapath (exp2neg, rescale, running max / sum update) and the bit-length finder exist DP times and serve
// the F groups on successive clocks; the state (running max / sum, bit length, reciprocal) and the dividers stay
// per lane, and pass 2 still handles every lane each clock (a pass 2 at one row per F clocks, with the GEMM's P
// transposer waits, no longer hides under the next column tile's k-steps: +296 clocks per m3vit-tiny Q.K^T on
// zcu102). A row is taken every F clocks (in_ready low for F - 1 clocks after each row: the last row's last group
// updates S F - 1 clocks later), and the F groups' sums enter the dividers on F successive clocks (F - 1 more).
// GROUPS = 1 (default, the MoE router): one clock per row, the timing above.
module vitaccel_softmax
#(
    parameter int LANES    = 4,
    parameter int MAX_ROWS = 64,
    parameter int OUT_BITS = 8,
    parameter bit REQUANT  = 1'b1,
    parameter int CONTEXTS = 1,     // 1 or 2 groups in flight
    parameter int GROUPS   = 1      // lane groups per datapath lane (a power of two dividing LANES; 1: no sharing)
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
    localparam int F   = GROUPS;          // lane groups sharing the datapath (clocks per row)
    localparam int DP  = LANES / GROUPS;  // datapath lanes
    localparam int GB  = (F > 1) ? $clog2(F) : 1;

    typedef enum logic [2:0] {S_ACC, S_TAIL, S_NORM, S_DIV, S_OUT} state_t;

    // ---------------- per-context control ----------------
    state_t      state  [NC];
    logic [AW:0] n_rows [NC];   // rows written
    logic [4:0]  div_step [NC];
    logic [GB-1:0] nph  [NC];   // S_NORM: lane group whose sums enter the dividers
    logic [GB-1:0] ngrp [NC];   // lane group loaded into the context's dividers this clock
    logic [NC-1:0] nload;       // the context's dividers of group ngrp load this clock
    logic [NC-1:0] rd_done;     // every row of the context's group has been read in pass 2
    logic [NC-1:0] tail_end;    // context c leaves S_TAIL this cycle (its last beat has updated m and S)
    logic        ic;            // context taking input
    logic        rc;            // context whose rows pass 2 reads
    logic [AW:0] rd_ptr;        // rows of context rc read in pass 2
    logic        a_valid, a_first, a_ctx;
    logic [GB-1:0] a_ph;        // lane group of the stage-A row in the pass-1 datapath
    logic        a_lastph;
    logic [LANES*ZW-1:0] a_z;
    logic [LANES*ZW-1:0] zq;
    logic        rq_valid, rq_last, rq_ctx;
    logic        en2;           // output register enable
    logic        en_r;          // read stage enable
    logic        rd_go;         // read stage issues a row of context rc
    logic        tctx;          // context whose sums the shared bit-length finder sees
    logic        dctx;          // context using the dividers
    logic [NC-1:0] div_busy;    // the context holds the dividers (S_NORM, S_DIV)

    assign a_lastph     = a_ph == GB'(F - 1);
    assign err_overflow = (state[ic] == S_ACC) && in_valid && (n_rows[ic] == (AW + 1)'(MAX_ROWS));
    assign in_ready     = (state[ic] == S_ACC) && !(n_rows[ic] == (AW + 1)'(MAX_ROWS)) && (!a_valid || a_lastph);
    assign en2          = !out_valid || out_ready;
    assign en_r         = !rq_valid || en2;
    assign rd_go        = en_r && (state[rc] == S_OUT) && !rd_done[rc];
    genvar cx;
    generate
        for (cx = 0; cx < NC; cx++) begin : g_tail
            // ... once the other context has left the dividers (shared: only short groups wait)
            assign div_busy[cx] = state[cx] == S_NORM || state[cx] == S_DIV;
            assign tail_end[cx] = (state[cx] == S_TAIL) && !(a_valid && a_ctx == 1'(cx))
                                  && !(NC > 1 && div_busy[(cx + 1) % NC]);
            assign nload[cx]    = tail_end[cx] || state[cx] == S_NORM;
            assign ngrp[cx]     = (state[cx] == S_NORM) ? nph[cx] : '0;
        end
    endgenerate
    // one context at a time (a context leaves S_TAIL only when the other holds no divider)
    assign tctx = (NC > 1) && !nload[0];
    assign dctx = (NC > 1) && !(state[0] == S_DIV);

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

    // ---------------- stage A: z requantization (registered), held F clocks ----------------
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            a_valid <= 1'b0;
            a_ph    <= '0;
        end else begin
            if (in_valid && in_ready) begin
                a_valid <= 1'b1;
                a_ph    <= '0;
            end else begin
                if (a_lastph) a_valid <= 1'b0;
                if (a_valid && !a_lastph) a_ph <= a_ph + 1'b1;
            end
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

    // ---------------- z row buffers (one per context), written in the row's first stage-A clock ----------------
    logic [AW-1:0] wr_addr;  // row of the beat in stage A (explicit width: Icarus widens index expressions)
    logic [LANES*ZW-1:0] zrd [NC];
    logic a_wr;
    assign wr_addr = n_rows[a_ctx][AW-1:0] - AW'(1);
    assign a_wr    = a_valid && a_ph == '0;
    generate
        for (cx = 0; cx < NC; cx++) begin : g_zbuf
            logic [LANES*ZW-1:0] zbuf [MAX_ROWS];
            always_ff @(posedge clk) begin
                if (a_wr && a_ctx == 1'(cx)) zbuf[wr_addr] <= a_z;
            end
            always_ff @(posedge clk) begin
                if (rd_go && rc == 1'(cx)) zrd[cx] <= zbuf[rd_ptr[AW-1:0]];
            end
        end
    endgenerate
    assign zq = zrd[rq_ctx];

    // ---------------- datapath lanes j (serving lanes g * DP + j), per-lane state ----------------
    genvar j, g;
    generate
        for (j = 0; j < DP; j++) begin : g_lane
            // state of lanes g * DP + j, per context and group
            logic signed [CW-1:0] m_run [NC][F];
            logic [SW-1:0]        s_run [NC][F];
            logic [5:0]           nb    [NC][F];   // bit_length(S) of the context's final sum
            logic [QB-1:0]        rq    [NC][F];   // reciprocal R
            logic [ZW-1:0]        zg1 [F];
            logic [ZW-1:0]        zg2 [F];
            logic signed [CW-1:0] c, m_new, m_use, m_a;
            logic [SW-1:0]        s_a, s_new;
            logic [SW:0]          s_half;   // 2 S >> rsh (0 for a group's first element)
            logic [CW:0]          dm;
            logic [5:0]           rsh;
            logic [DW-1:0]        d1;
            logic [vitaccel_num_pkg::SM_EXP_BITS:0] e1;
            logic signed [ZW-1:0] z1;
            logic [SW-1:0]        s_t;      // sum entering the dividers (context tctx, group ngrp)
            logic [5:0]           nbits;    // bit_length(s_t)
            logic [SW-1:0]        hb;       // 2^(nbits - 1)
            logic [SW:0]          rem0;     // N >> 17 = 2^(n-1) | (S >> 17)

            for (g = 0; g < F; g++) begin : g_zsel
                assign zg1[g] = a_z[(g*DP + j)*ZW +: ZW];
                assign zg2[g] = zq[(g*DP + j)*ZW +: ZW];
            end

            // pass 1 (context a_ctx, group a_ph)
            assign m_a   = m_run[a_ctx][a_ph];
            assign s_a   = s_run[a_ctx][a_ph];
            assign z1    = $signed(zg1[a_ph]);
            assign c     = CW'(((ZW + 1)'(z1) + (ZW + 1)'(4095)) >>> vitaccel_num_pkg::SM_FRAC_BITS);   // ceil(z / 2^12)
            assign m_use = a_first ? c : m_a;
            assign m_new = (c > m_use) ? c : m_use;
            assign dm    = (CW + 1)'(m_new) - (CW + 1)'(m_use);
            assign rsh   = (dm > (CW + 1)'(41)) ? 6'd41 : 6'(dm);        // S < 2^40: shifts >= 41 give 0
            // round_shift(S, rsh) + e = ((2 S >> rsh) + 1) >> 1 + e = ((2 S >> rsh) + 2 e + 1) >> 1 (rsh = 0: S + e):
            // one shifter, one adder
            assign s_half = a_first ? '0 : {s_a, 1'b0} >> rsh;
            assign s_new  = SW'(((SW + 2)'(s_half) + (SW + 2)'({e1, 1'b1})) >> 1);
            assign d1    = DW'((DW'(m_new) <<< vitaccel_num_pkg::SM_FRAC_BITS) - DW'(z1));

            // bit length of the sum entering the dividers (S >= 2^23 after the first element: nbits in 24..SW)
            assign s_t = s_run[tctx][ngrp[tctx]];
            always_comb begin
                nbits = 6'd0;
                for (int i = 0; i < SW; i++) if (s_t[i]) nbits = 6'(i + 1);
            end
            assign hb   = SW'(1) << 6'(nbits - 6'd1);
            assign rem0 = {1'b0, hb | (s_t >> QB)};

            for (g = 0; g < F; g++) begin : g_grp
                for (cx = 0; cx < NC; cx++) begin : g_ctx
                    always_ff @(posedge clk) begin
                        if (a_valid && a_ctx == 1'(cx) && a_ph == GB'(g)) begin
                            m_run[cx][g] <= m_new;
                            s_run[cx][g] <= s_new;
                        end
                    end
                end
                // one divider per lane, shared by the contexts (one divides at a time):
                // R = floor(N / D), N = 2^(n+16) + S, D = 2 S: restoring division, 17 quotient bits MSB first.
                // 2 rem + b >= 2 S <=> rem >= S, and then the new remainder is 2 (rem - S) + b.
                logic [SW:0]    rem;      // long-division remainder (< D = 2 S < 2^41)
                logic [SW-1:0]  dv;       // S of the dividing context
                logic [SW+1:0]  sub;      // {borrow, rem - S}
                logic [QB-1:0]  low;      // dividend bits S[16:0]
                logic [4:0]     bi;       // the bit shifted in this step: S[16 - step]
                logic           ge;
                assign low = dv[QB-1:0];
                assign bi  = 5'(QB - 1) - div_step[dctx];
                assign sub = (SW + 2)'(rem) - (SW + 2)'(dv);
                assign ge  = !sub[SW+1];
                always_ff @(posedge clk) begin
                    if (nload[tctx] && ngrp[tctx] == GB'(g)) begin
                        rem <= rem0;
                        dv  <= s_t;
                    end else if (state[dctx] == S_DIV) begin
                        rem <= {ge ? sub[SW-1:0] : rem[SW-1:0], low[bi]};
                    end
                end
                for (cx = 0; cx < NC; cx++) begin : g_rq
                    always_ff @(posedge clk) begin
                        if (nload[cx] && ngrp[cx] == GB'(g)) nb[cx][g] <= nbits;
                        if (state[cx] == S_DIV) rq[cx][g] <= {rq[cx][g][QB-2:0], ge};  // 17 steps: all bits
                    end
                end
            end

            // pass 2 (context rq_ctx), every lane each clock (not shared: a row per clock keeps a column tile's
            // pass 2 under the next tile's k-steps): p = min(round_shift(e * R, n - 1 + 16 - OUT_BITS), 2^OUT_BITS - 1)
            if (NC != 1) begin : g_exp1
                assign e1 = exp2neg(d1);
            end
            for (g = 0; g < F; g++) begin : g_p2
                logic signed [ZW-1:0] z2;
                logic [DW-1:0]        d2;
                logic [vitaccel_num_pkg::SM_EXP_BITS:0] e2;
                logic [41:0]          er;       // e * R < 2^41 (25 x 17 bit)
                logic [47:0]          pr;       // e * R + half < 2^41 + 2^46
                logic [4:0]           psh;
                logic [41:0]          erp;      // er >> (psh - 1)
                assign z2 = $signed(zg2[g]);
                assign d2 = DW'((DW'(m_run[rq_ctx][g]) <<< vitaccel_num_pkg::SM_FRAC_BITS) - DW'(z2));
                if (NC == 1 && g == 0) begin : g_exp_shared  // one context never runs both passes at once
                    logic [DW-1:0] dx;
                    logic [vitaccel_num_pkg::SM_EXP_BITS:0] ex;
                    assign dx = (state[0] == S_OUT) ? d2 : d1;
                    assign ex = exp2neg(dx);
                    assign e1 = ex;
                    assign e2 = ex;
                end else begin : g_exp_own
                    assign e2 = exp2neg(d2);
                end
                assign er  = e2 * rq[rq_ctx][g];
                // psh = n - 1 + 16 - OUT_BITS with n = nb in 24..SW: psh >= P0 + 1, P0 = 22 + 16 - OUT_BITS.
                // round_shift(er, psh) = ((er >> (psh - 1)) + 1) >> 1: a fixed shift by P0, a variable one by
                // psh - 1 - P0 = nb - 24 in 0..SW - 24
                assign psh = 5'(nb[rq_ctx][g] - 6'd24);
                assign erp = (er >> P0) >> psh;
                assign pr  = (48'(erp) + 48'd1) >> 1;
                always_ff @(posedge clk) begin
                    if (en2) begin
                        out_prob[(g*DP + j)*OUT_BITS +: OUT_BITS] <= (pr > 48'((1 << OUT_BITS) - 1))
                            ? {OUT_BITS{1'b1}} : pr[OUT_BITS-1:0];
                    end
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
                    nph[cx]      <= '0;
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
                        S_TAIL: begin  // the last row updates m and S in this cycle (its last group)
                            if (tail_end[cx]) begin  // group 0 enters the dividers
                                state[cx]    <= (F > 1) ? S_NORM : S_DIV;
                                nph[cx]      <= GB'(1);
                                div_step[cx] <= '0;
                            end
                        end
                        S_NORM: begin  // groups 1 .. F-1 enter the dividers
                            nph[cx] <= nph[cx] + 1'b1;
                            if (nph[cx] == GB'(F - 1)) state[cx] <= S_DIV;
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
        if (GROUPS < 1 || LANES % GROUPS != 0 || (GROUPS & (GROUPS - 1)) != 0)
            $fatal(1, "vitaccel_softmax: GROUPS must be a power of two dividing LANES");
    end
`endif
endmodule
