// vitaccel_axi_wr: AXI4 write master (DMA write engine) for on-chip -> DDR transfers.
//
// A command (cmd_addr, cmd_beats) writes cmd_beats words of DATA_W bits, taken from the in_* stream (in_strb is
// each beat's WSTRB), starting at byte address cmd_addr (aligned to DATA_W / 8). It is split into INCR bursts of
// at most MAX_BURST beats that never cross a 4 KiB boundary; up to MAX_OUTSTANDING bursts may wait for their
// write response. The address and data sides run the same burst splitter, so W beats of burst i follow its AW
// (no length FIFO); WLAST closes each burst. busy drops when every beat is written and every response received.
// A non-OKAY BRESP sets err (sticky until the next command); the transfer still completes, so nothing hangs.
// PIPELINE = 1: a new command is also accepted while busy once every AW of the previous one has been issued
// (its W beats wait in a one-entry queue of the data side and follow without a gap; write responses may still
// be outstanding); busy then drops after the responses of all of them, and err is cleared only by a command
// accepted while idle.
module vitaccel_axi_wr #(
    parameter int ADDR_W          = 40,
    parameter int DATA_W          = 128,
    parameter int MAX_BURST       = 256,
    parameter int MAX_OUTSTANDING = 4,
    parameter int PIPELINE        = 0
) (
    input  logic                  clk,
    input  logic                  rst_n,
    input  logic                  cmd_valid,
    output logic                  cmd_ready,
    input  logic [ADDR_W-1:0]     cmd_addr,
    input  logic [31:0]           cmd_beats,
    input  logic                  in_valid,
    output logic                  in_ready,
    input  logic [DATA_W-1:0]     in_data,
    input  logic [DATA_W/8-1:0]   in_strb,     // byte strobes of the beat (WSTRB)
    output logic                  busy,
    output logic                  err,
    output logic [0:0]            m_axi_awid,
    output logic [ADDR_W-1:0]     m_axi_awaddr,
    output logic [7:0]            m_axi_awlen,
    output logic [2:0]            m_axi_awsize,
    output logic [1:0]            m_axi_awburst,
    output logic [3:0]            m_axi_awcache,
    output logic [2:0]            m_axi_awprot,
    output logic                  m_axi_awvalid,
    input  logic                  m_axi_awready,
    output logic [DATA_W-1:0]     m_axi_wdata,
    output logic [DATA_W/8-1:0]   m_axi_wstrb,
    output logic                  m_axi_wlast,
    output logic                  m_axi_wvalid,
    input  logic                  m_axi_wready,
    /* verilator lint_off UNUSEDSIGNAL */  // one ID: responses are in order
    input  logic [0:0]            m_axi_bid,
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [1:0]            m_axi_bresp,
    input  logic                  m_axi_bvalid,
    output logic                  m_axi_bready
);
    localparam int BYTES = DATA_W / 8;
    localparam int BSH   = $clog2(BYTES);
    localparam int PAGE_BEATS = 4096 / BYTES;
    localparam int OW = $clog2(MAX_OUTSTANDING + 1) + 1;

    // burst length at address a with n beats left
    function automatic logic [31:0] burst_len(input logic [ADDR_W-1:0] a, input logic [31:0] n);
        logic [31:0] page_left;
        page_left = 32'(PAGE_BEATS) - 32'((a & ADDR_W'(4095)) >> BSH);
        burst_len = n;
        if (burst_len > 32'(MAX_BURST)) burst_len = 32'(MAX_BURST);
        if (burst_len > page_left) burst_len = page_left;
    endfunction

    logic [ADDR_W-1:0] aw_addr, w_addr;
    logic [31:0]       aw_left, w_left, w_burst, w_beat;
    logic [OW-1:0]     aw_ahead;     // bursts whose AW is issued but whose W beats are not all sent
    logic [OW-1:0]     b_wait;       // bursts issued whose B response has not arrived
    logic              aw_fire, w_fire, b_fire, w_ok, accept, w_end;
    logic              nx_v;         // PIPELINE: a command whose W beats follow the current ones
    logic [ADDR_W-1:0] nx_addr;
    logic [31:0]       nx_beats;

    assign m_axi_awid    = 1'b0;
    assign m_axi_awsize  = 3'(BSH);
    assign m_axi_awburst = 2'b01;
    assign m_axi_awcache = 4'b0011;
    assign m_axi_awprot  = 3'b000;
    assign m_axi_bready  = 1'b1;

    assign cmd_ready = !busy || (PIPELINE != 0 && aw_left == 32'd0 && !m_axi_awvalid && !nx_v);
    assign accept    = cmd_valid && cmd_ready && cmd_beats != 32'd0;
    assign aw_fire   = m_axi_awvalid && m_axi_awready;
    assign w_fire    = m_axi_wvalid && m_axi_wready;
    assign w_end     = (w_left == 32'd0) || (w_fire && w_left == 32'd1);   // data side free after this cycle
    assign b_fire    = m_axi_bvalid && m_axi_bready;

    // W beats may go once their burst's AW has been issued (or is being issued now)
    assign w_ok         = busy && w_left != 32'd0 && aw_ahead != '0;
    assign m_axi_wvalid = in_valid && w_ok;
    assign in_ready     = m_axi_wready && w_ok;
    assign m_axi_wdata  = in_data;
    assign m_axi_wstrb  = in_strb;
    assign w_burst      = burst_len(w_addr, w_left + w_beat);  // beats left at the start of this burst
    assign m_axi_wlast  = (w_beat == w_burst - 32'd1);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            busy          <= 1'b0;
            err           <= 1'b0;
            m_axi_awvalid <= 1'b0;
            aw_ahead      <= '0;
            b_wait        <= '0;
            aw_left       <= '0;
            w_left        <= '0;
            w_beat        <= '0;
            nx_v          <= 1'b0;
        end else begin
            if (accept) begin
                busy    <= 1'b1;
                if (!busy) err <= 1'b0;
                aw_addr <= cmd_addr;
                aw_left <= cmd_beats;
            end
            // address channel
            if (aw_fire) begin
                m_axi_awvalid <= 1'b0;
                aw_addr       <= aw_addr + (ADDR_W'(m_axi_awlen) + ADDR_W'(1) << BSH);
                aw_left       <= aw_left - (32'(m_axi_awlen) + 32'd1);
            end else if (busy && !m_axi_awvalid && aw_left != 32'd0 && b_wait < OW'(MAX_OUTSTANDING)) begin
                m_axi_awvalid <= 1'b1;
                m_axi_awaddr  <= aw_addr;
                m_axi_awlen   <= 8'(burst_len(aw_addr, aw_left) - 32'd1);
            end
            // data channel: the same splitter walks the bursts
            if (w_fire) begin
                w_left <= w_left - 32'd1;
                if (m_axi_wlast) begin
                    w_beat <= '0;
                    w_addr <= w_addr + (ADDR_W'(w_burst) << BSH);
                end else begin
                    w_beat <= w_beat + 32'd1;
                end
            end
            // the next command's data side: now if free, else after the current command's last beat
            if (accept && (!busy || (w_end && !nx_v))) begin
                w_addr <= cmd_addr;
                w_left <= cmd_beats;
                w_beat <= '0;
            end else if (accept) begin
                nx_v     <= 1'b1;
                nx_addr  <= cmd_addr;
                nx_beats <= cmd_beats;
            end else if (nx_v && w_end) begin
                nx_v   <= 1'b0;
                w_addr <= nx_addr;
                w_left <= nx_beats;
                w_beat <= '0;
            end
            case ({aw_fire, w_fire && m_axi_wlast})
                2'b10:   aw_ahead <= aw_ahead + OW'(1);
                2'b01:   aw_ahead <= aw_ahead - OW'(1);
                default: ;
            endcase
            case ({aw_fire, b_fire})
                2'b10:   b_wait <= b_wait + OW'(1);
                2'b01:   b_wait <= b_wait - OW'(1);
                default: ;
            endcase
            if (b_fire && m_axi_bresp != 2'b00) err <= 1'b1;
            // done: all data sent, all responses in (the last response may arrive this cycle)
            if (busy && !accept && !nx_v && w_left == 32'd0 && aw_left == 32'd0 && !m_axi_awvalid
                && (b_wait == '0 || (b_wait == OW'(1) && b_fire && !aw_fire))) begin
                busy <= 1'b0;
            end
        end
    end
endmodule
