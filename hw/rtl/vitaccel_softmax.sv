// vitaccel_softmax: single-pass online integer softmax over rows, LANES independent columns
// (golden: vitaccel.golden.softmax, ISA epilogue SOFTMAX: the softmax runs over the array's M dimension, so
// column n of successive output rows m = 0, 1, ... is one softmax row, consumed one element per step in
// increasing index order exactly as the contract requires).
//
// Input beat m (in_acc lane n = int32 score[m][n]; in_mult/in_shift per lane: per-tensor for attention, per
// expert for the MoE gate; in_last on the final m):
//   z     = sat24(round_shift(acc * mult, shift))                    (scores_to_z)
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
module vitaccel_softmax
#(
    parameter int LANES    = 4,
    parameter int MAX_ROWS = 64,
    parameter int OUT_BITS = 8
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

    typedef enum logic [1:0] {S_ACC, S_TAIL, S_DIV, S_OUT} state_t;
    state_t state;

    // ---------------- row counters ----------------
    logic [AW:0] n_rows;   // rows written
    logic [AW:0] rd_ptr;   // rows read in pass 2
    logic        a_valid, a_first;
    logic [LANES*ZW-1:0] a_z;
    logic [LANES*ZW-1:0] zbuf [MAX_ROWS];
    logic [LANES*ZW-1:0] zq;
    logic        rq_valid, rq_last;
    logic [4:0]  div_step;
    logic        en2;  // pass-2 pipeline enable

    assign err_overflow = (state == S_ACC) && in_valid && (n_rows == (AW + 1)'(MAX_ROWS));
    assign in_ready     = (state == S_ACC) && !(n_rows == (AW + 1)'(MAX_ROWS));
    assign en2          = !out_valid || out_ready;

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
        logic [5:0]  sh;
        logic [33:0] sum;
        logic [DW-13:0] k;
        k    = d[DW-1:12];
        prod = t_hi(d[11:6]) * t_lo(d[5:0]);   // 16 x 16 bit, <= 2^30
        // round_shift(prod, min(6 + k, 63)); prod <= 2^30, so every shift >= 32 gives 0
        sh   = (k > (DW - 12)'(26)) ? 6'd32 : 6'(k) + 6'd6;
        sum  = 34'(prod) + (34'(1) << (sh - 6'd1));
        exp2neg = EXPW'(sum >> sh);
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
            a_first <= (n_rows == '0);
        end
    end

    genvar l;
    generate
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
                    a_z[l*ZW +: ZW] <= (r > 50'sd8388607) ? 24'h7fffff : (r < -50'sd8388608) ? 24'h800000 : r[ZW-1:0];
                end
            end
        end
    endgenerate

    // ---------------- z row buffer ----------------
    logic [AW-1:0] wr_addr;  // row of the beat in stage A (explicit width: Icarus widens index expressions)
    assign wr_addr = n_rows[AW-1:0] - AW'(1);
    always_ff @(posedge clk) begin
        if (a_valid) zbuf[wr_addr] <= a_z;
    end

    // ---------------- per-lane running max / sum, reciprocal, pass 2 ----------------
    generate
        for (l = 0; l < LANES; l++) begin : g_lane
            logic signed [CW-1:0] m_run, c, m_new, m_use;
            logic [SW-1:0]        s_run, s_rescaled;
            logic [CW:0]          dm;
            logic [5:0]           rsh;
            logic [DW-1:0]        d1, d2, d;
            logic [vitaccel_num_pkg::SM_EXP_BITS:0] e;
            logic signed [ZW-1:0] z1, z2;
            logic [5:0]           nbits;    // bit_length(S)
            logic [SW-1:0]        s_norm;
            logic [SW:0]          rem;      // long-division remainder (< divisor < 2^41)
            logic [SW:0]          div;      // 2 * S_n
            logic [QB-1:0]        low;      // dividend bits still to shift in, MSB first
            logic [SW+1:0]        rem2;
            logic [QB-1:0]        rq;       // reciprocal R
            logic [41:0]          er;       // e * R < 2^41 (25 x 17 bit)
            logic [47:0]          pr;       // e * R + half < 2^41 + 2^46
            logic [5:0]           psh;

            assign z1    = $signed(a_z[l*ZW +: ZW]);
            assign c     = CW'(((ZW + 1)'(z1) + (ZW + 1)'(4095)) >>> vitaccel_num_pkg::SM_FRAC_BITS);   // ceil(z / 2^12)
            assign m_use = a_first ? c : m_run;
            assign m_new = (c > m_use) ? c : m_use;
            assign dm    = (CW + 1)'(m_new) - (CW + 1)'(m_use);
            assign rsh   = (dm > (CW + 1)'(41)) ? 6'd41 : 6'(dm);        // S < 2^40: shifts >= 41 give 0
            assign s_rescaled = (rsh == 6'd0) ? s_run
                              : SW'(((SW + 1)'(s_run) + ((SW + 1)'(1) << (rsh - 6'd1))) >> rsh);
            assign d1    = DW'((DW'(m_new) <<< vitaccel_num_pkg::SM_FRAC_BITS) - DW'(z1));
            assign z2    = $signed(zq[l*ZW +: ZW]);
            assign d2    = DW'((DW'(m_run) <<< vitaccel_num_pkg::SM_FRAC_BITS) - DW'(z2));
            assign d     = (state == S_OUT) ? d2 : d1;
            assign e     = exp2neg(d);

            always_ff @(posedge clk) begin
                if (!rst_n || (state == S_OUT && out_valid && out_ready && out_last)) begin
                    s_run <= '0;
                end else if (a_valid) begin
                    m_run <= m_new;
                    s_run <= (a_first ? '0 : s_rescaled) + SW'(e);
                end
            end

            // bit length of S (S >= 2^23 after the first element)
            always_comb begin
                nbits = 6'd0;
                for (int i = 0; i < SW; i++) if (s_run[i]) nbits = 6'(i + 1);
            end
            assign s_norm = s_run << (6'(SW) - nbits);

            // R = floor(N / (2 S_n)), N = 2^56 + S_n (= floor((2^(n+16) + S) / (2 S))): restoring division, 17
            // quotient bits MSB first. The quotient is < 2^17, so the remainder starts as N >> 17 (< 2 S_n) and
            // the low 17 dividend bits (= S_n[16:0]) are shifted in one per step: no barrel shifter.
            assign rem2 = {rem, low[QB-1]};
            always_ff @(posedge clk) begin
                if (state == S_TAIL) begin
                    rem <= (SW + 1)'(1) << (SW + vitaccel_num_pkg::SM_RECIP_BITS - QB) | (SW + 1)'(s_norm >> QB);
                    low <= s_norm[QB-1:0];
                    div <= {s_norm, 1'b0};
                    rq  <= '0;
                end else if (state == S_DIV) begin
                    if (rem2 >= {1'b0, div}) begin
                        rem <= (SW + 1)'(rem2 - {1'b0, div});
                        rq  <= {rq[QB-2:0], 1'b1};
                    end else begin
                        rem <= rem2[SW:0];
                        rq  <= {rq[QB-2:0], 1'b0};
                    end
                    low <= low << 1;
                end
            end

            // pass 2: p = min(round_shift(e * R, n - 1 + 16 - OUT_BITS), 2^OUT_BITS - 1)
            assign er  = e * rq;
            assign psh = nbits - 6'd1 + 6'(vitaccel_num_pkg::SM_RECIP_BITS) - 6'(OUT_BITS);
            assign pr  = (psh == 6'd0) ? 48'(er) : ((48'(er) + (48'd1 << (psh - 6'd1))) >> psh);
            always_ff @(posedge clk) begin
                if (en2) begin
                    out_prob[l*OUT_BITS +: OUT_BITS] <= (pr > 48'((1 << OUT_BITS) - 1))
                        ? {OUT_BITS{1'b1}} : pr[OUT_BITS-1:0];
                end
            end
        end
    endgenerate

    // ---------------- control ----------------
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            state    <= S_ACC;
            n_rows   <= '0;
            rd_ptr   <= '0;
            div_step <= '0;
            rq_valid <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            case (state)
                S_ACC: begin
                    if (in_valid && in_ready) begin
                        n_rows <= n_rows + 1'b1;
                        if (in_last) state <= S_TAIL;
                    end
                end
                S_TAIL: begin  // the last row updates m and S in this cycle
                    if (!a_valid) begin
                        state    <= S_DIV;
                        div_step <= '0;
                    end
                end
                S_DIV: begin
                    div_step <= div_step + 5'd1;
                    if (div_step == 5'(QB - 1)) begin
                        state  <= S_OUT;
                        rd_ptr <= '0;
                    end
                end
                S_OUT: begin
                    if (en2) begin
                        rq_valid  <= (rd_ptr != n_rows);
                        rq_last   <= (rd_ptr == n_rows - 1'b1);
                        if (rd_ptr != n_rows) rd_ptr <= rd_ptr + 1'b1;
                        out_valid <= rq_valid;
                        out_last  <= rq_last;
                    end
                    if (out_valid && out_ready && out_last) begin
                        state     <= S_ACC;
                        n_rows    <= '0;
                        rq_valid  <= 1'b0;
                        out_valid <= 1'b0;
                    end
                end
                default: state <= S_ACC;
            endcase
        end
    end

    always_ff @(posedge clk) begin
        if (en2 && state == S_OUT) zq <= zbuf[rd_ptr[AW-1:0]];
    end
endmodule
