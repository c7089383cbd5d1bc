// vitaccel_wmem: an on-chip memory of BYTES bytes accessed as windows of NB 16-byte chunks (NB * 16 bytes) at any
// 16-byte aligned byte address, one read and one write per clock (simple dual port).
//
// Chunk c (bytes 16c .. 16c+15) lives in bank c % NB, row c / NB. A window starting at chunk c covers chunks
// c .. c+NB-1, one per bank, so every bank is read / written once: bank b serves window slot (b - c) mod NB at
// row (c + ((b - c) mod NB)) / NB. NB is a power of two. Byte i of rd_data / wr_data is byte addr + i.
//   read : rd_data holds the window at rd_addr the cycle after rd_en (held until the next rd_en)
//   write: bytes with wr_be[i] = 1 are written at wr_addr + i
// Bits [3:0] of both addresses are ignored. Chunks beyond BYTES wrap onto low rows (callers check spans first).
module vitaccel_wmem #(
    parameter int BYTES = 4096,
    parameter int NB    = 2
) (
    input  logic               clk,
    input  logic               rd_en,
    /* verilator lint_off UNUSEDSIGNAL */  // [3:0] (alignment) and bits above the memory size
    input  logic [31:0]        rd_addr,
    input  logic [31:0]        wr_addr,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic [NB*128-1:0]  rd_data,
    input  logic               wr_en,
    input  logic [NB*128-1:0]  wr_data,
    input  logic [NB*16-1:0]   wr_be
);
    localparam int CHUNKS = (BYTES + 15) / 16;
    localparam int DEPTH  = (CHUNKS + NB - 1) / NB;
    localparam int RW     = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam int SW     = (NB > 1) ? $clog2(NB) : 1;

    logic [27:0] rc, wc;        // chunk index of the window start
    /* verilator lint_off UNUSEDSIGNAL */  // unused when NB = 1
    logic [SW-1:0] rsel_q;      // rd chunk % NB, for the output rotation
    /* verilator lint_on UNUSEDSIGNAL */
    logic [NB*128-1:0] bank_q;  // bank outputs (bank order)
    assign rc = rd_addr[31:4];
    assign wc = wr_addr[31:4];

    genvar b;
    generate
        for (b = 0; b < NB; b++) begin : g_bank
            logic [127:0] mem [DEPTH];
            logic [SW-1:0] rslot, wslot;
            logic [27:0]   rchunk, wchunk;
            logic [RW-1:0] rrow, wrow;
            always_comb begin
                if (NB == 1) begin
                    rslot = '0;
                    wslot = '0;
                end else begin
                    rslot = SW'(b) - SW'(rc);           // (b - c) mod NB
                    wslot = SW'(b) - SW'(wc);
                end
                rchunk = rc + 28'(rslot);
                wchunk = wc + 28'(wslot);
                rrow   = (NB == 1) ? RW'(rchunk) : RW'(rchunk >> SW);
                wrow   = (NB == 1) ? RW'(wchunk) : RW'(wchunk >> SW);
            end
            always_ff @(posedge clk) begin
                if (rd_en) bank_q[b*128 +: 128] <= mem[rrow];
                if (wr_en) begin
                    for (int j = 0; j < 16; j++) begin
                        if (wr_be[32'(wslot)*16 + j]) mem[wrow][8*j +: 8] <= wr_data[32'(wslot)*128 + 8*j +: 8];
                    end
                end
            end
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (rd_en) rsel_q <= SW'(rc);
    end

    // window slot i = bank (c + i) % NB
    generate
        if (NB == 1) begin : g_one
            assign rd_data = bank_q;
        end else begin : g_rot
            always_comb begin
                for (int i = 0; i < NB; i++) begin
                    rd_data[i*128 +: 128] = bank_q[32'(SW'(32'(rsel_q) + i))*128 +: 128];
                end
            end
        end
    endgenerate
endmodule
