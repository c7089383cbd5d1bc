// vitaccel_mac_array: output-stationary ROWS x COLS int8 MAC array with int32 accumulators.
//
// One input beat is one step k of an output tile C[r][c] = sum_k A[r][k] * B[k][c]:
//   in_a  lane r (bits 8r+7:8r)  = A[r][k], int8, or uint8 when in_a_unsigned = 1 (softmax probabilities)
//   in_b  lane c (bits 8c+7:8c)  = B[k][c], int8 (weights, or K^T / V columns)
//   in_first marks k = 0 (accumulators restart), in_last marks the final k of the tile.
// After the in_last beat the tile is copied into an output bank and drained one row per beat
// (out_acc lane c = C[r][c], int32 two's complement; r = 0 first, out_last on r = ROWS-1) while the array
// already accumulates the next tile. The array stalls (in_ready = 0) only when a tile finishes while the
// previous tile is still draining. Accumulators are 32 bit and wrap; the compiler bounds K so they never do.
//
// DSP packing (PACK = 2, DSP48E2): each multiplier computes two products that share the A operand:
//   P = (B[2j+1] * 2^18 + B[2j]) * A[r]        (27-bit x 9-bit signed multiply, one DSP48E2)
//   lo = P[17:0] (signed)             = B[2j]   * A[r]   (|lo| <= 128 * 255 < 2^17)
//   hi = (P >>> 18) + P[17]           = B[2j+1] * A[r]   (P[17] undoes the borrow of a negative lo)
// PACK = 1 gives one 9x8 multiply per MAC (DSP48E1 has a 25-bit port, too narrow for the packing).
// Pipeline: input registers (DSP A/B regs) -> product registers (M reg) -> accumulators (fabric adders).
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
    localparam int PW = 18;  // product width (9-bit x 8-bit signed fits in 17 bits; 18 keeps the packed split)
    localparam int RW = (ROWS > 1) ? $clog2(ROWS) : 1;

    // ---------------- stage 0: input registers ----------------
    logic                   v0, first0, last0;
    logic [ROWS*9-1:0]      a0;   // 9-bit signed operands (int8 sign-extended or uint8 zero-extended)
    logic [COLS*8-1:0]      b0;
    // ---------------- stage 1: products ----------------
    logic                   v1, first1, last1;
    logic [ROWS*COLS*PW-1:0] p1;
    // ---------------- accumulators and output bank ----------------
    logic [ROWS*COLS*ACC_W-1:0] acc;
    logic [ROWS*COLS*ACC_W-1:0] acc_next;
    logic [ROWS*COLS*ACC_W-1:0] bank;
    logic [RW-1:0]              row_cnt;
    logic                       en;

    // The whole pipeline advances together; it holds only when a finished tile cannot enter the bank.
    assign en       = !(v1 && last1 && out_valid);
    assign in_ready = en;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            v0 <= 1'b0;
            v1 <= 1'b0;
        end else if (en) begin
            v0 <= in_valid;
            v1 <= v0;
        end
    end

    always_ff @(posedge clk) begin
        if (en) begin
            first0 <= in_first;
            last0  <= in_last;
            b0     <= in_b;
            for (int r = 0; r < ROWS; r++) begin
                a0[r*9 +: 9] <= {in_a[r*8+7] & ~in_a_unsigned, in_a[r*8 +: 8]};
            end
            first1 <= first0;
            last1  <= last0;
        end
    end

    // ---------------- multipliers ----------------
    genvar gr, gc;
    generate
        for (gr = 0; gr < ROWS; gr++) begin : g_row
            if (PACK == 2) begin : g_packed
                for (gc = 0; gc < COLS / 2; gc++) begin : g_pair
                    logic signed [26:0] packed_b;
                    logic signed [35:0] prod;
                    logic signed [PW-1:0] lo, hi;
                    assign packed_b = {{1{b0[(2*gc+1)*8+7]}}, b0[(2*gc+1)*8 +: 8], 18'b0}
                                    + {{19{b0[(2*gc)*8+7]}}, b0[(2*gc)*8 +: 8]};
                    assign prod = packed_b * $signed(a0[gr*9 +: 9]);
                    assign lo   = prod[17:0];
                    assign hi   = prod[35:18] + {{(PW-1){1'b0}}, prod[17]};
                    always_ff @(posedge clk) begin
                        if (en) begin
                            p1[(gr*COLS + 2*gc)*PW +: PW]     <= lo;
                            p1[(gr*COLS + 2*gc + 1)*PW +: PW] <= hi;
                        end
                    end
                end
            end else begin : g_single
                for (gc = 0; gc < COLS; gc++) begin : g_mac
                    logic signed [16:0] prod;
                    assign prod = $signed(b0[gc*8 +: 8]) * $signed(a0[gr*9 +: 9]);
                    always_ff @(posedge clk) begin
                        if (en) p1[(gr*COLS + gc)*PW +: PW] <= {prod[16], prod};
                    end
                end
            end
        end
    endgenerate

    // ---------------- accumulation ----------------
    always_comb begin
        for (int i = 0; i < ROWS * COLS; i++) begin
            acc_next[i*ACC_W +: ACC_W] = (first1 ? {ACC_W{1'b0}} : acc[i*ACC_W +: ACC_W])
                                       + {{(ACC_W-PW){p1[i*PW+PW-1]}}, p1[i*PW +: PW]};
        end
    end

    always_ff @(posedge clk) begin
        if (en && v1) acc <= acc_next;
    end

    // ---------------- output bank: loaded with a finished tile, drained one row per beat ----------------
    // The bank is written once per tile (clock enable only, no load/shift multiplexer in front of its 32 x ROWS x
    // COLS flip-flops); the output register takes row 0 straight from the accumulators at the same edge and then
    // row r + 1 through a ROWS:1 row multiplexer on each accepted beat.
    logic [COLS*ACC_W-1:0] out_q;
    logic [RW-1:0]         nxt_row;
    assign nxt_row = row_cnt + RW'(1);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            out_valid <= 1'b0;
            row_cnt   <= '0;
        end else if (en && v1 && last1) begin
            out_valid <= 1'b1;
            row_cnt   <= '0;
        end else if (out_valid && out_ready) begin
            if (row_cnt == RW'(ROWS - 1)) out_valid <= 1'b0;
            row_cnt <= nxt_row;
        end
    end

    always_ff @(posedge clk) begin
        if (en && v1 && last1) bank <= acc_next;
    end

    always_ff @(posedge clk) begin
        if (en && v1 && last1) begin
            out_q <= acc_next[COLS*ACC_W-1:0];
        end else if (out_valid && out_ready && row_cnt != RW'(ROWS - 1)) begin
            out_q <= bank[32'(nxt_row)*COLS*ACC_W +: COLS*ACC_W];
        end
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
