// vitaccel_act_buf: the on-chip activation memory (ACT), byte addressed in the ISA, stored as WORD_W-bit words
// (WORD_W / 8 bytes per word, little-endian: byte address a is bits [8*(a % B) +: 8] of word a / B).
// ACT_BYTES comes from AcceleratorConfig.act_buffer_bytes (vitaccel.rtlgen.params.top_parameters); the memory
// holds ceil(ACT_BYTES / B) words and the sequencer's range checks keep every access below ACT_BYTES.
// The ISA aligns every ACT base and pitch to ACT_ALIGN (16) bytes, a multiple of B for the 64- and 128-bit
// AXI widths, so every tensor row starts on a word. One write port with byte enables, one read port with
// one cycle of latency (block RAM). Contents are not reset.
module vitaccel_act_buf #(
    parameter int ACT_BYTES = 4096,
    parameter int WORD_W    = 128,
    localparam int B     = WORD_W / 8,
    localparam int WORDS = (ACT_BYTES + B - 1) / B,
    localparam int AW    = (WORDS > 1) ? $clog2(WORDS) : 1
) (
    input  logic              clk,
    input  logic              wr_en,
    input  logic [AW-1:0]     wr_addr,     // word address
    input  logic [WORD_W-1:0] wr_data,
    input  logic [B-1:0]      wr_be,       // byte enables
    input  logic              rd_en,
    input  logic [AW-1:0]     rd_addr,     // word address
    output logic [WORD_W-1:0] rd_data      // valid the cycle after rd_en
);
    logic [WORD_W-1:0] mem [WORDS];

    always_ff @(posedge clk) begin
        if (wr_en) begin
            for (int i = 0; i < B; i++) begin
                if (wr_be[i]) mem[wr_addr][8*i +: 8] <= wr_data[8*i +: 8];
            end
        end
        if (rd_en) rd_data <= mem[rd_addr];
    end
endmodule
