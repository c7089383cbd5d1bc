// vitaccel_wbuf: the two weight-buffer halves (WBUF[0], WBUF[1], WBUF_BYTES each = AcceleratorConfig.
// weight_buffer_bytes) and their EMPTY / FULL state (docs/isa.md section 4).
//
// State protocol (checked by the sequencer at dispatch, in program order): a LOAD to half h requires EMPTY
// (else WBUF_STATE) and makes it FULL (`set_full` with `set_half`); an instruction reading h requires FULL
// (else WBUF_STATE); an instruction with `release` makes it EMPTY (`clr_full` with `clr_half`). `full` is the
// state; both halves are EMPTY after reset and at ap_start (`clear_all`).
// Storage: WORD_W-bit words, byte offset o of half h is byte o % B of word (h, o / B); one write port with
// byte enables (the LOAD DMA), one read port with one cycle of latency (the GEMM / LAYERNORM / ROUTE readers).
module vitaccel_wbuf #(
    parameter int WBUF_BYTES = 4096,
    parameter int WORD_W     = 128,
    localparam int B     = WORD_W / 8,
    localparam int WORDS = (WBUF_BYTES + B - 1) / B,
    localparam int AW    = (WORDS > 1) ? $clog2(WORDS) : 1
) (
    input  logic              clk,
    input  logic              rst_n,
    // state
    input  logic              clear_all,
    input  logic              set_full,
    input  logic              set_half,
    input  logic              clr_full,
    input  logic              clr_half,
    output logic [1:0]        full,
    // write port
    input  logic              wr_en,
    input  logic              wr_half,
    input  logic [AW-1:0]     wr_addr,
    input  logic [WORD_W-1:0] wr_data,
    input  logic [B-1:0]      wr_be,
    // read port
    input  logic              rd_en,
    input  logic              rd_half,
    input  logic [AW-1:0]     rd_addr,
    output logic [WORD_W-1:0] rd_data
);
    logic [WORD_W-1:0] mem0 [WORDS];
    logic [WORD_W-1:0] mem1 [WORDS];

    always_ff @(posedge clk) begin
        if (!rst_n || clear_all) begin
            full <= 2'b00;
        end else begin
            if (clr_full) full[clr_half] <= 1'b0;
            if (set_full) full[set_half] <= 1'b1;
        end
    end

    always_ff @(posedge clk) begin
        if (wr_en) begin
            for (int i = 0; i < B; i++) begin
                if (wr_be[i]) begin
                    if (wr_half) mem1[wr_addr][8*i +: 8] <= wr_data[8*i +: 8];
                    else         mem0[wr_addr][8*i +: 8] <= wr_data[8*i +: 8];
                end
            end
        end
        if (rd_en) rd_data <= rd_half ? mem1[rd_addr] : mem0[rd_addr];
    end
endmodule
