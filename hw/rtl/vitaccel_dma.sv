// vitaccel_dma: LOAD (DDR -> ACT / weight-buffer half), STORE (ACT -> DDR OUTPUT) and IM2COL (uint8 image in DDR
// -> int8 patch rows in ACT) of the ISA (docs/isa.md section 3), with the dispatch-time operand checks of the ISA simulator (vitaccel.sim.machine: _load, _store,
// _span) in the same order, so the sequencer reports the same ErrorCode:
//   LOAD : (cond: the sequencer checks the queue first), ddr_base undefined (BAD_FIELD), source span in its DDR region
//          (IMAGE / INPUT / OUTPUT, bounded by image_bytes / input_bytes / output_bytes of the image header),
//          then WBUF: half FULL (WBUF_STATE), rows != 1 (BAD_FIELD), destination span in the half (16-byte
//          aligned); ACT: destination span in ACT (base and pitch 16-byte aligned); other space: BAD_FIELD.
//   STORE: ddr_base undefined or not OUTPUT (BAD_FIELD), source span in ACT (aligned), destination span in OUTPUT.
//   IM2COL: ddr_base undefined, a zero size or a patch that does not divide H and W (BAD_FIELD), the C*H*W
//          source bytes in their region, then the (H/P)*(W/P) rows of C*P*P bytes at dst / dst_pitch in ACT.
// A span (addr, rows, row_bytes, pitch) in a memory of `size` bytes: zero rows or row bytes, or pitch < row
// bytes with rows > 1 -> BAD_FIELD; misaligned -> BAD_FIELD; addr >= size -> ADDR_RANGE; addr + (rows-1)*pitch
// + row_bytes > size -> BUF_OVERFLOW. chk_code is combinational on the instruction; `start` is only given when
// it is ERR_NONE.
//
// Execution (rows with pitch = stride = row bytes are merged into one contiguous row first):
// LOAD, src and dst congruent mod B = DATA_W/8 (compiled programs: always): one vitaccel_dma_stream command per
//   row (queued back to back), 16-beat bursts round-robin over the NPORTS AXI read ports (16 in flight per
//   port), COLS-byte windows (mem_wr_*) at up to min(NPORTS*B, COLS) bytes per clock, one row per clock at least.
// LOAD otherwise, and IM2COL: one raw stream command per row (IM2COL: the whole C*H*W image), its aligned words
//   arrive in order on port 0 and a (B + max(B, 16))-byte realigner cuts them into segments of up to 16 bytes,
//   one segment per clock (input at most one beat = B bytes per clock: DATA_W < 128 takes 16 / B clocks per
//   16-byte piece), each written as one window with byte enables (LOAD: 16-byte pieces of the row; IM2COL: the
//   P pixels of one patch row, pixel ^ 0x80, at dst + (gy*GW + gx)*dst_pitch + (c*P + py)*P,
//   golden.ops.patchify_u8 order; P > 16 in 16-byte pieces). A segment that crosses a 16-byte boundary needs
//   two writes when COLS = 16.
// STORE: NPORTS AXI4 write masters (one vitaccel_axi_wr each, PIPELINE). Each row's beats (DDR-aligned words,
//   beat k = row bytes [kB - s, kB - s + B), s = DDR address % B, WSTRB = the row's bytes) are cut into chunks
//   of at most CH = min(16, 4096 / B) beats that never cross 4 KiB, each one AXI burst; chunk i of the
//   instruction goes to port i % NPORTS (the round robin continues across rows). A command side issues the
//   chunks to the ports (one per clock); a data side takes a group of up to NPORTS beats of one chunk per clock:
//   one W-byte ACT window read, cut by a 16-position byte funnel (the group starts at byte (row + kB - s) % 16 of
//   the window: no realigner buffer) into the chunk's port FIFO (RAM, 16 groups); each port sends one beat per
//   clock. Rows follow each other without a gap; write responses are awaited only at the end (done after every
//   B response of every port). Rate: NPORTS * B bytes per clock while the group and its offset fit in a window
//   (W >= NPORTS * B + 15: every board; W = 32 test builds: W / B aligned, one beat misaligned); one clock per
//   row at least. Requires W >= B + 16 (one beat at any 16-byte offset in one window).
// axi_err (valid with done): a non-OKAY RRESP (LOAD / IM2COL, any read port) or BRESP (any write port, STORE)
// was seen; all bytes were still moved (cleared by the next instruction). vitaccel_top turns it into
// ErrorCode AXI_ERROR at this instruction's index.
module vitaccel_dma #(
    parameter int ADDR_W     = 40,
    parameter int DATA_W     = 128,
    parameter int ACT_BYTES  = 4096,
    parameter int WBUF_BYTES = 4096,
    parameter int COLS       = 16,
    parameter int NPORTS     = 4,
    localparam int B      = DATA_W / 8,
    localparam int BSH    = $clog2(B),
    localparam int W      = 32'(vitaccel_isa_pkg::UA_ACT_WORD_COLS) * COLS
) (
    input  logic                     clk,
    input  logic                     rst_n,
    // instruction + context
    input  logic [255:0]             instr,
    input  logic [31:0]              image_bytes,
    input  logic [31:0]              input_bytes,
    input  logic [31:0]              output_bytes,
    input  logic [63:0]              image_addr,
    input  logic [63:0]              input_addr,
    input  logic [63:0]              output_addr,
    input  logic [1:0]               wbuf_full,
    output logic [7:0]               chk_code,
    input  logic                     start,
    output logic                     busy,
    output logic                     done,        // one-cycle pulse when the instruction has finished
    output logic                     axi_err,     // with done: an AXI error response was seen
    // on-chip memories: COLS-byte windows at 16-byte aligned byte addresses
    output logic                     mem_wr_act,  // write ACT
    output logic                     mem_wr_wb,   // write WBUF half mem_wr_half
    output logic                     mem_wr_half,
    output logic [31:0]              mem_wr_addr,
    output logic [COLS*8-1:0]        mem_wr_data, // byte i -> mem_wr_addr + i when mem_wr_be[i]
    output logic [COLS-1:0]          mem_wr_be,
    output logic                     act_rd_en,
    output logic [31:0]              act_rd_addr, // 16-byte aligned
    /* verilator lint_off UNUSEDSIGNAL */  // only B + 15 bytes of the NQ W-byte windows are used
    input  logic [W*8-1:0]           act_rd_data, // the cycle after act_rd_en
    /* verilator lint_on UNUSEDSIGNAL */
    // NPORTS AXI4 read masters (port p: bits [p*w +: w]; the top shares port 0 with the fetch while !busy)
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
    output logic [NPORTS-1:0]        m_axi_rready,
    // NPORTS AXI4 write masters (STORE; port p: bits [p*w +: w])
    output logic [NPORTS-1:0]        m_axi_awid,
    output logic [NPORTS*ADDR_W-1:0] m_axi_awaddr,
    output logic [NPORTS*8-1:0]      m_axi_awlen,
    output logic [NPORTS*3-1:0]      m_axi_awsize,
    output logic [NPORTS*2-1:0]      m_axi_awburst,
    output logic [NPORTS*4-1:0]      m_axi_awcache,
    output logic [NPORTS*3-1:0]      m_axi_awprot,
    output logic [NPORTS-1:0]        m_axi_awvalid,
    input  logic [NPORTS-1:0]        m_axi_awready,
    output logic [NPORTS*DATA_W-1:0] m_axi_wdata,
    output logic [NPORTS*B-1:0]      m_axi_wstrb,
    output logic [NPORTS-1:0]        m_axi_wlast,
    output logic [NPORTS-1:0]        m_axi_wvalid,
    input  logic [NPORTS-1:0]        m_axi_wready,
    input  logic [NPORTS-1:0]        m_axi_bid,
    input  logic [NPORTS*2-1:0]      m_axi_bresp,
    input  logic [NPORTS-1:0]        m_axi_bvalid,
    output logic [NPORTS-1:0]        m_axi_bready
);
    localparam logic [7:0] E_NONE  = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_FIELD = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_RANGE = 8'(vitaccel_isa_pkg::ERR_ADDR_RANGE);
    localparam logic [7:0] E_OVER  = 8'(vitaccel_isa_pkg::ERR_BUF_OVERFLOW);
    localparam logic [7:0] E_WBUF  = 8'(vitaccel_isa_pkg::ERR_WBUF_STATE);

    // ---------------- fields (LOAD and STORE share the positions) ----------------
    logic [7:0]  f_op;
    logic        f_wbuf;
    logic [1:0]  f_base, f_space;
    logic [31:0] f_off, f_mem, f_rb, f_stride;
    logic [15:0] f_rows, f_pitch;
    logic        is_store, is_im2col;
    logic [15:0] i_h, i_w, i_pitch;
    logic [7:0]  i_c, i_p;
    assign f_op     = instr[7:0];
    assign f_wbuf   = instr[vitaccel_isa_pkg::F_LOAD_WBUF_LO];
    assign f_base   = instr[vitaccel_isa_pkg::F_LOAD_DDR_BASE_LO +: 2];
    assign f_space  = instr[vitaccel_isa_pkg::F_LOAD_SPACE_LO +: 2];
    assign f_off    = instr[vitaccel_isa_pkg::F_LOAD_DDR_OFF_LO +: 32];
    assign f_mem    = instr[vitaccel_isa_pkg::F_LOAD_DST_LO +: 32];          // LOAD dst / STORE src
    assign f_rb     = instr[vitaccel_isa_pkg::F_LOAD_ROW_BYTES_LO +: 32];
    assign f_rows   = instr[vitaccel_isa_pkg::F_LOAD_ROWS_LO +: 16];
    assign f_pitch  = instr[vitaccel_isa_pkg::F_LOAD_DST_PITCH_LO +: 16];    // LOAD dst_pitch / STORE src_pitch
    assign f_stride = instr[vitaccel_isa_pkg::F_LOAD_SRC_STRIDE_LO +: 32];   // LOAD src_stride / STORE dst_stride
    assign is_store = (f_op == 8'(vitaccel_isa_pkg::OP_STORE));
    assign is_im2col = (f_op == 8'(vitaccel_isa_pkg::OP_IM2COL));
    assign i_h      = instr[vitaccel_isa_pkg::F_IM2COL_HEIGHT_LO +: 16];
    assign i_w      = instr[vitaccel_isa_pkg::F_IM2COL_WIDTH_LO +: 16];
    assign i_c      = instr[vitaccel_isa_pkg::F_IM2COL_CHANS_LO +: 8];
    assign i_p      = instr[vitaccel_isa_pkg::F_IM2COL_PATCH_LO +: 8];
    assign i_pitch  = instr[vitaccel_isa_pkg::F_IM2COL_DST_PITCH_LO +: 16];

    // ---------------- dispatch-time checks ----------------
    function automatic logic [7:0] span(input logic [63:0] size, input logic [31:0] addr, input logic [31:0] rows,
                                        input logic [31:0] rb, input logic [31:0] pitch, input logic align);
        logic [63:0] last;
        last = 64'(addr) + 64'(rows - 32'd1) * 64'(pitch) + 64'(rb);
        if (rows == 32'd0 || rb == 32'd0)                                      span = E_FIELD;
        else if (rows > 32'd1 && pitch < rb)                                   span = E_FIELD;
        else if (align && (addr[3:0] != 4'd0 || (rows > 32'd1 && pitch[3:0] != 4'd0))) span = E_FIELD;
        else if (64'(addr) >= size)                                            span = E_RANGE;
        else if (last > size)                                                  span = E_OVER;
        else                                                                   span = E_NONE;
    endfunction

    // 16 / 8-bit restoring division (IM2COL's patch grid): {remainder, quotient}; 16 stages of a 9-bit subtract
    // (yosys' generic $div / $mod would build 32-bit stages, one divider each)
    function automatic logic [23:0] divmod(input logic [15:0] n, input logic [7:0] d);
        logic [8:0]  r;
        logic [15:0] q;
        r = '0;
        for (int i = 15; i >= 0; i--) begin
            r = {r[7:0], n[i]};
            q[i] = r >= {1'b0, d};
            if (q[i]) r = r - {1'b0, d};
        end
        divmod = {r[7:0], q};
    endfunction

    logic [63:0] src_size;
    logic [7:0]  c_src, c_dst_wb, c_dst_act, c_st_src, c_st_dst, c_im_dst;
    logic [15:0] i_gh, i_gw;         // patch grid
    logic [7:0]  i_ph;               // patch as a divisor (1 when zero: the check fails anyway)
    logic [23:0] i_dh, i_dw;         // {H % P, H / P}, {W % P, W / P}
    logic        i_bad;
    logic [63:0] i_n;                // image bytes C*H*W
    logic [31:0] i_rows, i_rb;       // patch rows (GH*GW), bytes per patch row (C*P*P)
    always_comb begin
        i_ph   = (i_p == 8'd0) ? 8'd1 : i_p;
        i_dh   = divmod(i_h, i_ph);
        i_dw   = divmod(i_w, i_ph);
        i_gh   = i_dh[15:0];
        i_gw   = i_dw[15:0];
        i_bad  = i_c == 8'd0 || i_h == 16'd0 || i_w == 16'd0 || i_p == 8'd0 || i_dh[23:16] != 8'd0
                 || i_dw[23:16] != 8'd0;
        i_n    = 64'(i_c) * 64'(i_h) * 64'(i_w);
        i_rows = 32'(i_gh) * 32'(i_gw);
        i_rb   = 32'(i_c) * 32'(i_p) * 32'(i_p);
        c_im_dst = span(64'(ACT_BYTES), f_mem, i_rows, i_rb, 32'(i_pitch), 1'b1);
        case (f_base)
            2'd0:    src_size = 64'(image_bytes);
            2'd1:    src_size = 64'(input_bytes);
            default: src_size = 64'(output_bytes);
        endcase
        c_src     = span(src_size, f_off, 32'(f_rows), f_rb, f_stride, 1'b0);
        c_dst_wb  = span(64'(WBUF_BYTES), f_mem, 32'd1, f_rb, f_rb, 1'b1);
        c_dst_act = span(64'(ACT_BYTES), f_mem, 32'(f_rows), f_rb, 32'(f_pitch), 1'b1);
        c_st_src  = span(64'(ACT_BYTES), f_mem, 32'(f_rows), f_rb, 32'(f_pitch), 1'b1);
        c_st_dst  = span(64'(output_bytes), f_off, 32'(f_rows), f_rb, f_stride, 1'b0);
        if (is_im2col) begin
            if (f_base == 2'd3)                              chk_code = E_FIELD;
            else if (i_bad)                                  chk_code = E_FIELD;
            else if (64'(f_off) >= src_size)                 chk_code = E_RANGE;
            else if (64'(f_off) + i_n > src_size)            chk_code = E_OVER;
            else                                             chk_code = c_im_dst;
        end else if (is_store) begin
            if (f_base != 2'(vitaccel_isa_pkg::BASE_OUTPUT)) chk_code = E_FIELD;
            else if (c_st_src != E_NONE)                     chk_code = c_st_src;
            else                                             chk_code = c_st_dst;
        end else begin
            if (f_base == 2'd3)                              chk_code = E_FIELD;
            else if (c_src != E_NONE)                        chk_code = c_src;
            else if (f_space == 2'(vitaccel_isa_pkg::SPACE_WBUF)) begin
                if (wbuf_full[f_wbuf])                       chk_code = E_WBUF;
                else if (f_rows != 16'd1)                    chk_code = E_FIELD;
                else                                         chk_code = c_dst_wb;
            end else if (f_space == 2'(vitaccel_isa_pkg::SPACE_ACT)) chk_code = c_dst_act;
            else                                             chk_code = E_FIELD;
        end
    end

    // ---------------- execution ----------------
    localparam int WD  = (COLS >= 32) ? COLS : 32;   // a 16-byte segment at any offset of a 16-byte chunk
    localparam int SB  = B + ((B > 16) ? B : 16);    // realigner bytes: a 16-byte segment + one beat
    localparam int SCW = $clog2(SB + 1);

    typedef enum logic [1:0] {D_IDLE, D_LOAD, D_STORE, D_FIN} dstate_t;
    dstate_t st;
    logic st_store, st_wb, st_half, st_raw, st_im;

    // decode of the instruction at start
    logic [63:0] base_sel, src0;
    logic        merge, cong;
    logic [15:0] rows_e;
    logic [31:0] rb_e;
    always_comb begin
        case (f_base)
            2'd0:    base_sel = image_addr;
            2'd1:    base_sel = input_addr;
            default: base_sel = output_addr;
        endcase
        src0   = base_sel + 64'(f_off);
        merge  = f_rows > 16'd1 && 32'(f_pitch) == f_rb && f_stride == f_rb;
        rows_e = merge ? 16'd1 : f_rows;
        rb_e   = merge ? f_rb * 32'(f_rows) : f_rb;
        cong   = (src0[BSH-1:0] == f_mem[BSH-1:0])
                 && (rows_e == 16'd1 || f_stride[BSH-1:0] == f_pitch[BSH-1:0]);
    end

    logic [31:0] rb, stride, pitch;

    // ---- stream (LOAD / IM2COL source) ----
    logic              s_cmd_valid, s_cmd_ready, s_busy, s_err, s_wr_en, raw_valid, raw_ready;
    /* verilator lint_off UNUSEDSIGNAL */
    logic              s_done;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [31:0]       s_wr_addr;
    logic [COLS*8-1:0] s_wr_data;
    logic [COLS-1:0]   s_wr_be;
    logic [DATA_W-1:0] raw_data;
    logic [15:0]       cs_left;        // stream commands (rows) still to issue
    logic [63:0]       cs_src;
    logic [31:0]       cs_dst;

    assign s_cmd_valid = (st == D_LOAD) && cs_left != 16'd0;

    vitaccel_dma_stream #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .NPORTS(NPORTS), .OUT_BYTES(COLS), .MAX_BURST(16),
                          .MAX_OUTSTANDING(16)) u_stream (
        .clk, .rst_n,
        .cmd_valid(s_cmd_valid), .cmd_ready(s_cmd_ready), .cmd_src(ADDR_W'(cs_src)), .cmd_dst(cs_dst),
        .cmd_nbytes(rb), .cmd_raw(st_raw), .busy(s_busy), .done(s_done), .err(s_err),
        .wr_en(s_wr_en), .wr_addr(s_wr_addr), .wr_data(s_wr_data), .wr_be(s_wr_be),
        .raw_valid, .raw_ready, .raw_data,
        .m_axi_arid, .m_axi_araddr, .m_axi_arlen, .m_axi_arsize, .m_axi_arburst, .m_axi_arcache, .m_axi_arprot,
        .m_axi_arvalid, .m_axi_arready, .m_axi_rid, .m_axi_rdata, .m_axi_rresp, .m_axi_rlast, .m_axi_rvalid,
        .m_axi_rready
    );

    // ---- realigner + segment writer (unaligned LOAD, IM2COL) ----
    logic [15:0]     j_left;          // rows (jobs) not yet finished
    logic            j_act, j_first;
    logic [63:0]     j_src;
    logic [31:0]     j_dst, jb_left, sg_left, sg_dst, n_pieces;
    logic [BSH-1:0]  j_ph;
    logic [SB*8-1:0] sb;
    logic [SCW-1:0]  sc;              // bytes held in sb
    logic [4:0]      seglen;
    logic [31:0]     seg_addr;
    logic            emit, take, room, need2;
    logic [SCW-1:0]  consumed, skip;
    logic [127:0]    seg16;
    logic [16:0]     mask16;
    logic [WD*8-1:0] wide_d;
    logic [WD-1:0]   wide_be;
    logic            g_en, sp2_v;
    logic [31:0]     g_addr, sp2_addr;
    logic [COLS*8-1:0] g_data, sp2_data;
    logic [COLS-1:0] g_be, sp2_be;
    // IM2COL position of the next segment piece: (ch, gy, py, gx), byte px of the patch row
    logic [7:0]      m_p, m_px, m_py, m_ch;
    logic [15:0]     m_gw, m_gh, m_gx, m_gy;
    logic [31:0]     m_pp, m_gwp, m_rowb_gy, m_rowb, m_col_ch, m_col_py, mem_row;
    logic [7:0]      m_rem;

    assign m_rem    = m_p - m_px;
    assign seglen   = st_im ? ((m_rem > 8'd16) ? 5'd16 : 5'(m_rem))
                            : ((sg_left == 32'd1) ? 5'(((rb - 32'd1) & 32'hF) + 32'd1) : 5'd16);
    assign seg_addr = st_im ? (m_rowb + m_col_ch + m_col_py + 32'(m_px)) : sg_dst;
    assign emit     = j_act && sg_left != 32'd0 && sc >= SCW'(seglen) && !sp2_v;
    assign consumed = emit ? SCW'(seglen) : '0;
    assign room     = (sc - consumed) <= SCW'(SB - B);
    assign raw_ready = j_act && jb_left != 32'd0 && room;
    assign take     = raw_ready && raw_valid;
    assign skip     = j_first ? SCW'(j_ph) : '0;
    assign mask16   = (17'd1 << seglen) - 17'd1;
    always_comb begin
        seg16 = sb[127:0];
        if (st_im) begin
            for (int i = 0; i < 16; i++) seg16[8*i+7] = ~seg16[8*i+7];   // pixel - 128
        end
        wide_d  = (WD*8)'(seg16) << (8 * 32'(seg_addr[3:0]));
        wide_be = WD'(mask16) << seg_addr[3:0];
        need2   = COLS'(wide_be >> COLS) != '0;
    end

    // ---- STORE: chunk plan (command side), ACT window reads + funnel (data side), NPORTS write ports ----
    // Every row's beats (DDR-aligned words, beat k = row bytes [kB - s, kB - s + B), s = DDR address % B) are
    // cut into chunks of at most CH beats that never cross 4 KiB; chunk i of the instruction goes to port
    // i % NPORTS. The command side and the data side walk the same plan with their own counters (like
    // vitaccel_axi_wr's AW / W sides). The data side takes a group of g <= NPORTS beats of one chunk per clock:
    // its ACT bytes [row + kB - s, row + (k+g)B - s) start at byte `off` = (row + kB - s) % 16 of the W-byte
    // window at the 16-byte aligned address below, so g <= (W - off) / B, and a 16-position byte funnel (shift by
    // off) cuts the group out of the window two clocks later into the port's group FIFO (RAM, FDG groups of
    // NPORTS beats + g and the first / last beat's WSTRB bounds). A read below the row's start (first beat,
    // s > 0) only feeds bytes whose WSTRB is 0.
    localparam int CH  = (4096 / B < 16) ? 4096 / B : 16;  // beats per chunk = one AXI burst
    localparam int FDG = 16;                               // groups per port FIFO
    localparam int FGW = $clog2(FDG);
    localparam int PW  = (NPORTS > 1) ? $clog2(NPORTS) : 1;
    localparam int GW  = $clog2(NPORTS + 1);               // a group's beat count
    localparam int GB  = NPORTS * B;                       // group bytes
    localparam int CMX = (B + 15) / 16;                    // 16-byte chunks a row's first beat reaches below it
    localparam int CW  = $clog2(CMX + 1);

    function automatic logic [31:0] chunk_len(input logic [11:0] a, input logic [31:0] n);
        logic [31:0] pl;
        pl = 32'(4096 / B) - (32'(a) >> BSH);
        chunk_len = n;
        if (chunk_len > 32'(CH)) chunk_len = 32'(CH);
        if (chunk_len > pl) chunk_len = pl;
    endfunction

    logic        st_go, st_werr;
    assign st_go = (st == D_IDLE) && start && is_store;

    // command side
    logic [15:0]       wc_left;
    logic [63:0]       wc_ddr, wc_a, wc_ca;
    logic [31:0]       wc_bl, wc_cn, wc_cl;
    logic [PW-1:0]     wc_port;
    logic              w_cmd_valid;
    logic [NPORTS-1:0] w_cmd_ready, w_busy;
    assign w_cmd_valid = (st == D_STORE) && wc_left != 16'd0;
    assign wc_ca = (wc_bl == 32'd0) ? (wc_ddr & ~64'(B - 1)) : wc_a;
    assign wc_cn = (wc_bl == 32'd0) ? ((32'(wc_ddr[BSH-1:0]) + rb + 32'(B - 1)) >> BSH) : wc_bl;
    assign wc_cl = chunk_len(wc_ca[11:0], wc_cn);

    // data side: one group of beats of the current chunk per clock
    logic [15:0]       dp_left;
    logic [63:0]       dp_ddr, dp_a, dp_ca;
    logic [31:0]       dp_row, dp_bl, dp_cl, dp_off, dp_cb, dp_cc, dp_coff, dp_src, gwin, g;
    logic [BSH-1:0]    dp_s, dp_cs;
    logic [BSH:0]      llast;
    logic [PW-1:0]     dp_port;
    logic [3:0]        dp_fo;
    logic [CW-1:0]     dp_c;
    logic [FGW:0]      fres [NPORTS];      // groups issued (reserved) and not yet sent, per port
    logic [FGW:0]      fcnt [NPORTS];      // groups written and not yet sent, per port
    assign dp_cs   = (dp_bl == 32'd0) ? dp_ddr[BSH-1:0] : dp_s;
    assign dp_ca   = (dp_bl == 32'd0) ? (dp_ddr & ~64'(B - 1)) : dp_a;
    assign dp_cb   = (dp_bl == 32'd0) ? ((32'(dp_ddr[BSH-1:0]) + rb + 32'(B - 1)) >> BSH) : dp_bl;
    assign dp_coff = (dp_bl == 32'd0) ? 32'd0 : dp_off;
    assign dp_cc   = (dp_cl == 32'd0) ? chunk_len(dp_ca[11:0], dp_cb) : dp_cl;
    assign llast   = (BSH+1)'(((32'(dp_cs) + rb - 32'd1) & 32'(B - 1)) + 32'd1);
    assign dp_src  = dp_row + dp_coff - 32'(dp_cs);   // ACT address of the group's first byte (mod 2^32)
    assign dp_fo   = dp_src[3:0];
    assign dp_c    = (dp_bl == 32'd0) ? CW'((32'(dp_cs) + 32'd15) >> 4) : '0;
    assign gwin    = (32'(W) - 32'(dp_fo)) >> BSH;
    always_comb begin
        g = 32'(NPORTS);
        if (g > dp_cc) g = dp_cc;
        if (g > gwin) g = gwin;
        if (st != D_STORE || dp_left == 16'd0 || fres[dp_port] == (FGW+1)'(FDG)) g = '0;
    end

    // two clocks to the ACT window: p1 (act_rd_en), p2 (act_rd_data), funnel into the port FIFO
    logic              p1_v, p2_v;
    logic [PW-1:0]     p1_port, p2_port;
    logic [GW-1:0]     p1_g, p2_g;
    logic [3:0]        p1_fo, p2_fo;
    logic [CW-1:0]     p1_c, p2_c;
    logic [BSH-1:0]    p1_lo, p2_lo;
    logic [BSH:0]      p1_hi, p2_hi;
    logic [GB*8-1:0]   fun;
    logic [W*8+CMX*128-1:0] fwin;
    // a row's first group reads the window at the row (never below it: ACT may end there) and moves it up by
    // the c chunks it starts below the row; bytes below the row are masked by WSTRB
    assign fwin = (W*8+CMX*128)'(act_rd_data) << {p2_c, 7'b0000000};
    assign fun  = (GB*8)'(fwin >> {p2_fo, 3'b000});

    genvar gp;
    generate
        for (gp = 0; gp < NPORTS; gp++) begin : g_wr
            logic [GB*8-1:0]   f_data [FDG];
            logic [GW-1:0]     f_g    [FDG];
            logic [BSH-1:0]    f_lo   [FDG];
            logic [BSH:0]      f_hi   [FDG];
            logic [FGW-1:0]    f_wp, f_rp;
            logic [GW-1:0]     bix;           // beat of the head group
            logic [GB*8-1:0]   h_data;
            logic [GW-1:0]     h_g;
            logic [BSH-1:0]    h_lo;
            logic [BSH:0]      h_hi;
            logic [DATA_W-1:0] in_data;
            logic [B-1:0]      in_strb;
            logic              in_valid, in_ready, push, sent, pop;
            /* verilator lint_off UNUSEDSIGNAL */  // the DMA keeps its own error flag (cleared per instruction)
            logic              w_err;
            /* verilator lint_on UNUSEDSIGNAL */
            assign push     = p2_v && p2_port == PW'(gp);
            assign in_valid = fcnt[gp] != '0;
            assign h_data   = f_data[f_rp];
            assign h_g      = f_g[f_rp];
            assign h_lo     = f_lo[f_rp];
            assign h_hi     = f_hi[f_rp];
            assign in_data  = h_data[32'(bix) * DATA_W +: DATA_W];
            always_comb begin
                for (int i = 0; i < B; i++)
                    in_strb[i] = (bix != '0 || (BSH+1)'(i) >= (BSH+1)'(h_lo)) && (bix != h_g - GW'(1) || (BSH+1)'(i) < h_hi);
            end
            assign sent = in_valid && in_ready;
            assign pop  = sent && bix == h_g - GW'(1);
            always_ff @(posedge clk) begin
                if (push) begin
                    f_data[f_wp] <= fun;
                    f_g[f_wp]    <= p2_g;
                    f_lo[f_wp]   <= p2_lo;
                    f_hi[f_wp]   <= p2_hi;
                end
            end
            always_ff @(posedge clk) begin
                if (!rst_n) begin
                    f_wp     <= '0;
                    f_rp     <= '0;
                    bix      <= '0;
                    fcnt[gp] <= '0;
                    fres[gp] <= '0;
                end else begin
                    if (push) f_wp <= f_wp + FGW'(1);
                    if (sent) bix <= pop ? '0 : bix + GW'(1);
                    if (pop) f_rp <= f_rp + FGW'(1);
                    fcnt[gp] <= fcnt[gp] + (FGW+1)'(push) - (FGW+1)'(pop);
                    fres[gp] <= fres[gp] + (FGW+1)'(g != 32'd0 && dp_port == PW'(gp)) - (FGW+1)'(pop);
                end
            end
            vitaccel_axi_wr #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(CH), .MAX_OUTSTANDING(8), .PIPELINE(1))
            u_wr (
                .clk, .rst_n,
                .cmd_valid(w_cmd_valid && wc_port == PW'(gp)), .cmd_ready(w_cmd_ready[gp]),
                .cmd_addr(ADDR_W'(wc_ca)), .cmd_beats(wc_cl),
                .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data), .in_strb(in_strb),
                .busy(w_busy[gp]), .err(w_err),
                .m_axi_awid(m_axi_awid[gp +: 1]), .m_axi_awaddr(m_axi_awaddr[gp*ADDR_W +: ADDR_W]),
                .m_axi_awlen(m_axi_awlen[gp*8 +: 8]), .m_axi_awsize(m_axi_awsize[gp*3 +: 3]),
                .m_axi_awburst(m_axi_awburst[gp*2 +: 2]), .m_axi_awcache(m_axi_awcache[gp*4 +: 4]),
                .m_axi_awprot(m_axi_awprot[gp*3 +: 3]), .m_axi_awvalid(m_axi_awvalid[gp]),
                .m_axi_awready(m_axi_awready[gp]), .m_axi_wdata(m_axi_wdata[gp*DATA_W +: DATA_W]),
                .m_axi_wstrb(m_axi_wstrb[gp*B +: B]), .m_axi_wlast(m_axi_wlast[gp]),
                .m_axi_wvalid(m_axi_wvalid[gp]), .m_axi_wready(m_axi_wready[gp]), .m_axi_bid(m_axi_bid[gp +: 1]),
                .m_axi_bresp(m_axi_bresp[gp*2 +: 2]), .m_axi_bvalid(m_axi_bvalid[gp]),
                .m_axi_bready(m_axi_bready[gp])
            );
        end
    endgenerate

    logic store_fin;
    always_comb begin
        store_fin = wc_left == 16'd0 && dp_left == 16'd0 && !p1_v && !p2_v && w_busy == '0;
        for (int p = 0; p < NPORTS; p++) if (fcnt[p] != '0) store_fin = 1'b0;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wc_left   <= '0;
            dp_left   <= '0;
            p1_v      <= 1'b0;
            p2_v      <= 1'b0;
            act_rd_en <= 1'b0;
            st_werr   <= 1'b0;
        end else begin
            if (st_go) begin
                wc_left <= rows_e;
                wc_ddr  <= src0;
                wc_bl   <= '0;
                wc_port <= '0;
                dp_left <= rows_e;
                dp_ddr  <= src0;
                dp_row  <= f_mem;
                dp_bl   <= '0;
                dp_cl   <= '0;
                dp_port <= '0;
                st_werr <= 1'b0;
            end
            for (int p = 0; p < NPORTS; p++) begin
                if (m_axi_bvalid[p] && m_axi_bready[p] && m_axi_bresp[p*2 +: 2] != 2'b00) st_werr <= 1'b1;
            end
            // command side
            if (w_cmd_valid && w_cmd_ready[wc_port]) begin
                wc_port <= (wc_port == PW'(NPORTS - 1)) ? '0 : wc_port + PW'(1);
                if (wc_cl == wc_cn) begin
                    wc_left <= wc_left - 16'd1;
                    wc_ddr  <= wc_ddr + 64'(stride);
                    wc_bl   <= '0;
                end else begin
                    wc_a  <= wc_ca + (64'(wc_cl) << BSH);
                    wc_bl <= wc_cn - wc_cl;
                end
            end
            // data side: ACT window read of the group, its place in the port FIFO reserved
            act_rd_en <= g != 32'd0;
            p1_v      <= g != 32'd0;
            p2_v      <= p1_v;
            if (g != 32'd0) begin
                act_rd_addr <= (dp_bl == 32'd0) ? dp_row : (dp_src & ~32'hF);
                p1_port <= dp_port;
                p1_g    <= GW'(g);
                p1_fo   <= dp_fo;
                p1_c    <= dp_c;
                p1_lo   <= (dp_bl == 32'd0) ? dp_cs : '0;
                p1_hi   <= (g == dp_cb) ? llast : (BSH+1)'(B);
                dp_s    <= dp_cs;
                dp_off  <= dp_coff + (g << BSH);
                dp_a    <= dp_ca + (64'(g) << BSH);
                dp_bl   <= dp_cb - g;
                dp_cl   <= dp_cc - g;
                if (g == dp_cc) dp_port <= (dp_port == PW'(NPORTS - 1)) ? '0 : dp_port + PW'(1);
                if (g == dp_cb) begin
                    dp_left <= dp_left - 16'd1;
                    dp_ddr  <= dp_ddr + 64'(stride);
                    dp_row  <= dp_row + pitch;
                end
            end
            p2_port <= p1_port;
            p2_g    <= p1_g;
            p2_fo   <= p1_fo;
            p2_c    <= p1_c;
            p2_lo   <= p1_lo;
            p2_hi   <= p1_hi;
        end
    end
    // ---- memory write port: stream windows or realigned segments ----
    assign mem_wr_act  = !st_wb && (s_wr_en || g_en);
    assign mem_wr_wb   = st_wb && (s_wr_en || g_en);
    assign mem_wr_half = st_half;
    assign mem_wr_addr = s_wr_en ? s_wr_addr : g_addr;
    assign mem_wr_data = s_wr_en ? s_wr_data : g_data;
    assign mem_wr_be   = s_wr_en ? s_wr_be : g_be;

    assign busy    = (st != D_IDLE);
    assign done    = (st == D_FIN);
    assign axi_err = st_store ? st_werr : s_err;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            st        <= D_IDLE;
            st_store  <= 1'b0;
            st_wb     <= 1'b0;
            cs_left    <= '0;
            j_left    <= '0;
            j_act     <= 1'b0;
            g_en      <= 1'b0;
            sp2_v     <= 1'b0;
        end else begin
            g_en      <= 1'b0;
            case (st)
                D_IDLE: if (start) begin
                    st_store <= is_store;
                    st_wb    <= !is_store && !is_im2col && f_space == 2'(vitaccel_isa_pkg::SPACE_WBUF);
                    st_half  <= f_wbuf;
                    st_im    <= is_im2col;
                    st_raw   <= is_im2col || !cong;
                    stride   <= f_stride;
                    pitch    <= is_im2col ? 32'(i_pitch) : 32'(f_pitch);
                    rb       <= is_im2col ? 32'(i_n) : rb_e;
                    // stream commands / realigner jobs (LOAD, IM2COL)
                    cs_left   <= is_store ? 16'd0 : is_im2col ? 16'd1 : rows_e;
                    cs_src    <= src0;
                    cs_dst    <= f_mem;
                    j_left   <= (is_store || (!is_im2col && cong)) ? 16'd0 : is_im2col ? 16'd1 : rows_e;
                    j_src    <= src0;
                    j_dst    <= f_mem;
                    n_pieces <= 32'(i_c) * 32'(i_h) * 32'(i_gw) * ((32'(i_p) + 32'd15) >> 4);
                    m_p      <= i_p;
                    m_px     <= '0;
                    m_pp     <= 32'(i_p) * 32'(i_p);
                    m_gw     <= i_gw;
                    m_gh     <= i_gh;
                    m_gwp    <= 32'(i_gw) * 32'(i_pitch);
                    m_rowb_gy <= f_mem;
                    m_rowb   <= f_mem;
                    mem_row  <= f_mem;
                    {m_ch, m_py, m_gx, m_gy} <= '0;
                    m_col_ch <= '0;
                    m_col_py <= '0;
                    if (is_store) rb <= rb_e;
                    st <= is_store ? D_STORE : D_LOAD;
                end
                D_LOAD: begin
                    if (cs_left == 16'd0 && j_left == 16'd0 && !j_act && !s_busy && !sp2_v) st <= D_FIN;
                end
                D_STORE: begin
                    if (store_fin)
                        st <= D_FIN;
                end
                D_FIN: st <= D_IDLE;
                default: st <= D_IDLE;
            endcase

            // ---- stream commands ----
            if (s_cmd_valid && s_cmd_ready) begin
                cs_left <= cs_left - 16'd1;
                cs_src  <= cs_src + 64'(stride);
                cs_dst  <= cs_dst + pitch;
            end

            // ---- realigner jobs ----
            if (st == D_LOAD && !j_act && j_left != 16'd0) begin
                j_act   <= 1'b1;
                j_first <= 1'b1;
                j_ph    <= j_src[BSH-1:0];
                jb_left <= (32'(j_src[BSH-1:0]) + rb + 32'(B - 1)) >> BSH;
                sb      <= '0;
                sc      <= '0;
                sg_dst  <= j_dst;
                sg_left <= st_im ? n_pieces : (rb + 32'd15) >> 4;
            end else if (j_act) begin
                if (sg_left == 32'd0 && jb_left == 32'd0) begin
                    j_act  <= 1'b0;
                    j_left <= j_left - 16'd1;
                    j_src  <= j_src + 64'(stride);
                    j_dst  <= j_dst + pitch;
                end
                sb <= (sb >> (8 * 32'(consumed)))
                      | (take ? (((SB*8)'(raw_data) >> (8 * 32'(skip))) << (8 * 32'(sc - consumed))) : '0);
                sc <= sc - consumed + (take ? SCW'(B) - skip : '0);
                if (take) begin
                    jb_left <= jb_left - 32'd1;
                    j_first <= 1'b0;
                end
            end
            if (sp2_v) begin
                g_en   <= 1'b1;
                g_addr <= sp2_addr;
                g_data <= sp2_data;
                g_be   <= sp2_be;
                sp2_v  <= 1'b0;
            end
            if (emit) begin
                g_en     <= 1'b1;
                g_addr   <= seg_addr & ~32'hF;
                g_data   <= (COLS*8)'(wide_d);
                g_be     <= COLS'(wide_be);
                sp2_v    <= need2;
                sp2_addr <= (seg_addr & ~32'hF) + 32'(COLS);
                sp2_data <= (COLS*8)'(wide_d >> (COLS * 8));
                sp2_be   <= COLS'(wide_be >> COLS);
                sg_left  <= sg_left - 32'd1;
                sg_dst   <= sg_dst + 32'd16;
                // IM2COL: next piece / patch row segment: px, then gx, py, gy, ch (C, H, W order)
                if (32'(m_px) + 32'(seglen) != 32'(m_p)) begin
                    m_px <= m_px + 8'd16;
                end else begin
                    m_px <= '0;
                    if (m_gx != m_gw - 16'd1) begin
                        m_gx   <= m_gx + 16'd1;
                        m_rowb <= m_rowb + pitch;
                    end else begin
                        m_gx <= '0;
                        if (m_py != m_p - 8'd1) begin
                            m_py     <= m_py + 8'd1;
                            m_col_py <= m_col_py + 32'(m_p);
                            m_rowb   <= m_rowb_gy;
                        end else begin
                            m_py     <= '0;
                            m_col_py <= '0;
                            if (m_gy != m_gh - 16'd1) begin
                                m_gy      <= m_gy + 16'd1;
                                m_rowb_gy <= m_rowb_gy + m_gwp;
                                m_rowb    <= m_rowb_gy + m_gwp;
                            end else begin
                                m_gy      <= '0;
                                m_ch      <= m_ch + 8'd1;
                                m_col_ch  <= m_col_ch + m_pp;
                                m_rowb_gy <= mem_row;
                                m_rowb    <= mem_row;
                            end
                        end
                    end
                end
            end
        end
    end
`ifndef SYNTHESIS
    initial begin
        if (W < B + 16) $fatal(1, "vitaccel_dma: the ACT window (2 x COLS = %0d bytes) must hold one AXI beat (%0d bytes) at any 16-byte offset: need 2 x COLS >= DATA_W / 8 + 16", W, B);
    end
`endif
endmodule
