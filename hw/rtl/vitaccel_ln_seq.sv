// vitaccel_ln_seq: the LAYERNORM instruction (docs/isa.md §3) on vitaccel_layernorm, engine interface of
// vitaccel_top (ACT windows of W = UA_ACT_WORD_COLS * COLS bytes, weight-buffer windows of COLS bytes).
//
// Checks in the order of IsaSimulator._layernorm. Decode time (chk_code, combinational): cols > UA_LN_MAX_COLS
// -> UNSUPPORTED; the source span (rows x 2 cols bytes, src_pitch, ACT_ALIGN: BAD_FIELD / ADDR_RANGE /
// BUF_OVERFLOW); weight half `wbuf` not FULL -> WBUF_STATE; the `layernorm` record span in the half (WBUF_ALIGN).
// Run time, before anything is written: out_shift (read from the record) > MAX_SHIFT -> BAD_FIELD, then the
// destination span (rows x cols bytes, dst_pitch).
//
// Record layout (vitaccel.isa.record_layout "layernorm", REC_LAYERNORM_* of vitaccel_isa_pkg; arrays in the
// order eps, out_shift, gamma, beta, each starting WBUF_ALIGN aligned): eps int64, out_shift uint8, gamma
// int16[cols], beta int32[cols].
//
// Schedule after start: 2 record-header reads (eps, out_shift) and the check; then, concurrently,
//   - gamma / beta: one weight-buffer window per clock, GC = min(L, COLS/2) gammas or BC = COLS/4 betas each,
//     written through the unit's prm_* port (pass 2 is held until the last one is written);
//   - source rows: one ACT window read per clock, L = LANES int16 lanes per beat (AcceleratorConfig.ln_lanes: a
//     power of two <= COLS; SUB = COLS / L beats per window), lanes past `cols` zeroed; rows back to back;
//   - results: one beat (L int8) per clock from the unit, written as a byte-enabled ACT window.
// The source must not overlap the destination rows still to be read (the ISA simulator reads all rows first;
// the unit reads ahead of its writes, so an in-place LAYERNORM with dst = src, dst_pitch = src_pitch works).
module vitaccel_ln_seq #(
    parameter int ACT_BYTES  = 4096,
    parameter int WBUF_BYTES = 4096,
    parameter int COLS       = 16,
    parameter int LANES      = 4,      // AcceleratorConfig.ln_lanes: int16 channels per clock, power of two <= COLS
    parameter int MAX_COLS   = 64,     // buffer size (gamma / beta, beat FIFO); the contract limit is UA_LN_MAX_COLS
    localparam int W  = int'(vitaccel_isa_pkg::UA_ACT_WORD_COLS) * COLS,   // ACT window bytes
    localparam int WB = COLS                                               // weight-buffer window bytes
) (
    input  logic              clk,
    input  logic              rst_n,
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [255:0]      instr,       // held from dispatch until done (only the LAYERNORM fields are read)
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [1:0]        wbuf_full,
    output logic [7:0]        chk_code,
    input  logic              start,
    output logic              busy,
    output logic              done,
    output logic [7:0]        err_code,
    output logic              act_rd_en,
    output logic [31:0]       act_rd_addr,
    input  logic [W*8-1:0]    act_rd_data,
    output logic              act_wr_en,
    output logic [31:0]       act_wr_addr,
    output logic [W*8-1:0]    act_wr_data,
    output logic [W-1:0]      act_wr_be,
    output logic              wb_rd_en,
    output logic              wb_rd_half,
    output logic [31:0]       wb_rd_addr,
    input  logic [COLS*8-1:0] wb_rd_data
);
    localparam int L    = LANES;
    localparam int SUB  = COLS / L;                          // beats per ACT window (W bytes = COLS int16)
    localparam int AA   = int'(vitaccel_isa_pkg::ACT_ALIGN);
    localparam int WA   = int'(vitaccel_isa_pkg::WBUF_ALIGN);
    localparam int EPS_B = int'(vitaccel_isa_pkg::REC_LAYERNORM_EPS_ES * vitaccel_isa_pkg::REC_LAYERNORM_EPS_FIXED);
    localparam int OS_B  = int'(vitaccel_isa_pkg::REC_LAYERNORM_OUT_SHIFT_ES
                                * vitaccel_isa_pkg::REC_LAYERNORM_OUT_SHIFT_FIXED);
    localparam int GES  = int'(vitaccel_isa_pkg::REC_LAYERNORM_GAMMA_ES);   // 2
    localparam int BES  = int'(vitaccel_isa_pkg::REC_LAYERNORM_BETA_ES);    // 4
    localparam int O_OS = ((EPS_B + WA - 1) / WA) * WA;                     // out_shift offset
    localparam int O_G  = O_OS + ((OS_B + WA - 1) / WA) * WA;               // gamma offset
    localparam int GC   = (L < WB / GES) ? L : WB / GES;                    // gammas per window read
    localparam int BC   = (L < WB / BES) ? L : WB / BES;                    // betas per window read
    localparam int MAXC = int'(vitaccel_isa_pkg::UA_LN_MAX_COLS);

    localparam logic [7:0] E_NONE   = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_FIELD  = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_RANGE  = 8'(vitaccel_isa_pkg::ERR_ADDR_RANGE);
    localparam logic [7:0] E_OVER   = 8'(vitaccel_isa_pkg::ERR_BUF_OVERFLOW);
    localparam logic [7:0] E_UNSUPP = 8'(vitaccel_isa_pkg::ERR_UNSUPPORTED);
    localparam logic [7:0] E_WBUF   = 8'(vitaccel_isa_pkg::ERR_WBUF_STATE);

    // ---------------- instruction fields ----------------
    logic [vitaccel_isa_pkg::F_LAYERNORM_SRC_W-1:0]       f_src;
    logic [vitaccel_isa_pkg::F_LAYERNORM_DST_W-1:0]       f_dst;
    logic [vitaccel_isa_pkg::F_LAYERNORM_ROWS_W-1:0]      f_rows;
    logic [vitaccel_isa_pkg::F_LAYERNORM_COLS_W-1:0]      f_cols;
    logic [vitaccel_isa_pkg::F_LAYERNORM_SRC_PITCH_W-1:0] f_spitch;
    logic [vitaccel_isa_pkg::F_LAYERNORM_DST_PITCH_W-1:0] f_dpitch;
    logic [vitaccel_isa_pkg::F_LAYERNORM_PARAM_W-1:0]     f_param;
    logic [vitaccel_isa_pkg::F_LAYERNORM_WBUF_W-1:0]      f_wbuf;
    assign f_src    = instr[vitaccel_isa_pkg::F_LAYERNORM_SRC_LO +: vitaccel_isa_pkg::F_LAYERNORM_SRC_W];
    assign f_dst    = instr[vitaccel_isa_pkg::F_LAYERNORM_DST_LO +: vitaccel_isa_pkg::F_LAYERNORM_DST_W];
    assign f_rows   = instr[vitaccel_isa_pkg::F_LAYERNORM_ROWS_LO +: vitaccel_isa_pkg::F_LAYERNORM_ROWS_W];
    assign f_cols   = instr[vitaccel_isa_pkg::F_LAYERNORM_COLS_LO +: vitaccel_isa_pkg::F_LAYERNORM_COLS_W];
    assign f_spitch = instr[vitaccel_isa_pkg::F_LAYERNORM_SRC_PITCH_LO +: vitaccel_isa_pkg::F_LAYERNORM_SRC_PITCH_W];
    assign f_dpitch = instr[vitaccel_isa_pkg::F_LAYERNORM_DST_PITCH_LO +: vitaccel_isa_pkg::F_LAYERNORM_DST_PITCH_W];
    assign f_param  = instr[vitaccel_isa_pkg::F_LAYERNORM_PARAM_LO +: vitaccel_isa_pkg::F_LAYERNORM_PARAM_W];
    assign f_wbuf   = instr[vitaccel_isa_pkg::F_LAYERNORM_WBUF_LO +: vitaccel_isa_pkg::F_LAYERNORM_WBUF_W];

    logic [31:0] cols, rows, spitch, dpitch;
    assign cols   = 32'(f_cols);
    assign rows   = 32'(f_rows);
    assign spitch = 32'(f_spitch);
    assign dpitch = 32'(f_dpitch);

    // IsaSimulator._span: (addr, rows, row_bytes, pitch) against a memory of `size` bytes, alignment `align`
    // (rows and pitches are 16-bit fields: (rows - 1) * pitch < 2^32, the end address < 2^34)
    function automatic logic [7:0] span_chk(input logic [31:0] addr, input logic [31:0] nrows,
                                            input logic [31:0] rbytes, input logic [31:0] pitch,
                                            input logic [33:0] size, input logic [31:0] align);
        logic [34:0] last;
        last = 35'(addr) + 35'(32'(16'(nrows - 32'd1)) * 32'(16'(pitch))) + 35'(rbytes);
        if (nrows == 32'd0 || rbytes == 32'd0) span_chk = E_FIELD;
        else if (nrows > 32'd1 && pitch < rbytes) span_chk = E_FIELD;
        else if ((addr % align) != 32'd0 || (nrows > 32'd1 && (pitch % align) != 32'd0)) span_chk = E_FIELD;
        else if (34'(addr) >= size) span_chk = E_RANGE;
        else if (last > 35'(size)) span_chk = E_OVER;
        else span_chk = E_NONE;
    endfunction

    logic [31:0] o_b, rec_bytes;   // beta offset, record bytes
    assign o_b       = 32'(O_G) + ((GES * cols + 32'(WA - 1)) / 32'(WA)) * 32'(WA);
    assign rec_bytes = o_b + ((BES * cols + 32'(WA - 1)) / 32'(WA)) * 32'(WA);

    logic [7:0] src_chk, rec_chk, dst_chk;
    assign src_chk = span_chk(f_src, rows, 32'(2) * cols, spitch, 34'(ACT_BYTES), 32'(AA));
    assign rec_chk = span_chk(f_param, 32'd1, rec_bytes, 32'd0, 34'(WBUF_BYTES), 32'(WA));
    assign dst_chk = span_chk(f_dst, rows, cols, dpitch, 34'(ACT_BYTES), 32'(AA));

    always_comb begin
        if (cols > 32'(MAXC))            chk_code = E_UNSUPP;
        else if (src_chk != E_NONE)      chk_code = src_chk;
        else if (!wbuf_full[f_wbuf])     chk_code = E_WBUF;
        else if (rec_chk != E_NONE)      chk_code = rec_chk;
        else                             chk_code = E_NONE;
    end

    // beats per row and valid lanes of the last beat
    logic [15:0] nbeats, lastn;
    assign nbeats = 16'((cols + 32'(L - 1)) / 32'(L));
    assign lastn  = 16'(cols - (32'(nbeats) - 32'd1) * 32'(L));

    // ---------------- control ----------------
    typedef enum logic [2:0] {S_IDLE, S_HDR0, S_HDR1, S_HDR2, S_RUN, S_FIN} state_t;
    state_t state;
    logic [63:0] eps_r;
    logic [5:0]  osh_r;
    logic [7:0]  os_byte;
    assign os_byte = 8'(wb_rd_data[OS_B*8-1:0]);

    assign busy = (state != S_IDLE);
    assign done = (state == S_FIN);

    // unit
    logic                 u_in_valid, u_in_ready, u_out_valid, u_out_last, u_hold;
    logic [L*16-1:0]      u_in_x;
    logic [L*8-1:0]       u_out_y;
    logic [15:0]          u_prm_addr;
    logic [L-1:0]         u_g_we, u_b_we;
    logic [L*16-1:0]      u_gamma;
    logic [L*32-1:0]      u_beta;

    vitaccel_layernorm #(.LANES(L), .MAX_COLS(MAX_COLS)) u_ln (
        .clk, .rst_n, .cfg_cols(f_cols), .cfg_eps(eps_r), .cfg_out_shift(osh_r),
        .prm_addr(u_prm_addr), .prm_g_we(u_g_we), .prm_b_we(u_b_we), .prm_gamma(u_gamma), .prm_beta(u_beta),
        .in_valid(u_in_valid), .in_ready(u_in_ready), .in_x(u_in_x),
        .hold(u_hold), .out_valid(u_out_valid), .out_ready(1'b1), .out_y(u_out_y), .out_last(u_out_last)
    );

    // ---------------- gamma / beta loader ----------------
    logic [1:0]  pl_phase;      // 0 gamma, 1 beta, 2 loaded
    logic [31:0] pl_ch, pl_win, pl_sub, pl_lane, pl_beat;
    logic        pl_issue;
    logic        m_v, m_beta;
    logic [31:0] m_sub, m_lane, m_beat, m_nval;
    logic [31:0] pl_step, pl_es;
    assign pl_step  = (pl_phase == 2'd0) ? 32'(GC) : 32'(BC);
    assign pl_es    = (pl_phase == 2'd0) ? 32'(GES) : 32'(BES);
    assign pl_issue = (state == S_RUN) && (pl_phase != 2'd2);
    assign u_hold   = (pl_phase != 2'd2) || m_v;

    // ---------------- source reader ----------------
    logic [31:0] rd_row, rd_beat, rd_sub, rd_rowaddr, rd_win;
    logic        rd_done, rd_issue, rpend, rm_last;
    logic [31:0] rm_sub;
    logic [L*16-1:0] sk_mem [4];
    logic [1:0]  sk_wp, sk_rp;
    logic [2:0]  sk_cnt;
    assign rd_issue = (state == S_RUN) && !rd_done && (32'(sk_cnt) + 32'(rpend) < 32'd3);

    // ---------------- result writer ----------------
    logic [31:0] wr_row, wr_beat, wr_rowaddr, wr_off;
    logic        wr_fire;
    assign wr_fire = (state == S_RUN) && u_out_valid;

    // weight-buffer / ACT read ports
    always_comb begin
        wb_rd_half = f_wbuf;
        wb_rd_en   = 1'b0;
        wb_rd_addr = '0;
        if (state == S_HDR0) begin
            wb_rd_en   = 1'b1;
            wb_rd_addr = f_param;
        end else if (state == S_HDR1) begin
            wb_rd_en   = 1'b1;
            wb_rd_addr = f_param + 32'(O_OS);
        end else if (pl_issue) begin
            wb_rd_en   = 1'b1;
            wb_rd_addr = pl_win;
        end
        act_rd_en   = rd_issue;
        act_rd_addr = rd_win;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            state    <= S_IDLE;
            err_code <= E_NONE;
            pl_phase <= 2'd2;
            m_v      <= 1'b0;
            rd_done  <= 1'b1;
            rpend    <= 1'b0;
        end else begin
            m_v   <= 1'b0;
            rpend <= 1'b0;
            case (state)
                S_IDLE: if (start) begin
                    state    <= S_HDR0;
                    err_code <= E_NONE;
                end
                S_HDR0: state <= S_HDR1;
                S_HDR1: begin
                    eps_r <= 64'(wb_rd_data[EPS_B*8-1:0]);
                    state <= S_HDR2;
                end
                S_HDR2: begin
                    osh_r <= os_byte[5:0];
                    if (32'(os_byte) > 32'(vitaccel_num_pkg::MAX_SHIFT)) begin
                        err_code <= E_FIELD;
                        state    <= S_FIN;
                    end else if (dst_chk != E_NONE) begin
                        err_code <= dst_chk;
                        state    <= S_FIN;
                    end else begin
                        state    <= S_RUN;
                        pl_phase <= 2'd0;
                        rd_done  <= 1'b0;
                    end
                    pl_ch      <= '0;
                    pl_win     <= f_param + 32'(O_G);
                    pl_sub     <= '0;
                    pl_lane    <= '0;
                    pl_beat    <= '0;
                    rd_row     <= '0;
                    rd_beat    <= '0;
                    rd_sub     <= '0;
                    rd_rowaddr <= f_src;
                    rd_win     <= f_src;
                    wr_row     <= '0;
                    wr_beat    <= '0;
                    wr_rowaddr <= f_dst;
                    wr_off     <= '0;
                end
                S_RUN: begin
                    // gamma / beta chunk reads
                    if (pl_issue) begin
                        m_v    <= 1'b1;
                        m_beta <= (pl_phase == 2'd1);
                        m_sub  <= pl_sub;
                        m_lane <= pl_lane;
                        m_beat <= pl_beat;
                        m_nval <= (cols - pl_ch < pl_step) ? cols - pl_ch : pl_step;
                        if (pl_ch + pl_step >= cols) begin
                            pl_phase <= pl_phase + 2'd1;
                            pl_ch    <= '0;
                            pl_win   <= f_param + o_b;
                            pl_sub   <= '0;
                            pl_lane  <= '0;
                            pl_beat  <= '0;
                        end else begin
                            pl_ch <= pl_ch + pl_step;
                            if (pl_sub + pl_step * pl_es == 32'(WB)) begin
                                pl_sub <= '0;
                                pl_win <= pl_win + 32'(WB);
                            end else begin
                                pl_sub <= pl_sub + pl_step * pl_es;
                            end
                            if (pl_lane + pl_step == 32'(L)) begin
                                pl_lane <= '0;
                                pl_beat <= pl_beat + 32'd1;
                            end else begin
                                pl_lane <= pl_lane + pl_step;
                            end
                        end
                    end
                    // source window reads
                    if (rd_issue) begin
                        rpend   <= 1'b1;
                        rm_sub  <= rd_sub;
                        rm_last <= (rd_beat == 32'(nbeats) - 32'd1);
                        if (rd_beat == 32'(nbeats) - 32'd1) begin
                            rd_beat <= '0;
                            rd_sub  <= '0;
                            if (rd_row == rows - 32'd1) begin
                                rd_done <= 1'b1;
                            end else begin
                                rd_row     <= rd_row + 32'd1;
                                rd_rowaddr <= rd_rowaddr + spitch;
                                rd_win     <= rd_rowaddr + spitch;
                            end
                        end else begin
                            rd_beat <= rd_beat + 32'd1;
                            if (rd_sub == 32'(SUB - 1)) begin
                                rd_sub <= '0;
                                rd_win <= rd_win + 32'(W);
                            end else begin
                                rd_sub <= rd_sub + 32'd1;
                            end
                        end
                    end
                    // results
                    if (wr_fire) begin
                        if (wr_beat == 32'(nbeats) - 32'd1) begin
                            wr_beat <= '0;
                            wr_off  <= '0;
                            if (wr_row == rows - 32'd1) begin
                                state <= S_FIN;
                            end else begin
                                wr_row     <= wr_row + 32'd1;
                                wr_rowaddr <= wr_rowaddr + dpitch;
                            end
                        end else begin
                            wr_beat <= wr_beat + 32'd1;
                            wr_off  <= wr_off + 32'(L);
                        end
                    end
                end
                S_FIN: state <= S_IDLE;
                default: state <= S_IDLE;
            endcase
        end
    end

    // parameter write (the cycle after its window read)
    always_comb begin
        logic [COLS*8-1:0] win;
        logic [L-1:0]      mask;
        win        = wb_rd_data >> (m_sub * 8);
        mask       = '0;
        for (int i = 0; i < L; i++) if (i < GC && 32'(i) < m_nval) mask[i] = 1'b1;
        u_gamma    = (L*16)'((L*16)'(win[GC*16-1:0]) << (m_lane * 16));
        u_g_we     = (m_v && !m_beta) ? L'(mask << m_lane) : '0;
        mask       = '0;
        for (int i = 0; i < L; i++) if (i < BC && 32'(i) < m_nval) mask[i] = 1'b1;
        u_beta     = (L*32)'((L*32)'(win[BC*32-1:0]) << (m_lane * 32));
        u_b_we     = (m_v && m_beta) ? L'(mask << m_lane) : '0;
        u_prm_addr = 16'(m_beat);
    end

    // source data -> skid FIFO -> unit
    logic [L*16-1:0] rx;
    always_comb begin
        rx = (L*16)'(act_rd_data >> (rm_sub * 32'(L * 16)));
        if (rm_last)
            for (int i = 0; i < L; i++) if (32'(i) >= 32'(lastn)) rx[i*16 +: 16] = '0;
    end
    assign u_in_valid = (sk_cnt != 3'd0);
    assign u_in_x     = sk_mem[sk_rp];
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            sk_wp  <= '0;
            sk_rp  <= '0;
            sk_cnt <= '0;
        end else begin
            if (rpend) begin
                sk_mem[sk_wp] <= rx;
                sk_wp         <= sk_wp + 2'd1;
            end
            if (u_in_valid && u_in_ready) sk_rp <= sk_rp + 2'd1;
            sk_cnt <= sk_cnt + 3'(rpend) - 3'(u_in_valid && u_in_ready);
        end
    end

    // results -> byte-enabled ACT window (the row base is ACT_ALIGN aligned; W >= L + AA - 1)
    always_comb begin
        logic [W-1:0]  be;
        logic [31:0]   boff;
        boff = wr_off % 32'(AA);
        be   = '0;
        for (int i = 0; i < L; i++)
            if (wr_beat != 32'(nbeats) - 32'd1 || 32'(i) < 32'(lastn)) be[i] = 1'b1;
        act_wr_en   = wr_fire;
        act_wr_addr = wr_rowaddr + wr_off - boff;
        act_wr_data = (W*8)'((W*8)'(u_out_y) << (boff * 8));
        act_wr_be   = be << boff;
    end

    /* verilator lint_off UNUSEDSIGNAL */
    logic unused;
    assign unused = u_out_last ^ (|m_beat[31:16]);
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
