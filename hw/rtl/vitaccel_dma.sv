// vitaccel_dma: LOAD (DDR -> ACT / weight-buffer half), STORE (ACT -> DDR OUTPUT) and IM2COL (uint8 image in DDR
// -> int8 patch rows in ACT) of the ISA (docs/isa.md section 3), with the dispatch-time operand checks of the ISA simulator (vitaccel.sim.machine: _load, _store,
// _span) in the same order, so the sequencer reports the same ErrorCode:
//   LOAD : cond (no ROUTE has run: BAD_FIELD), ddr_base undefined (BAD_FIELD), source span in its DDR region
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
// Execution, one row at a time. LOAD: the row's DDR bytes are read as whole aligned AXI words (vitaccel_axi_rd)
// and realigned (source phase s = address % B) by a two-word shifter into destination words; the destination
// (ACT or WBUF, both 16-byte aligned, B divides 16) starts on a word, the last word is written with byte enables.
// STORE: ACT words are read (one cycle latency), shifted to the DDR phase and written with WSTRB covering exactly
// the row's bytes (vitaccel_axi_wr); the row is finished when its last write response has arrived.
// IM2COL: the C*H*W image bytes are read as one contiguous AXI stream and scattered one byte per clock to
// dst + (gy*GW + gx)*dst_pitch + (c*P + py)*P + px as pixel - 128 (pixel ^ 0x80), with incrementally kept
// addresses (golden.ops.patchify_u8 order). One byte per clock is a first, correct version: a wider scatter
// (P consecutive pixels of an image row land on P consecutive ACT bytes) is the next step.
module vitaccel_dma #(
    parameter int ADDR_W     = 40,
    parameter int DATA_W     = 128,
    parameter int ACT_BYTES  = 4096,
    parameter int WBUF_BYTES = 4096,
    localparam int B      = DATA_W / 8,
    localparam int BSH    = $clog2(B),
    localparam int ACT_AW = ((ACT_BYTES + B - 1) / B > 1) ? $clog2((ACT_BYTES + B - 1) / B) : 1
) (
    input  logic                clk,
    input  logic                rst_n,
    // instruction + context
    input  logic [255:0]        instr,
    input  logic [31:0]         image_bytes,
    input  logic [31:0]         input_bytes,
    input  logic [31:0]         output_bytes,
    input  logic [63:0]         image_addr,
    input  logic [63:0]         input_addr,
    input  logic [63:0]         output_addr,
    input  logic [1:0]          wbuf_full,
    output logic [7:0]          chk_code,
    input  logic                start,
    output logic                busy,
    output logic                done,        // one-cycle pulse when the instruction has finished
    // AXI read master command / data (vitaccel_axi_rd)
    output logic                rd_cmd_valid,
    input  logic                rd_cmd_ready,
    output logic [ADDR_W-1:0]   rd_cmd_addr,
    output logic [31:0]         rd_cmd_beats,
    output logic                rd_ready,
    input  logic                rd_valid,
    input  logic [DATA_W-1:0]   rd_data,
    input  logic                rd_last,
    // AXI write master command / data (vitaccel_axi_wr)
    output logic                wr_cmd_valid,
    input  logic                wr_cmd_ready,
    output logic [ADDR_W-1:0]   wr_cmd_addr,
    output logic [31:0]         wr_cmd_beats,
    output logic                wr_in_valid,
    input  logic                wr_in_ready,
    output logic [DATA_W-1:0]   wr_in_data,
    output logic [B-1:0]        wr_in_strb,
    input  logic                wr_busy,
    // on-chip memories
    output logic                mem_wr_act,  // write ACT
    output logic                mem_wr_wb,   // write WBUF half mem_wr_half
    output logic                mem_wr_half,
    output logic [31:0]         mem_wr_word, // word address
    output logic [DATA_W-1:0]   mem_wr_data,
    output logic [B-1:0]        mem_wr_be,
    output logic                act_rd_en,
    output logic [ACT_AW-1:0]   act_rd_addr,
    input  logic [DATA_W-1:0]   act_rd_data
);
    localparam logic [7:0] E_NONE  = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_FIELD = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_RANGE = 8'(vitaccel_isa_pkg::ERR_ADDR_RANGE);
    localparam logic [7:0] E_OVER  = 8'(vitaccel_isa_pkg::ERR_BUF_OVERFLOW);
    localparam logic [7:0] E_WBUF  = 8'(vitaccel_isa_pkg::ERR_WBUF_STATE);

    // ---------------- fields (LOAD and STORE share the positions) ----------------
    logic [7:0]  f_op;
    logic        f_cond, f_wbuf;
    logic [1:0]  f_base, f_space;
    logic [31:0] f_off, f_mem, f_rb, f_stride;
    logic [15:0] f_rows, f_pitch;
    logic        is_store, is_im2col;
    logic [15:0] i_h, i_w, i_pitch;
    logic [7:0]  i_c, i_p;
    assign f_op     = instr[7:0];
    assign f_cond   = instr[vitaccel_isa_pkg::F_LOAD_COND_LO];
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

    logic [63:0] src_size;
    logic [7:0]  c_src, c_dst_wb, c_dst_act, c_st_src, c_st_dst, c_im_dst;
    logic [15:0] i_gh, i_gw, i_ph;   // patch grid, patch as a divisor (1 when zero: the check fails anyway)
    logic        i_bad;
    logic [63:0] i_n;                // image bytes C*H*W
    logic [31:0] i_rows, i_rb;       // patch rows (GH*GW), bytes per patch row (C*P*P)
    always_comb begin
        i_ph   = (i_p == 8'd0) ? 16'd1 : 16'(i_p);
        i_gh   = i_h / i_ph;
        i_gw   = i_w / i_ph;
        i_bad  = i_c == 8'd0 || i_h == 16'd0 || i_w == 16'd0 || i_p == 8'd0 || (i_h % i_ph) != 16'd0
                 || (i_w % i_ph) != 16'd0;
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
            if (f_cond)                                      chk_code = E_FIELD;  // queue used before any ROUTE
            else if (f_base == 2'd3)                         chk_code = E_FIELD;
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
    typedef enum logic [3:0] {D_IDLE, D_LROW, D_LDATA, D_LFLUSH, D_SROW, D_SRD, D_SRDW, D_SPUSH, D_SWAIT, D_NEXT,
                              D_IMG, D_IBYTE} dstate_t;
    dstate_t st;
    logic              st_store, st_wb, st_half;
    logic [15:0]       rows_left;
    logic [31:0]       rb, stride, pitch;
    logic [63:0]       ddr_base, ddr_row;    // region base address, offset of the current row in the region
    logic [31:0]       mem_row;              // on-chip byte address of the current row
    logic [63:0]       row_addr;
    logic [BSH-1:0]    phase;                // DDR address % B of the current row
    logic [31:0]       nbeats, nwords, beat;
    logic [DATA_W-1:0] prev, cur;
    logic [B-1:0]      last_be;
    logic [BSH:0]      last_n, end_last;

    assign row_addr = ddr_base + ddr_row;
    assign busy     = (st != D_IDLE);

    // IM2COL scatter state: byte position (ch, gy, py, gx, px) in the image, ACT address pieces
    logic [7:0]        m_p, m_px, m_py, m_ch;
    logic [15:0]       m_gw, m_gh, m_gx, m_gy;
    logic [31:0]       m_pp, m_gwp, m_rowb_gy, m_rowb, m_col_ch, m_col_py, m_addr;
    logic [63:0]       m_left;
    logic [DATA_W-1:0] m_buf;
    logic              m_have;
    logic [BSH-1:0]    m_k;
    logic [7:0]        m_byte;
    assign m_addr   = m_rowb + m_col_ch + m_col_py + 32'(m_px);
    assign m_byte   = m_buf[8*m_k +: 8] ^ 8'h80;
    assign rd_ready = (st == D_IBYTE) ? !m_have : 1'b1;

    // bytes of the last on-chip word of a row, bytes used in the last DDR beat of a row
    assign last_n   = (BSH+1)'(((rb - 32'd1) & 32'(B - 1)) + 32'd1);
    assign end_last = (BSH+1)'(((32'(phase) + rb - 32'd1) & 32'(B - 1)) + 32'd1);
    always_comb begin
        for (int i = 0; i < B; i++) last_be[i] = ((BSH+1)'(i) < last_n);
    end

    // LOAD realignment: destination word j = bytes [s + jB, s + (j+1)B) of the aligned source words
    /* verilator lint_off UNUSEDSIGNAL */  // the upper word of each shifted pair is dropped
    logic [2*DATA_W-1:0] ld_pair, st_pair;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [DATA_W-1:0]   ld_word, st_word;
    assign ld_pair = {rd_data, prev} >> (8 * 32'(phase));
    assign ld_word = ld_pair[DATA_W-1:0];
    // STORE: DDR beat i byte k = row byte iB + k - s
    assign st_pair = {cur, prev} >> (8 * (32'(B) - 32'(phase)));
    assign st_word = st_pair[DATA_W-1:0];

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            st           <= D_IDLE;
            done         <= 1'b0;
            rd_cmd_valid <= 1'b0;
            wr_cmd_valid <= 1'b0;
            wr_in_valid  <= 1'b0;
            mem_wr_act   <= 1'b0;
            mem_wr_wb    <= 1'b0;
            act_rd_en    <= 1'b0;
        end else begin
            done       <= 1'b0;
            mem_wr_act <= 1'b0;
            mem_wr_wb  <= 1'b0;
            act_rd_en  <= 1'b0;
            if (rd_cmd_valid && rd_cmd_ready) rd_cmd_valid <= 1'b0;
            if (wr_cmd_valid && wr_cmd_ready) wr_cmd_valid <= 1'b0;
            case (st)
                D_IDLE: if (start) begin
                    st_store  <= is_store;
                    st_wb     <= !is_store && f_space == 2'(vitaccel_isa_pkg::SPACE_WBUF);
                    st_half   <= f_wbuf;
                    rows_left <= f_rows;
                    rb        <= f_rb;
                    stride    <= f_stride;
                    pitch     <= is_im2col ? 32'(i_pitch) : 32'(f_pitch);
                    ddr_row   <= 64'(f_off);
                    mem_row   <= f_mem;
                    case (f_base)
                        2'd0:    ddr_base <= image_addr;
                        2'd1:    ddr_base <= input_addr;
                        default: ddr_base <= output_addr;
                    endcase
                    // IM2COL
                    m_p      <= i_p;
                    m_pp     <= 32'(i_p) * 32'(i_p);
                    m_gw     <= i_gw;
                    m_gh     <= i_gh;
                    m_gwp    <= 32'(i_gw) * 32'(i_pitch);
                    m_left   <= i_n;
                    m_rowb_gy <= f_mem;
                    m_rowb   <= f_mem;
                    {m_ch, m_py, m_px, m_gx, m_gy} <= '0;
                    m_col_ch <= '0;
                    m_col_py <= '0;
                    m_have   <= 1'b0;
                    st <= is_im2col ? D_IMG : is_store ? D_SROW : D_LROW;
                end
                // ---- IM2COL ----
                D_IMG: begin
                    m_k          <= row_addr[BSH-1:0];
                    rd_cmd_valid <= 1'b1;
                    rd_cmd_addr  <= ADDR_W'(row_addr & ~64'(B - 1));
                    rd_cmd_beats <= 32'((64'(row_addr[BSH-1:0]) + m_left + 64'(B - 1)) >> BSH);
                    st           <= D_IBYTE;
                end
                D_IBYTE: begin
                    if (rd_valid && rd_ready && !rd_cmd_valid) begin
                        m_buf  <= rd_data;
                        m_have <= 1'b1;
                    end
                    if (m_have) begin
                        mem_wr_act  <= 1'b1;
                        mem_wr_word <= m_addr >> BSH;
                        mem_wr_data <= {B{m_byte}};
                        mem_wr_be   <= B'(1) << m_addr[BSH-1:0];
                        m_k         <= m_k + BSH'(1);
                        if (m_k == BSH'(B - 1)) m_have <= 1'b0;
                        m_left      <= m_left - 64'd1;
                        if (m_left == 64'd1) begin
                            done <= 1'b1;
                            st   <= D_IDLE;
                        end
                        // next image byte: px fastest, then gx, py, gy, ch (C, H, W order)
                        if (m_px != m_p - 8'd1) begin
                            m_px <= m_px + 8'd1;
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
                // ---- LOAD ----
                D_LROW: begin
                    phase        <= row_addr[BSH-1:0];
                    nbeats       <= (32'(row_addr[BSH-1:0]) + rb + 32'(B - 1)) >> BSH;
                    nwords       <= (rb + 32'(B - 1)) >> BSH;
                    beat         <= '0;
                    rd_cmd_valid <= 1'b1;
                    rd_cmd_addr  <= ADDR_W'(row_addr & ~64'(B - 1));
                    rd_cmd_beats <= (32'(row_addr[BSH-1:0]) + rb + 32'(B - 1)) >> BSH;
                    st           <= D_LDATA;
                end
                D_LDATA: if (rd_valid && !rd_cmd_valid) begin
                    prev <= rd_data;
                    beat <= beat + 32'd1;
                    if (beat != 32'd0) begin
                        mem_wr_act  <= !st_wb;
                        mem_wr_wb   <= st_wb;
                        mem_wr_half <= st_half;
                        mem_wr_word <= (mem_row >> BSH) + beat - 32'd1;
                        mem_wr_data <= ld_word;
                        mem_wr_be   <= (beat == nwords) ? last_be : '1;
                    end
                    if (rd_last) st <= (nwords == nbeats) ? D_LFLUSH : D_NEXT;
                end
                D_LFLUSH: begin
                    mem_wr_act  <= !st_wb;
                    mem_wr_wb   <= st_wb;
                    mem_wr_half <= st_half;
                    mem_wr_word <= (mem_row >> BSH) + nwords - 32'd1;
                    mem_wr_data <= DATA_W'(({{DATA_W{1'b0}}, prev}) >> (8 * 32'(phase)));
                    mem_wr_be   <= last_be;
                    st          <= D_NEXT;
                end
                // ---- STORE ----
                D_SROW: begin
                    phase        <= row_addr[BSH-1:0];
                    nbeats       <= (32'(row_addr[BSH-1:0]) + rb + 32'(B - 1)) >> BSH;
                    nwords       <= (rb + 32'(B - 1)) >> BSH;
                    beat         <= '0;
                    prev         <= '0;
                    wr_cmd_valid <= 1'b1;
                    wr_cmd_addr  <= ADDR_W'(row_addr & ~64'(B - 1));
                    wr_cmd_beats <= (32'(row_addr[BSH-1:0]) + rb + 32'(B - 1)) >> BSH;
                    st           <= D_SRD;
                end
                D_SRD: begin
                    act_rd_en   <= 1'b1;
                    act_rd_addr <= ACT_AW'((mem_row >> BSH) + beat);
                    st          <= D_SRDW;
                end
                D_SRDW: if (!act_rd_en) begin
                    cur <= (beat < nwords) ? act_rd_data : '0;
                    st  <= D_SPUSH;
                end
                D_SPUSH: begin
                    if (!wr_in_valid) begin
                        wr_in_valid <= 1'b1;
                        wr_in_data  <= st_word;
                        for (int k = 0; k < B; k++) begin
                            wr_in_strb[k] <= (beat != 32'd0 || BSH'(k) >= phase)
                                             && (beat != nbeats - 32'd1 || (BSH+1)'(k) < end_last);
                        end
                    end else if (wr_in_ready) begin
                        wr_in_valid <= 1'b0;
                        prev        <= cur;
                        beat        <= beat + 32'd1;
                        st          <= (beat == nbeats - 32'd1) ? D_SWAIT : D_SRD;
                    end
                end
                D_SWAIT: if (!wr_busy && !wr_cmd_valid) st <= D_NEXT;
                // ---- next row ----
                D_NEXT: begin
                    rows_left <= rows_left - 16'd1;
                    ddr_row   <= ddr_row + 64'(stride);
                    mem_row   <= mem_row + pitch;
                    if (rows_left == 16'd1) begin
                        done <= 1'b1;
                        st   <= D_IDLE;
                    end else begin
                        st <= st_store ? D_SROW : D_LROW;
                    end
                end
                default: st <= D_IDLE;
            endcase
        end
    end
endmodule
