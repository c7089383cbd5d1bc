// vitaccel_mac_array: output-stationary ROWS x COLS int8 MAC array with int32 accumulators.
//
// One input beat is one step k of an output tile C[r][c] = sum_k A[r][k] * B[k][c]:
//   in_a  lane r (bits 8r+7:8r)  = A[r][k], int8, or uint8 when in_a_unsigned = 1 (softmax probabilities)
//   in_b  lane c (bits 8c+7:8c)  = B[k][c], int8 (weights, or K^T / V columns)
//   in_first marks k = 0 (accumulators restart), in_last marks the final k of the tile.
// After the in_last beat the tile is copied into an output bank and drained one row per beat
// (out_acc lane c = C[r][c], int32 two's complement; r = 0 first, out_last on r = ROWS-1) while the array
// already accumulates the next tile. The array stalls (in_ready = 0) only when a tile finishes while the
// previous tile is still draining. The sums are exact int32 (K <= 65535 by the ISA's k field keeps them in range).
//
// DSP packing (PACK = 2, DSP48E2): each DSP slice (vitaccel_dsp_macc) multiplies two B operands by the shared A
// operand and accumulates in its 48-bit P register:
//   P = sum_k (B[k][2j+1] * 2^18 + B[k][2j]) * A[r][k] = S1 * 2^18 + S0   (mod 2^48)
// with S0 = sum B[2j] * A, S1 = sum B[2j+1] * A the two wanted int32 sums. P[17:0] = S0 mod 2^18, and fabric
// keeps what P loses: c = floor(S0 / 2^18) (the carries / borrows out of the low field: each product has
// |B * A| <= 128 * 255 < 2^15, so the 18-bit field wraps at most once per step, between its top quadrants 11 and
// 00) and d = the wraps of P itself mod 4 (top quadrants 01 <-> 10; |step| < 2^34). Then
//   S0 = c * 2^18 + P[17:0],   S1 = (P >>> 18) + d * 2^30 - c            (both exact mod 2^32).
// Bounds: the ISA's k field is 16 bits, so |S0|, |S1| <= 65535 * 32640 < 2^31 never wrap and
// |c| <= 8160 < 2^13 (CW = 14 bits hold c exactly). The fabric per DSP is c, d and four bits of the previous
// P: no 32-bit accumulators.
// PACK = 1 (DSP48E1, whose 25-bit port is too narrow for the packing): one product per DSP, S0 = P[31:0].
//
// Pipeline: stage 0 = the DSP's A / B registers, stage 1 = M register, stage 2 = P register (the accumulator),
// stage 3 = the output bank (P, c, d of every DSP) and the output register (row 0, reconstructed). The bank is
// loaded the clock after a tile's last k-step reaches P; a tile's last k-step waits until the bank is free at
// that clock (it is when the previous tile's last row leaves in the same clock).
module vitaccel_mac_array #(
    parameter int ROWS = 4,
    parameter int COLS = 8,
    parameter int PACK = 2,
    parameter int ACC_W = vitaccel_num_pkg::ACC_BITS
) (
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic                    in_valid,
    output logic                    in_ready,
    input  logic [ROWS*8-1:0]       in_a,
    input  logic [COLS*8-1:0]       in_b,
    input  logic                    in_a_unsigned,
    input  logic                    in_first,
    input  logic                    in_last,
    output logic                    out_valid,
    input  logic                    out_ready,
    output logic [COLS*ACC_W-1:0]   out_acc,
    output logic                    out_last
);
    localparam int RW = (ROWS > 1) ? $clog2(ROWS) : 1;
    localparam int ND = COLS / PACK;              // DSPs per row
    localparam int PW = 48;                       // P register
    localparam int CW = (PACK == 2) ? 14 : 1;     // c: floor(S0 / 2^18), |c| < 2^13 (see the header)
    localparam int DW = (PACK == 2) ? 2 : 1;      // d: wraps of P mod 4
    localparam int EW = PW + CW + DW;             // bank bits per DSP
    localparam int AW = (PACK == 2) ? 27 : 8;     // multiplier A port: packed B pair, or one B

    // ---------------- control: valid / first / last along the DSP pipeline ----------------
    logic v0, v1, first0, first1, last0, last1;   // stage 0 (A/B regs), stage 1 (M reg)
    logic pv, plast;                              // P was updated at the last edge / with a tile's last k-step
    logic en, ce_p, cap, bank_free;
    logic [RW-1:0] row_cnt;

    // The bank is free at the next edge unless a capture is pending or rows remain after this clock's beat.
    assign cap       = pv && plast;
    assign bank_free = !cap && (!out_valid || (out_ready && row_cnt == RW'(ROWS - 1)));
    // The whole pipeline advances together; it holds only when a tile's last k-step would reach P while the bank
    // is still needed at the capture clock.
    assign en       = !(v1 && last1 && !bank_free);
    assign in_ready = en;
    assign ce_p     = en && v1;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            v0 <= 1'b0;
            v1 <= 1'b0;
            pv <= 1'b0;
        end else begin
            if (en) begin
                v0 <= in_valid;
                v1 <= v0;
            end
            pv <= ce_p;
        end
    end

    always_ff @(posedge clk) begin
        if (en) begin
            first0 <= in_first;
            last0  <= in_last;
            first1 <= first0;
            last1  <= last0;
        end
        if (ce_p) plast <= last1;
    end

    // ---------------- DSP slices: multiply-accumulate in P ----------------
    logic [ROWS*ND*EW-1:0] e_now;   // P, c, d of every DSP as of the last P update (what the bank captures)
    /* verilator lint_off UNUSEDSIGNAL */
    logic                  restart_p;                 // the P update was a tile's first k-step (PACK = 2 only)
    /* verilator lint_on UNUSEDSIGNAL */
    always_ff @(posedge clk) begin
        if (ce_p) restart_p <= first1;
    end

    genvar gr, gj;
    generate
        for (gr = 0; gr < ROWS; gr++) begin : g_row
            logic signed [8:0] a_op;   // int8 sign-extended or uint8 zero-extended
            assign a_op = {in_a[gr*8+7] & ~in_a_unsigned, in_a[gr*8 +: 8]};
            for (gj = 0; gj < ND; gj++) begin : g_dsp
                logic signed [AW-1:0] a_pk;
                logic signed [PW-1:0] p;
                if (PACK == 2) begin : g_pack
                    assign a_pk = {{1{in_b[(2*gj+1)*8+7]}}, in_b[(2*gj+1)*8 +: 8], 18'b0}
                                + {{19{in_b[(2*gj)*8+7]}}, in_b[(2*gj)*8 +: 8]};
                end else begin : g_one
                    assign a_pk = in_b[gj*8 +: 8];
                end
                vitaccel_dsp_macc #(.A_W(AW), .B_W(9), .P_W(PW)) u_macc (
                    .clk, .ce(en), .ce_p, .restart(first1), .a(a_pk), .b(a_op), .p
                );
                if (PACK == 2) begin : g_fix
                    // c / d after the last P update: previous quadrant bits -> carries of this update
                    logic [1:0]          lo_prev, hi_prev;    // P[17:16], P[47:46] before the last update
                    logic signed [CW-1:0] c_q, c_now;
                    logic        [DW-1:0] d_q, d_now;
                    always_ff @(posedge clk) begin
                        if (ce_p) begin
                            lo_prev <= p[17:16];
                            hi_prev <= p[47:46];
                        end
                        if (pv) begin
                            c_q <= c_now;
                            d_q <= d_now;
                        end
                    end
                    logic signed [CW-1:0] c_step;
                    logic        [DW-1:0] d_step;
                    assign c_step = (lo_prev == 2'b11 && p[17:16] == 2'b00) ? CW'(1)
                                  : (lo_prev == 2'b00 && p[17:16] == 2'b11) ? -CW'(1) : CW'(0);
                    assign d_step = (hi_prev == 2'b01 && p[47:46] == 2'b10) ? DW'(1)
                                  : (hi_prev == 2'b10 && p[47:46] == 2'b01) ? -DW'(1) : DW'(0);
                    // after a restart P is one product: S0 = its low half, floor(S0 / 2^18) = -1 iff it is < 0
                    assign c_now = restart_p ? (p[17] ? -CW'(1) : CW'(0)) : c_q + c_step;
                    assign d_now = restart_p ? DW'(0) : d_q + d_step;
                    assign e_now[(gr*ND + gj)*EW +: EW] = {d_now, c_now, p};
                end else begin : g_nofix
                    assign e_now[(gr*ND + gj)*EW +: EW] = {DW'(0), CW'(0), p};
                end
            end
        end
    endgenerate

    // ---------------- output bank: loaded with a finished tile, drained one row per beat ----------------
    // The bank is written once per tile (clock enable only); the output register takes row 0 straight from the
    // DSPs at the same edge and then row r + 1 through a ROWS:1 row multiplexer on each accepted beat. The row's
    // int32 sums are reconstructed from (P, c, d) in front of the output register (COLS adders, not ROWS x COLS).
    logic [ROWS*ND*EW-1:0] bank;
    logic [ND*EW-1:0]      row_sel;
    logic [COLS*ACC_W-1:0] row_acc, out_q;
    logic [RW-1:0]         nxt_row;
    assign nxt_row = row_cnt + RW'(1);
    assign row_sel = cap ? e_now[ND*EW-1:0] : bank[32'(nxt_row)*ND*EW +: ND*EW];

    for (gj = 0; gj < ND; gj++) begin : g_recon
        logic [PW-1:0]        p_e;
        logic signed [CW-1:0] c_e;
        logic [DW-1:0]        d_e;
        assign {d_e, c_e, p_e} = row_sel[gj*EW +: EW];
        if (PACK == 2) begin : g_two
            assign row_acc[(2*gj)*ACC_W +: ACC_W]   = {c_e[ACC_W-19:0], p_e[17:0]};
            assign row_acc[(2*gj+1)*ACC_W +: ACC_W] = ACC_W'($signed(p_e[PW-1:18])) + {d_e, {(ACC_W-DW){1'b0}}}
                                                    - ACC_W'(c_e);
        end else begin : g_one
            /* verilator lint_off UNUSEDSIGNAL */
            logic unused;
            assign unused = ^{d_e, c_e, p_e[PW-1:ACC_W]};
            /* verilator lint_on UNUSEDSIGNAL */
            assign row_acc[gj*ACC_W +: ACC_W] = p_e[ACC_W-1:0];
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            out_valid <= 1'b0;
            row_cnt   <= '0;
        end else if (cap) begin
            out_valid <= 1'b1;
            row_cnt   <= '0;
        end else if (out_valid && out_ready) begin
            if (row_cnt == RW'(ROWS - 1)) out_valid <= 1'b0;
            row_cnt <= nxt_row;
        end
    end

    always_ff @(posedge clk) begin
        if (cap) bank <= e_now;
    end

    always_ff @(posedge clk) begin
        if (cap || (out_valid && out_ready && row_cnt != RW'(ROWS - 1))) out_q <= row_acc;
    end

    assign out_acc  = out_q;
    assign out_last = (row_cnt == RW'(ROWS - 1));

`ifndef SYNTHESIS
    initial begin
        if (PACK != 1 && PACK != 2) $fatal(1, "vitaccel_mac_array: PACK must be 1 or 2");
        if (PACK == 2 && (COLS % 2) != 0) $fatal(1, "vitaccel_mac_array: PACK=2 needs an even COLS");
    end
`endif
endmodule
