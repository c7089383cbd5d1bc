// vitaccel_wbuf: the two weight-buffer halves (WBUF[0], WBUF[1], WBUF_BYTES each = AcceleratorConfig.
// weight_buffer_bytes). Their EMPTY / FULL state (docs/isa.md section 4) is program-order state of the
// dispatcher in vitaccel_top, not of the storage.
// Storage: each half is a vitaccel_wmem of COLS / 16 banks, read and written as COLS-byte windows at 16-byte
// aligned offsets: one write port with byte enables (the LOAD DMA), one read port with one cycle of latency
// (GEMM B rows and records, LAYERNORM and ROUTE records): rd_data = bytes rd_addr .. rd_addr + COLS - 1.
module vitaccel_wbuf #(
    parameter int WBUF_BYTES = 4096,
    parameter int COLS       = 16
) (
    input  logic              clk,
    // write port
    input  logic              wr_en,
    input  logic              wr_half,
    input  logic [31:0]       wr_addr,
    input  logic [COLS*8-1:0] wr_data,
    input  logic [COLS-1:0]   wr_be,
    // read port
    input  logic              rd_en,
    input  logic              rd_half,
    input  logic [31:0]       rd_addr,
    output logic [COLS*8-1:0] rd_data
);
    localparam int NB = COLS / 16;
    logic [COLS*8-1:0] rd0, rd1;
    logic              rd_half_q;

    vitaccel_wmem #(.BYTES(WBUF_BYTES), .NB(NB)) u_half0 (
        .clk, .rd_en(rd_en && !rd_half), .rd_addr, .rd_data(rd0),
        .wr_en(wr_en && !wr_half), .wr_addr, .wr_data, .wr_be
    );
    vitaccel_wmem #(.BYTES(WBUF_BYTES), .NB(NB)) u_half1 (
        .clk, .rd_en(rd_en && rd_half), .rd_addr, .rd_data(rd1),
        .wr_en(wr_en && wr_half), .wr_addr, .wr_data, .wr_be
    );

    always_ff @(posedge clk) begin
        if (rd_en) rd_half_q <= rd_half;
    end
    assign rd_data = rd_half_q ? rd1 : rd0;
endmodule
