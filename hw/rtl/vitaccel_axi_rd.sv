// vitaccel_axi_rd: AXI4 read master (DMA read engine) for DDR -> on-chip transfers.
//
// A command (cmd_addr, cmd_beats) reads cmd_beats words of DATA_W bits starting at byte address cmd_addr
// (aligned to DATA_W / 8). It is split into INCR bursts of at most MAX_BURST beats that never cross a 4 KiB
// boundary (AXI4 rule); up to MAX_OUTSTANDING bursts are in flight. Read data streams out in order on
// out_data with out_last on the command's final beat; RREADY follows out_ready (no internal buffer).
// A non-OKAY RRESP sets err (sticky until the next command is accepted); the data is still delivered so the
// engine never hangs. busy = a command is in progress.
// PIPELINE = 1: a new command is also accepted while busy, as soon as every burst of the previous one has been
// requested (its data may still be arriving), so a client that splits a transfer into one command per burst
// keeps several bursts in flight; the data of all accepted commands streams out in order, out_last marks the
// last beat of everything accepted so far, err is cleared only by a command accepted while idle.
module vitaccel_axi_rd #(
    parameter int ADDR_W          = 40,
    parameter int DATA_W          = 128,
    parameter int MAX_BURST       = 256,
    parameter int MAX_OUTSTANDING = 4,
    parameter int PIPELINE        = 0
) (
    input  logic                clk,
    input  logic                rst_n,
    // command
    input  logic                cmd_valid,
    output logic                cmd_ready,
    input  logic [ADDR_W-1:0]   cmd_addr,
    input  logic [31:0]         cmd_beats,
    // data out
    output logic                out_valid,
    input  logic                out_ready,
    output logic [DATA_W-1:0]   out_data,
    output logic                out_last,
    output logic                busy,
    output logic                err,
    // AXI4 read address / data channels
    output logic [0:0]          m_axi_arid,
    output logic [ADDR_W-1:0]   m_axi_araddr,
    output logic [7:0]          m_axi_arlen,
    output logic [2:0]          m_axi_arsize,
    output logic [1:0]          m_axi_arburst,
    output logic [3:0]          m_axi_arcache,
    output logic [2:0]          m_axi_arprot,
    output logic                m_axi_arvalid,
    input  logic                m_axi_arready,
    /* verilator lint_off UNUSEDSIGNAL */  // one ID: responses are in order
    input  logic [0:0]          m_axi_rid,
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [DATA_W-1:0]   m_axi_rdata,
    input  logic [1:0]          m_axi_rresp,
    input  logic                m_axi_rlast,
    input  logic                m_axi_rvalid,
    output logic                m_axi_rready
);
    localparam int BYTES = DATA_W / 8;
    localparam int BSH   = $clog2(BYTES);
    localparam int PAGE_BEATS = 4096 / BYTES;
    localparam int OW = $clog2(MAX_OUTSTANDING + 1);

    logic [ADDR_W-1:0] next_addr;
    logic [31:0]       ar_left;     // beats not yet requested
    logic [31:0]       r_left;      // beats not yet delivered
    logic [OW-1:0]     outstanding;
    logic [31:0]       page_left, burst;
    logic              ar_fire, r_fire, burst_done, accept;
    logic [31:0]       r_next;      // beats not yet delivered after this cycle

    assign m_axi_arid    = 1'b0;
    assign m_axi_arsize  = 3'(BSH);
    assign m_axi_arburst = 2'b01;     // INCR
    assign m_axi_arcache = 4'b0011;   // normal, non-cacheable, bufferable
    assign m_axi_arprot  = 3'b000;

    // beats up to the next 4 KiB boundary, burst length of the next request
    assign page_left = 32'(PAGE_BEATS) - 32'((next_addr & ADDR_W'(4095)) >> BSH);
    always_comb begin
        burst = ar_left;
        if (burst > 32'(MAX_BURST)) burst = 32'(MAX_BURST);
        if (burst > page_left) burst = page_left;
    end

    assign cmd_ready = !busy || (PIPELINE != 0 && ar_left == 32'd0 && !m_axi_arvalid);
    assign accept    = cmd_valid && cmd_ready && cmd_beats != 32'd0;
    assign r_next    = (busy ? r_left : 32'd0) - (r_fire ? 32'd1 : 32'd0) + (accept ? cmd_beats : 32'd0);
    assign ar_fire   = m_axi_arvalid && m_axi_arready;
    assign r_fire    = m_axi_rvalid && m_axi_rready;

    assign burst_done = r_fire && m_axi_rlast;  // RLAST closes one burst (single ID: bursts return in order)

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            busy          <= 1'b0;
            err           <= 1'b0;
            m_axi_arvalid <= 1'b0;
            outstanding   <= '0;
        end else begin
            if (accept) begin
                if (!busy) err <= 1'b0;
                next_addr <= cmd_addr;
                ar_left   <= cmd_beats;
            end
            // address channel: one request register; the next burst is prepared after the previous is taken
            if (ar_fire) begin
                m_axi_arvalid <= 1'b0;
                next_addr     <= next_addr + (ADDR_W'(m_axi_arlen) + ADDR_W'(1) << BSH);
                ar_left       <= ar_left - ({24'd0, m_axi_arlen} + 32'd1);
            end else if (busy && !m_axi_arvalid && ar_left != 32'd0 && outstanding < OW'(MAX_OUTSTANDING)) begin
                m_axi_arvalid <= 1'b1;
                m_axi_araddr  <= next_addr;
                m_axi_arlen   <= 8'(burst - 32'd1);
            end
            case ({ar_fire, burst_done})
                2'b10:   outstanding <= outstanding + OW'(1);
                2'b01:   outstanding <= outstanding - OW'(1);
                default: ;
            endcase
            // data channel
            if (r_fire && m_axi_rresp != 2'b00) err <= 1'b1;
            if (accept || r_fire) begin
                r_left <= r_next;
                busy   <= (r_next != 32'd0);
            end
        end
    end

    assign m_axi_rready = out_ready && busy;
    assign out_valid    = m_axi_rvalid && busy;
    assign out_data     = m_axi_rdata;
    assign out_last     = (r_left == 32'd1);
endmodule
