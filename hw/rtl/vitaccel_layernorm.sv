// vitaccel_layernorm: integer LayerNorm of int16 residual rows -> int8 (golden: vitaccel.golden.ops.layernorm).
//
// One row = cfg_cols channels (a multiple of LANES) arriving as cfg_cols / LANES beats of LANES int16 codes.
//   pass 1 (streaming): S1 = sum x, S2 = sum x^2 (exact); the row is kept in a row buffer.
//   D  = C * S2 - S1^2 + eps                          (= C^2 (var + eps) in integer units, >= 1)
//   g  = (62 - bit_length(D)) / 2,  D_n = D << 2g     (in [2^60, 2^62))
//   q  = floor(sqrt(D_n))                             (31-step digit-by-digit integer square root)
//   Rr = floor((2^47 + q) / (2 q))                    (17-step restoring division; Rr in [2^15, 2^16])
//   pass 2 (LANES per beat): y = round_shift((C x - S1) * Rr, 46 - g - 14)
//                            out = sat8(round_shift(y * gamma[i] + beta[i], out_shift))
// gamma (int16) / beta (int32) per channel are written through the prm_* port (one LANES-wide word per beat
// index) before the rows of a LAYERNORM instruction; cfg_* are held stable during the instruction.
// Constants come from vitaccel_num_pkg (LN_NORM_BITS, LN_RECIP_SHIFT, LN_FRAC_BITS).
module vitaccel_layernorm
#(
    parameter int LANES    = 4,
    parameter int MAX_COLS = 256
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic [15:0]         cfg_cols,
    input  logic [63:0]         cfg_eps,
    input  logic [5:0]          cfg_out_shift,
    input  logic                prm_we,
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [15:0]         prm_addr,   // beat index (bits above the buffer depth are ignored)
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [LANES*16-1:0] prm_gamma,
    input  logic [LANES*32-1:0] prm_beta,
    input  logic                in_valid,
    output logic                in_ready,
    input  logic [LANES*16-1:0] in_x,
    output logic                out_valid,
    input  logic                out_ready,
    output logic [LANES*8-1:0]  out_y,
    output logic                out_last
);
    localparam int NB  = MAX_COLS / LANES;           // row-buffer words
    localparam int BW  = (NB > 1) ? $clog2(NB) : 1;
    localparam int S1W = 30;                         // |S1| <= 4096 * 2^15 = 2^27
    localparam int S2W = 44;                         // S2 <= 4096 * 2^30 = 2^42
    localparam int NW  = vitaccel_num_pkg::LN_NORM_BITS;               // 62

    typedef enum logic [2:0] {S_ACC, S_D, S_NORM, S_SQRT, S_DIV, S_OUT} state_t;
    state_t state;

    logic [LANES*16-1:0] xbuf [NB];
    logic [LANES*16-1:0] gbuf [NB];
    logic [LANES*32-1:0] bbuf [NB];
    logic [15:0]         nbeats, wr_cnt, rd_cnt;
    logic [BW-1:0]       wr_addr, rd_addr;
    logic signed [S1W-1:0] s1;
    logic [S2W-1:0]      s2;
    logic [63:0]         dd;        // D
    logic [5:0]          gsh;       // g
    logic [NW-1:0]       dn;        // D_n, consumed two bits per sqrt step
    logic [31:0]         sq_rem;   // remainder <= 2 root < 2^32
    logic [30:0]         root;
    logic [4:0]          step;
    logic [48:0]         div_rem;
    logic [16:0]         rr;
    logic                en2;

    assign nbeats   = cfg_cols / 16'(LANES);
    assign in_ready = (state == S_ACC);
    assign en2      = !out_valid || out_ready;
    assign wr_addr  = wr_cnt[BW-1:0];
    assign rd_addr  = rd_cnt[BW-1:0];

    // ---------------- pass 1: statistics and row buffer ----------------
    logic signed [S1W-1:0] beat_s1;
    logic [S2W-1:0]        beat_s2;
    always_comb begin
        logic signed [31:0] sq;
        beat_s1 = '0;
        beat_s2 = '0;
        for (int i = 0; i < LANES; i++) begin
            sq      = $signed(in_x[i*16 +: 16]) * $signed(in_x[i*16 +: 16]);   // 16 x 16 bit, <= 2^30
            beat_s1 = beat_s1 + S1W'($signed(in_x[i*16 +: 16]));
            beat_s2 = beat_s2 + S2W'(sq);
        end
    end

    always_ff @(posedge clk) begin
        if (in_valid && in_ready) xbuf[wr_addr] <= in_x;
        if (prm_we) begin
            gbuf[prm_addr[BW-1:0]] <= prm_gamma;
            bbuf[prm_addr[BW-1:0]] <= prm_beta;
        end
    end

    // C * S2 and S1^2 at their natural operand widths (16 x 44 and 30 x 30 bit multipliers)
    logic [63:0]         cs2;
    logic signed [63:0]  s1sq;
    assign cs2  = cfg_cols * s2;
    assign s1sq = s1 * s1;

    // bit length of D
    logic [6:0] dlen;
    always_comb begin
        dlen = 7'd0;
        for (int i = 0; i < 64; i++) if (dd[i]) dlen = 7'(i + 1);
    end

    // sqrt step (digit by digit): rem = rem * 4 + next two bits; trial = root * 4 + 1
    logic [33:0] sq_cat, sq_trial;
    assign sq_cat   = {sq_rem, dn[NW-1 -: 2]};
    assign sq_trial = {1'b0, root, 2'b01};

    // division step: quotient bit (16 - step) of (2^47 + q) / (2 q)
    logic [48:0] div_sub;
    assign div_sub = {17'd0, root, 1'b0} << (5'd16 - step);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            state  <= S_ACC;
            wr_cnt <= '0;
            s1     <= '0;
            s2     <= '0;
        end else begin
            case (state)
                S_ACC: if (in_valid && in_ready) begin
                    s1     <= s1 + beat_s1;
                    s2     <= s2 + beat_s2;
                    wr_cnt <= wr_cnt + 16'd1;
                    if (wr_cnt == nbeats - 16'd1) state <= S_D;
                end
                S_D: begin
                    dd    <= cs2 - s1sq + cfg_eps;
                    state <= S_NORM;
                end
                S_NORM: begin
                    gsh    <= 6'((7'(NW) - dlen) >> 1);
                    dn     <= NW'(dd << (((7'(NW) - dlen) >> 1) << 1));
                    sq_rem <= '0;
                    root   <= '0;
                    step   <= '0;
                    state  <= S_SQRT;
                end
                S_SQRT: begin
                    if (sq_cat >= sq_trial) begin
                        sq_rem <= 32'(sq_cat - sq_trial);
                        root   <= {root[29:0], 1'b1};
                    end else begin
                        sq_rem <= 32'(sq_cat);
                        root   <= {root[29:0], 1'b0};
                    end
                    dn   <= dn << 2;
                    step <= step + 5'd1;
                    if (step == 5'd30) begin
                        state <= S_DIV;
                    end
                end
                S_DIV: begin
                    if (step == 5'd31) begin  // first cycle: load numerator 2^47 + q
                        div_rem <= (49'd1 << (vitaccel_num_pkg::LN_RECIP_SHIFT + 1)) + 49'(root);
                        rr      <= '0;
                        step    <= '0;
                    end else begin
                        if (div_rem >= div_sub) begin
                            div_rem <= div_rem - div_sub;
                            rr      <= rr | (17'd1 << (5'd16 - step));
                        end
                        step <= step + 5'd1;
                        if (step == 5'd16) state <= S_OUT;
                    end
                end
                S_OUT: if (out_valid && out_ready && out_last) begin
                    state  <= S_ACC;
                    wr_cnt <= '0;
                    s1     <= '0;
                    s2     <= '0;
                end
                default: state <= S_ACC;
            endcase
        end
    end

    // ---------------- pass 2 pipeline: read -> y -> out ----------------
    logic                rv, yv, rlast, ylast;
    logic [LANES*16-1:0] xq, gq, g2;
    logic [LANES*32-1:0] bq, b2;
    logic [LANES*46-1:0] ybus;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            rv        <= 1'b0;
            yv        <= 1'b0;
            out_valid <= 1'b0;
            rd_cnt    <= '0;
        end else if (state != S_OUT) begin
            rv        <= 1'b0;
            yv        <= 1'b0;
            out_valid <= 1'b0;
            rd_cnt    <= '0;
        end else if (out_valid && out_ready && out_last) begin
            rv        <= 1'b0;
            yv        <= 1'b0;
            out_valid <= 1'b0;
        end else if (en2) begin
            rv        <= (rd_cnt != nbeats);
            rlast     <= (rd_cnt == nbeats - 16'd1);
            if (rd_cnt != nbeats) rd_cnt <= rd_cnt + 16'd1;
            yv        <= rv;
            ylast     <= rlast;
            out_valid <= yv;
            out_last  <= ylast;
        end
    end

    always_ff @(posedge clk) begin
        if (en2) begin
            xq <= xbuf[rd_addr];
            gq <= gbuf[rd_addr];
            bq <= bbuf[rd_addr];
            g2 <= gq;
            b2 <= bq;
        end
    end

    // y shift = 46 - g - 14 (2..32)
    logic [5:0] ysh;
    assign ysh = 6'(vitaccel_num_pkg::LN_RECIP_SHIFT - vitaccel_num_pkg::LN_FRAC_BITS) - gsh;

    genvar l;
    generate
        for (l = 0; l < LANES; l++) begin : g_lane
            logic signed [30:0] num;      // C x - S1, |.| < 2^29
            logic signed [48:0] prod;     // num * Rr
            logic signed [45:0] y;
            logic signed [61:0] yg;       // y * gamma: 46 x 16 bit
            logic signed [63:0] t, tr;
            logic [5:0]         osh;
            logic signed [30:0] cx;       // C * x: 17 x 16 bit
            assign cx   = $signed({1'b0, cfg_cols}) * $signed(xq[l*16 +: 16]);
            assign num  = cx - 31'(s1);
            assign prod = num * $signed({1'b0, rr});   // 31 x 18 bit
            assign y    = 46'((prod + (49'sd1 <<< (ysh - 6'd1))) >>> ysh);
            always_ff @(posedge clk) begin
                if (en2) ybus[l*46 +: 46] <= y;
            end
            assign yg  = $signed(ybus[l*46 +: 46]) * $signed(g2[l*16 +: 16]);
            assign t   = 64'(yg) + 64'($signed(b2[l*32 +: 32]));
            assign osh = cfg_out_shift;
            // round_shift by 0..63: |t| < 2^61, so shifts >= 62 give 0 (t + 2^61 in [0, 2^62))
            always_comb begin
                if (osh == 6'd0) tr = t;
                else if (osh >= 6'd62) tr = 64'sd0;
                else tr = (t + (64'sd1 <<< (osh - 6'd1))) >>> osh;
            end
            always_ff @(posedge clk) begin
                if (en2) out_y[l*8 +: 8] <= (tr > 64'sd127) ? 8'sd127 : (tr < -64'sd128) ? -8'sd128 : tr[7:0];
            end
        end
    endgenerate
endmodule
