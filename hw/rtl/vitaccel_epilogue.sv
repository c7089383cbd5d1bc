// vitaccel_epilogue: the fused GEMM epilogue, LANES output channels per beat (one row of the MAC array).
//
// Per lane n (golden: vitaccel.golden.ops / moe, modes = vitaccel_isa_pkg::EPI_*):
//   out  = acc + bias[n]                                          (exact, 33 bit)
//   ACC32       : y = sat32(out)                          (int32; the compiler bounds |out| < 2^31 anyway)
//   REQ8        : y = sat8(round_shift(out * mult[n], shift[n]))
//   GELU8       : y = table[REQ8 + 128]                           (256 x int8 table, loaded at run time)
//   RESADD      : y = sat16(res[n] + round_shift(out * mult[n], shift[n]))       (one saturation)
//   MOE_COMBINE : y = sat16(res[n] + round_shift(out * mult[n] * gate, shift[n])) (gate: uint16 per beat)
//   SOFTMAX     : y = sat24(round_shift(out * mult[n], shift[n]))  (the softmax's z = scores_to_z with bias 0:
//                 the GEMM sequencer feeds these into vitaccel_softmax #(.REQUANT(0)), which so needs no
//                 multiplier or shifter of its own)
// round_shift(x, s) = (x + 2^(s-1)) >>> s for s > 0 (round half up), x for s = 0; s in 0..63.
// y is returned sign-extended to 32 bits per lane (out_data lane n = bits 32n+31:32n).
//
// Pipeline: sum -> x mult -> x gate -> round/shift -> saturate / table read. All stages advance together and
// hold while the output register is full and not accepted (in_ready = !out_valid || out_ready).
// The GELU table has one copy per lane (written together through the tbl_* port) so LANES reads per cycle.
// TBL_W bytes per table write: entries tbl_addr .. tbl_addr + TBL_W - 1 (tbl_addr a multiple of TBL_W).
module vitaccel_epilogue
#(
    parameter int LANES = 8,
    parameter int TBL_W = 1
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic                in_valid,
    output logic                in_ready,
    input  logic [3:0]          in_mode,
    input  logic [LANES*32-1:0] in_acc,
    input  logic [LANES*32-1:0] in_bias,
    input  logic [LANES*16-1:0] in_mult,
    input  logic [LANES*6-1:0]  in_shift,
    input  logic [LANES*16-1:0] in_res,
    input  logic [15:0]         in_gate,
    input  logic                in_last,
    output logic                out_valid,
    input  logic                out_ready,
    output logic [LANES*32-1:0] out_data,
    output logic                out_last,
    // GELU table write port (run-time load from the parameter memory)
    input  logic                tbl_we,
    input  logic [7:0]          tbl_addr,
    input  logic [8*TBL_W-1:0]  tbl_wdata
);
    localparam int SW = 33;           // acc + bias
    localparam int P1W = SW + 16;     // (acc + bias) * mult, 49 bit signed
    localparam int P2W = P1W + 16;    // ... * gate, 65 bit signed
    localparam int RW = P2W + 1;      // 2 * p3, the rounding shifter's input
    // round_shift(p3, s) = ((2 p3 >>> s) + 1) >>> 1 (s = 0 too): one arithmetic shifter, then a narrow add. Every
    // mode that reads q saturates to 8, 16 (after + res) or 24 bits, so 2 p3 >>> s is clamped to TW bits first
    // (|q| >= 2^(TW-2) saturates all of them exactly as the full value would).
    localparam int TW = 36;
    localparam int QW = TW;           // q4 bits (|q4| <= 2^(TW-2))
    localparam int ZW = vitaccel_num_pkg::SM_Z_BITS;        // softmax z: int24
    localparam logic signed [QW-1:0] Z_HI = QW'((1 << (ZW - 1)) - 1);  // int24 saturation bounds
    localparam logic signed [QW-1:0] Z_LO = ~Z_HI;
    localparam logic signed [RW-1:0] T_HI = RW'({1'b0, {(TW - 1){1'b1}}});  // clamp bounds of 2 p3 >>> s
    localparam logic signed [RW-1:0] T_LO = ~T_HI;

    logic en;
    logic v1, v2, v3, v4;
    logic [3:0] m1, m2, m3, m4, m5;
    logic l1, l2, l3, l4, l5;
    logic [15:0] g1, g2;

    assign en       = !out_valid || out_ready;
    assign in_ready = en;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            {v1, v2, v3, v4, out_valid} <= '0;
        end else if (en) begin
            {v1, v2, v3, v4, out_valid} <= {in_valid, v1, v2, v3, v4};
        end
    end

    always_ff @(posedge clk) begin
        if (en) begin
            m1 <= in_mode;  m2 <= m1;  m3 <= m2;  m4 <= m3;  m5 <= m4;
            l1 <= in_last;  l2 <= l1;  l3 <= l2;  l4 <= l3;  l5 <= l4;
            g1 <= in_gate;  g2 <= g1;
        end
    end
    assign out_last = l5;

    genvar n;
    generate
        for (n = 0; n < LANES; n++) begin : g_lane
            logic signed [SW-1:0]  s1, s2, s3, s4;
            logic        [15:0]    mu1;
            logic        [5:0]     sh1, sh2, sh3;
            logic signed [15:0]    r1, r2, r3, r4;
            logic signed [P1W-1:0] p2;
            logic signed [P2W-1:0] p3;
            logic signed [QW-1:0]  q4;      // rounded and shifted (clamped, see TW)
            logic signed [RW-1:0]  t3;      // 2 p3 >>> sh3
            logic signed [TW-1:0]  tc3;     // t3 clamped to TW bits
            logic signed [QW:0]    res4;    // res + q4
            logic        [7:0]     tbl [256];
            logic signed [7:0]     q8_4;
            logic        [7:0]     idx4;    // table address = code + 128 (flip the sign bit)
            logic        [7:0]     tq5;
            logic signed [31:0]    y5;

            // stage 1: acc + bias
            always_ff @(posedge clk) begin
                if (en) begin
                    s1  <= $signed({in_acc[n*32+31], in_acc[n*32 +: 32]}) + $signed({in_bias[n*32+31], in_bias[n*32 +: 32]});
                    mu1 <= in_mult[n*16 +: 16];
                    sh1 <= in_shift[n*6 +: 6];
                    r1  <= in_res[n*16 +: 16];
                end
            end
            // stage 2: * mult (unsigned 16 bit)
            always_ff @(posedge clk) begin
                if (en) begin
                    p2  <= s1 * $signed({1'b0, mu1});
                    s2  <= s1;
                    sh2 <= sh1;
                    r2  <= r1;
                end
            end
            // stage 3: * gate (MOE_COMBINE) or * 1, as two 25 x 17 bit products (one DSP48 each):
            // p2 * g = (p2[48:24] * g) * 2^24 + p2[23:0] * g
            logic        [15:0]    gsel;
            logic signed [41:0]    ph3, pl3;
            assign gsel = (m2 == 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE)) ? g2 : 16'd1;
            assign ph3  = $signed(p2[P1W-1:24]) * $signed({1'b0, gsel});
            assign pl3  = $signed({1'b0, p2[23:0]}) * $signed({1'b0, gsel});
            always_ff @(posedge clk) begin
                if (en) begin
                    p3  <= (P2W'(ph3) <<< 24) + P2W'(pl3);
                    s3  <= s2;
                    sh3 <= sh2;
                    r3  <= r2;
                end
            end
            // stage 4: round half up and arithmetic shift by 0..63
            assign t3  = $signed({p3, 1'b0}) >>> sh3;
            // clamp to TW bits as a sign-run check (t3 fits iff t3[RW-1:TW-1] are all equal): no 66-bit compares
            logic t3_fits;
            assign t3_fits = (t3[RW-1:TW-1] == '0) || (t3[RW-1:TW-1] == '1);
            assign tc3 = t3_fits ? t3[TW-1:0] : t3[RW-1] ? T_LO[TW-1:0] : T_HI[TW-1:0];
            always_ff @(posedge clk) begin
                if (en) begin
                    q4 <= QW'(((TW + 1)'(tc3) + (TW + 1)'(1)) >>> 1);
                    s4 <= s3;
                    r4 <= r3;
                end
            end
            // stage 5: saturate / residual add / table read
            assign res4 = (QW + 1)'(q4) + (QW + 1)'(r4);
            assign q8_4 = (q4 > QW'(127)) ? 8'sd127 : (q4 < -QW'(128)) ? -8'sd128 : q4[7:0];
            assign idx4 = {~q8_4[7], q8_4[6:0]};
            always_ff @(posedge clk) begin
                if (tbl_we) begin
                    for (int i = 0; i < TBL_W; i++) tbl[8'(tbl_addr + 8'(i))] <= tbl_wdata[8*i +: 8];
                end
            end
            always_ff @(posedge clk) begin
                if (en) begin
                    tq5 <= tbl[idx4];
                    case (m4)
                        4'(vitaccel_isa_pkg::EPI_ACC32):  y5 <= (s4 > SW'(32'sh7fffffff)) ? 32'sh7fffffff
                                           : (s4 < -SW'(33'sh080000000)) ? 32'sh80000000 : s4[31:0];
                        4'(vitaccel_isa_pkg::EPI_RESADD), 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE):
                            y5 <= (res4 > (QW + 1)'(32767)) ? 32'sd32767
                                : (res4 < -(QW + 1)'(32768)) ? -32'sd32768 : 32'($signed(res4[15:0]));
                        4'(vitaccel_isa_pkg::EPI_SOFTMAX):
                            y5 <= (q4 > Z_HI) ? 32'(Z_HI) : (q4 < Z_LO) ? 32'(Z_LO) : 32'($signed(q4[ZW-1:0]));
                        default:        y5 <= 32'(q8_4);
                    endcase
                end
            end
            assign out_data[n*32 +: 32] = (m5 == 4'(vitaccel_isa_pkg::EPI_GELU8)) ? {{24{tq5[7]}}, tq5} : y5;
        end
    endgenerate
endmodule
