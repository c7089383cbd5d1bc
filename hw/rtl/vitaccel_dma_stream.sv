// vitaccel_dma_stream: DDR -> on-chip copy engine at NPORTS AXI read ports' bandwidth.
//
// A command (cmd_src, cmd_dst, cmd_nbytes) copies cmd_nbytes bytes from DDR byte address cmd_src to on-chip
// byte address cmd_dst; src and dst must be congruent modulo B = DATA_W / 8 (the caller guarantees it).
// Commands wait in a queue of CMD_DEPTH entries, so a client issuing one command per row keeps the ports busy.
// The splitter walks the head command in whole aligned DATA_W words and cuts it into INCR bursts of at most
// min(256, 4096 / B) beats that never cross a 4 KiB boundary, one burst per clock, handed to the first free
// port in round-robin order (each port: a vitaccel_axi_rd in PIPELINE mode, up to MAX_OUTSTANDING bursts in
// flight, plus a FIFO of the bursts' destinations). Each port packs consecutive beats of one burst into a
// window of OUT_BYTES bytes at a 16-byte aligned address (a window is closed when the next beat would not fit
// or the burst ends; with OUT_BYTES < B each beat leaves as B / OUT_BYTES windows, one per clock); a round-robin
// arbiter writes one window per clock:
//   wr_en, wr_addr (16-byte aligned), wr_data (byte i -> wr_addr + i), wr_be (exactly the command's bytes).
// With OUT_BYTES >= NPORTS * B the aggregate rate reaches NPORTS * B bytes per clock.
// Raw commands (cmd_raw = 1) are not written: all their bursts go to port 0 and its beats (the aligned words
// covering [src, src + nbytes), in order) leave on raw_valid / raw_ready / raw_data (IM2COL, unaligned LOADs).
// busy: a command is queued, being split, or has bytes not yet written / delivered; done: one-cycle pulse when
// busy falls; err (valid with done, sticky until a command is accepted while idle): a non-OKAY RRESP was seen
// (the data is still delivered and written, so the engine never hangs). Commands of 0 bytes are dropped.
module vitaccel_dma_stream #(
    parameter int ADDR_W          = 40,
    parameter int DATA_W          = 128,
    parameter int NPORTS          = 4,
    parameter int OUT_BYTES       = 64,     // window bytes (a power of two >= 16)
    parameter int MAX_BURST       = 16,     // beats per burst (short bursts spread a transfer over the ports)
    parameter int MAX_OUTSTANDING = 8,      // bursts in flight per port
    parameter int CMD_DEPTH       = 4       // command queue entries (power of two, >= 2)
) (
    input  logic                     clk,
    input  logic                     rst_n,
    // commands
    input  logic                     cmd_valid,
    output logic                     cmd_ready,
    input  logic [ADDR_W-1:0]        cmd_src,
    input  logic [31:0]              cmd_dst,
    input  logic [31:0]              cmd_nbytes,
    input  logic                     cmd_raw,
    output logic                     busy,
    output logic                     done,
    output logic                     err,
    // window writes
    output logic                     wr_en,
    output logic [31:0]              wr_addr,
    output logic [OUT_BYTES*8-1:0]   wr_data,
    output logic [OUT_BYTES-1:0]     wr_be,
    // raw beats (port 0, in order)
    output logic                     raw_valid,
    input  logic                     raw_ready,
    output logic [DATA_W-1:0]        raw_data,
    // NPORTS AXI4 read masters (port p: bits [p*w +: w])
    output logic [NPORTS-1:0]        m_axi_arid,
    output logic [NPORTS*ADDR_W-1:0] m_axi_araddr,
    output logic [NPORTS*8-1:0]      m_axi_arlen,
    output logic [NPORTS*3-1:0]      m_axi_arsize,
    output logic [NPORTS*2-1:0]      m_axi_arburst,
    output logic [NPORTS*4-1:0]      m_axi_arcache,
    output logic [NPORTS*3-1:0]      m_axi_arprot,
    output logic [NPORTS-1:0]        m_axi_arvalid,
    input  logic [NPORTS-1:0]        m_axi_arready,
    input  logic [NPORTS-1:0]        m_axi_rid,
    input  logic [NPORTS*DATA_W-1:0] m_axi_rdata,
    input  logic [NPORTS*2-1:0]      m_axi_rresp,
    input  logic [NPORTS-1:0]        m_axi_rlast,
    input  logic [NPORTS-1:0]        m_axi_rvalid,
    output logic [NPORTS-1:0]        m_axi_rready
);
    localparam int B    = DATA_W / 8;
    localparam int BSH  = $clog2(B);
    localparam int OB   = OUT_BYTES;
    localparam int MAXB = (4096 / B < MAX_BURST) ? 4096 / B : MAX_BURST; // beats per burst (<= 256)
    localparam int MD   = 1 << $clog2(MAX_OUTSTANDING + 2);             // burst FIFO depth per port
    localparam int MDW  = $clog2(MD);
    localparam int QW   = $clog2(CMD_DEPTH);
    localparam int PW   = (NPORTS > 1) ? $clog2(NPORTS) : 1;
    localparam int NSUB = (B > OB) ? B / OB : 1;                        // windows per beat
    localparam int SUBW = (NSUB > 1) ? $clog2(NSUB) : 1;
    localparam int OBSH = $clog2(OB);
    localparam int USH  = (B < OB) ? BSH : OBSH;                         // a beat's window offset: a multiple of 2^USH
    localparam int OUW  = (OBSH > USH) ? OBSH - USH : 1;

    // ---------------- command queue ----------------
    logic [ADDR_W-1:0] q_src [CMD_DEPTH];
    logic [31:0]       q_dst [CMD_DEPTH];
    logic [31:0]       q_n   [CMD_DEPTH];
    logic              q_raw [CMD_DEPTH];
    logic [QW-1:0]     q_wp, q_rp;
    logic [QW:0]       q_cnt;
    logic              q_push, q_pop, accept;

    assign cmd_ready = (q_cnt != (QW+1)'(CMD_DEPTH));
    assign accept    = cmd_valid && cmd_ready;
    assign q_push    = accept && cmd_nbytes != 32'd0;

    // ---------------- splitter ----------------
    logic              sp_act, sp_first, sp_raw;
    logic [ADDR_W-1:0] sp_addr;        // aligned DDR address of the next burst
    logic [31:0]       sp_dst;         // on-chip address of that beat (congruent: may start below cmd_dst)
    logic [31:0]       sp_left;        // beats not yet requested
    logic [BSH-1:0]    sp_lo;          // first byte of the command in its first beat
    logic [BSH:0]      sp_hi;          // bytes of the command in its last beat
    logic [31:0]       page_left, bl;
    logic [NPORTS-1:0] pc_ready, pc_valid, can;
    logic [PW-1:0]     rr, sel;
    logic              sel_ok, issue;
    logic [BSH-1:0]    h_lo;

    assign q_pop = (!sp_act || (issue && bl == sp_left)) && q_cnt != '0;   // next command while the last burst goes
    assign h_lo  = q_src[q_rp][BSH-1:0];

    assign page_left = 32'(4096 / B) - 32'(32'(sp_addr[11:0]) >> BSH);
    always_comb begin
        bl = sp_left;
        if (bl > 32'(MAXB)) bl = 32'(MAXB);
        if (bl > page_left) bl = page_left;
    end

    // port choice: raw bursts only on port 0, others on the first free port from rr
    always_comb begin
        sel    = '0;
        sel_ok = 1'b0;
        if (sp_raw) begin
            sel_ok = can[0];
        end else begin
            for (int i = NPORTS - 1; i >= 0; i--) begin
                if (can[(32'(rr) + i) % NPORTS]) begin
                    sel    = PW'((32'(rr) + i) % NPORTS);
                    sel_ok = 1'b1;
                end
            end
        end
    end
    assign issue = sp_act && sel_ok;
    always_comb begin
        for (int p = 0; p < NPORTS; p++) pc_valid[p] = issue && (sel == PW'(p));
    end

    // ---------------- per port: read master, burst FIFO, window packer ----------------
    logic [NPORTS-1:0]      o_v, o_last, raw_done, rv, hraw, mnz, rerr;
    logic [NPORTS*32-1:0]   o_addr;
    logic [NPORTS*OB*8-1:0] o_data;
    logic [NPORTS*OB-1:0]   o_be;
    logic [NPORTS*DATA_W-1:0] rdat;
    logic [NPORTS-1:0]      grant;

    genvar g;
    generate
        for (g = 0; g < NPORTS; g++) begin : g_port
            logic        out_ready;
            /* verilator lint_off UNUSEDSIGNAL */  // per-port status: the stream tracks completion itself
            logic        rd_last, rd_busy, rd_err;
            /* verilator lint_on UNUSEDSIGNAL */
            vitaccel_axi_rd #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(MAXB), .MAX_OUTSTANDING(MAX_OUTSTANDING),
                              .PIPELINE(1)) u_rd (
                .clk, .rst_n,
                .cmd_valid(pc_valid[g]), .cmd_ready(pc_ready[g]), .cmd_addr(sp_addr), .cmd_beats(bl),
                .out_valid(rv[g]), .out_ready(out_ready), .out_data(rdat[g*DATA_W +: DATA_W]), .out_last(rd_last),
                .busy(rd_busy), .err(rd_err),
                .m_axi_arid(m_axi_arid[g +: 1]), .m_axi_araddr(m_axi_araddr[g*ADDR_W +: ADDR_W]),
                .m_axi_arlen(m_axi_arlen[g*8 +: 8]), .m_axi_arsize(m_axi_arsize[g*3 +: 3]),
                .m_axi_arburst(m_axi_arburst[g*2 +: 2]), .m_axi_arcache(m_axi_arcache[g*4 +: 4]),
                .m_axi_arprot(m_axi_arprot[g*3 +: 3]), .m_axi_arvalid(m_axi_arvalid[g]),
                .m_axi_arready(m_axi_arready[g]), .m_axi_rid(m_axi_rid[g +: 1]),
                .m_axi_rdata(m_axi_rdata[g*DATA_W +: DATA_W]), .m_axi_rresp(m_axi_rresp[g*2 +: 2]),
                .m_axi_rlast(m_axi_rlast[g]), .m_axi_rvalid(m_axi_rvalid[g]), .m_axi_rready(m_axi_rready[g])
            );
            assign rerr[g] = m_axi_rvalid[g] && m_axi_rready[g] && m_axi_rresp[g*2 +: 2] != 2'b00;

            // bursts requested on this port, oldest first
            logic [31:0]    m_dst   [MD];
            logic [15:0]    m_beats [MD];
            logic [BSH-1:0] m_lo    [MD];
            logic [BSH:0]   m_hi    [MD];
            logic           m_raw   [MD];
            logic [MDW-1:0] m_wp, m_rp;
            logic [MDW:0]   m_cnt;
            logic [15:0]    cb;                    // beat of the head burst
            logic [31:0]    d, base, off;
            logic [OUW-1:0] off_u;
            logic           first, last, complete, fire, ufire, sub_last, step_ok;
            logic [SUBW-1:0] sub;                  // window of the beat (OUT_BYTES < B)
            logic [BSH-1:0] lo;
            logic [BSH:0]   hi;
            logic [B-1:0]   bbe;
            logic           win_v;
            logic [31:0]    win_addr;
            logic [OB*8-1:0] win_data, mdata;
            logic [OB-1:0]  win_be, mbe;
            logic           ov, olast;             // closed window waiting for the arbiter
            logic [31:0]    oaddr;
            logic [OB*8-1:0] odata;
            logic [OB-1:0]  obe;
            assign o_v[g]                 = ov;
            assign o_last[g]              = olast;
            assign o_addr[g*32 +: 32]     = oaddr;
            assign o_data[g*OB*8 +: OB*8] = odata;
            assign o_be[g*OB +: OB]       = obe;

            assign can[g]  = pc_ready[g] && m_cnt < (MDW+1)'(MD - 1);
            assign mnz[g]  = m_cnt != '0;
            assign hraw[g] = m_raw[m_rp];
            assign d       = m_dst[m_rp] + (32'(cb) << BSH);
            assign first   = (cb == 16'd0);
            assign last    = (cb == m_beats[m_rp] - 16'd1);
            assign lo      = first ? m_lo[m_rp] : '0;
            assign hi      = last ? m_hi[m_rp] : (BSH+1)'(B);
            always_comb begin
                for (int j = 0; j < B; j++) bbe[j] = ((BSH+1)'(j) >= (BSH+1)'(lo)) && ((BSH+1)'(j) < hi);
            end
            assign sub_last = (32'(sub) == NSUB - 1);
            assign base     = win_v ? win_addr : ((d + 32'(sub) * 32'(OB)) & ~32'hF);
            assign off      = d + 32'(sub) * 32'(OB) - base;
            assign complete = last || (off + 32'(2 * B) > 32'(OB));
            // off is a multiple of min(B, OB) (the destination is congruent to the source mod B): the packer
            // shifts by whole beats (at most OB / B positions), not bytes
            assign off_u    = OUW'(off >> USH);
            assign mdata    = (win_v ? win_data : '0)
                              | ((OB*8)'(rdat[g*DATA_W +: DATA_W] >> {sub, (OBSH+3)'(0)}) << {off_u, (USH+3)'(0)});
            assign mbe      = (win_v ? win_be : '0) | (OB'(bbe >> {sub, OBSH'(0)}) << {off_u, USH'(0)});
            if (g == 0) begin : g_raw
                assign step_ok = mnz[g] && (hraw[g] ? raw_ready : (!complete || !o_v[g] || grant[g]));
            end else begin : g_win
                assign step_ok = mnz[g] && !hraw[g] && (!complete || !o_v[g] || grant[g]);
            end
            assign out_ready   = step_ok && (hraw[g] || sub_last);     // RREADY: the beat's last window step
            assign ufire       = rv[g] && step_ok;                      // a window step (raw: the beat)
            assign fire        = rv[g] && out_ready;                    // the beat is consumed
            assign raw_done[g] = fire && hraw[g] && last;

            always_ff @(posedge clk) begin
                if (!rst_n) begin
                    m_wp   <= '0;
                    m_rp   <= '0;
                    m_cnt  <= '0;
                    cb     <= '0;
                    win_v  <= 1'b0;
                    ov     <= 1'b0;
                    sub    <= '0;
                end else begin
                    if (grant[g]) ov <= 1'b0;
                    if (pc_valid[g] && pc_ready[g]) begin
                        m_dst[m_wp]   <= sp_dst;
                        m_beats[m_wp] <= 16'(bl);
                        m_lo[m_wp]    <= sp_first ? sp_lo : '0;
                        m_hi[m_wp]    <= (bl == sp_left) ? sp_hi : (BSH+1)'(B);
                        m_raw[m_wp]   <= sp_raw;
                        m_wp          <= m_wp + MDW'(1);
                    end
                    m_cnt <= m_cnt + (MDW+1)'(pc_valid[g] && pc_ready[g]) - (MDW+1)'(fire && last);
                    if (fire) begin
                        if (last) begin
                            cb   <= '0;
                            m_rp <= m_rp + MDW'(1);
                        end else begin
                            cb <= cb + 16'd1;
                        end
                    end
                    if (ufire) begin
                        if (!hraw[g]) begin
                            sub <= sub_last ? '0 : sub + SUBW'(1);
                            if (complete) begin
                                ov    <= 1'b1;
                                oaddr <= base;
                                odata <= mdata;
                                obe   <= mbe;
                                olast <= last && sub_last;
                                win_v <= 1'b0;
                            end else begin
                                win_v    <= 1'b1;
                                win_addr <= base;
                                win_data <= mdata;
                                win_be   <= mbe;
                            end
                        end
                    end
                end
            end
        end
    endgenerate

    assign raw_valid = rv[0] && mnz[0] && hraw[0];
    assign raw_data  = rdat[0 +: DATA_W];

    // ---------------- window arbiter: one write per clock ----------------
    logic [PW-1:0] rr_w, gsel;
    logic          gany;
    always_comb begin
        gsel = '0;
        gany = 1'b0;
        for (int i = NPORTS - 1; i >= 0; i--) begin
            if (o_v[(32'(rr_w) + i) % NPORTS]) begin
                gsel = PW'((32'(rr_w) + i) % NPORTS);
                gany = 1'b1;
            end
        end
        for (int p = 0; p < NPORTS; p++) grant[p] = gany && (gsel == PW'(p));
    end

    // ---------------- control ----------------
    logic [15:0] pending;   // bursts requested whose bytes are not all written / delivered
    logic        busy_q;
    assign busy = sp_act || q_cnt != '0 || pending != '0 || wr_en;
    assign done = busy_q && !busy;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            q_wp    <= '0;
            q_rp    <= '0;
            q_cnt   <= '0;
            sp_act  <= 1'b0;
            rr      <= '0;
            rr_w    <= '0;
            wr_en   <= 1'b0;
            pending <= '0;
            busy_q  <= 1'b0;
            err     <= 1'b0;
        end else begin
            busy_q <= busy;
            if (accept && !busy) err <= 1'b0;
            if (|rerr) err <= 1'b1;
            if (q_push) begin
                q_src[q_wp] <= cmd_src;
                q_dst[q_wp] <= cmd_dst;
                q_n[q_wp]   <= cmd_nbytes;
                q_raw[q_wp] <= cmd_raw;
                q_wp        <= q_wp + QW'(1);
            end
            q_cnt <= q_cnt + (QW+1)'(q_push) - (QW+1)'(q_pop);
            if (issue) begin
                sp_addr  <= sp_addr + (ADDR_W'(bl) << BSH);
                sp_dst   <= sp_dst + (bl << BSH);
                sp_left  <= sp_left - bl;
                sp_first <= 1'b0;
                if (bl == sp_left) sp_act <= 1'b0;
                if (!sp_raw) rr <= (sel == PW'(NPORTS - 1)) ? '0 : sel + PW'(1);
            end
            if (q_pop) begin
                q_rp     <= q_rp + QW'(1);
                sp_act   <= 1'b1;
                sp_first <= 1'b1;
                sp_raw   <= q_raw[q_rp];
                sp_addr  <= q_src[q_rp] & ~ADDR_W'(B - 1);
                sp_dst   <= q_dst[q_rp] - 32'(h_lo);
                sp_left  <= (32'(h_lo) + q_n[q_rp] + 32'(B - 1)) >> BSH;
                sp_lo    <= h_lo;
                sp_hi    <= (BSH+1)'(((32'(h_lo) + q_n[q_rp] - 32'd1) & 32'(B - 1)) + 32'd1);
            end
            // window writes
            wr_en <= gany;
            if (gany) begin
                wr_addr <= o_addr[32'(gsel)*32 +: 32];
                wr_data <= o_data[32'(gsel)*OB*8 +: OB*8];
                wr_be   <= o_be[32'(gsel)*OB +: OB];
                rr_w    <= (gsel == PW'(NPORTS - 1)) ? '0 : gsel + PW'(1);
            end
            pending <= pending + 16'(issue) - 16'(gany && o_last[gsel]) - 16'(|raw_done);
        end
    end
endmodule
