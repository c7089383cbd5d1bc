// vitaccel_route_seq: the ROUTE engine (docs/isa.md §3; bit-exact with vitaccel.sim.machine.IsaSimulator._route)
// and the owner of the expert queues (/work/spec/engine_spec.md "Expert queues").
//
// ROUTE: int32 gate logits (tokens T x experts E, row t at src + t*src_pitch) and the `route` record at `param`
// of weight half `wbuf` (mult uint16[E], shift uint8[E], each array 16-byte aligned):
//   z = sat24(round_shift(logit * mult[e], shift[e])), g = uint16 softmax of z over the experts, top-k by z (lower
//   expert wins ties), queue[e] = the tokens whose top-k holds e, increasing, each with g[token][e]
//   (vitaccel_moe_router, LANES = UA_ROUTE_LANES tokens per group, experts serial). A ROUTE replaces all queues.
//
// chk_code (decode time, the simulator's order): tokens < 1, experts < 1, topk outside 1..experts (BAD_FIELD);
// tokens > MAX_TOKENS or experts > MAX_EXPERTS, then topk > MAX_TOPK (UNSUPPORTED); the logits span in ACT
// (T rows x 4E bytes, src_pitch, 16-byte aligned: BAD_FIELD / ADDR_RANGE / BUF_OVERFLOW as `_span`); half `wbuf`
// not FULL (WBUF_STATE); the record span in the half (BAD_FIELD / ADDR_RANGE / BUF_OVERFLOW). Run time (err_code with
// done): a record shift > MAX_SHIFT (BAD_FIELD), found before the queues change; on any error the queues keep
// their previous contents.
//
// Execution: the record's mult and shift arrays are read (one COLS-byte weight window per clock), the shifts
// checked, the router cleared; then per group of LANES tokens, each token's 4E logit bytes are read as
// ceil(4E / W) ACT windows (one per clock) into a LANES x E transpose buffer, and the E expert beats are fed to
// the router (the next group is read and fed while the router finishes the previous one: two groups in flight,
// one per gate-softmax context). done when the router is idle.
// The transpose buffer (LANES x ceil(4 MAX_EXPERTS / W) windows, 4 x 1024 bits at zcu102) is most of the flip-flops:
// registers written one window per clock and read through one word multiplexer per lane are the fewest LUTs
// (a RAM needs the token row spread over banks and rotated on both sides).
// Cycles, start-sampling edge to the done cycle (done included), for a ROUTE without error (k does not enter):
//   nw = ceil(4E / W), rec = ceil(2E / COLS) + ceil(E / COLS), n_g = min(L, T - L g), L = LANES
//   f_0 = rec + 4 + n_0*nw (first router beat of group 0), end_g = max(f_g + 2E + 23, end_{g-1} + 18),
//   f_g = max(f_{g-1} + E + n_g*nw + 1, end_{g-2} - 2); cycles = end of the last group
// (2E + 23: E router input beats, the softmax tail / division / pass-2 latency, E output beats each writing its
// expert's queue entries at once; 18: the softmax's divider takes one group at a time; - 2: a group's softmax
// context is free two clocks before the group ends; uarch ROUTE_GROUP_TAIL / ROUTE_DIV_INTERVAL / ROUTE_CTX_LEAD).
// A run-time shift error: done at cycle rec + 3.
// Expert queues: q_len (combinational, 0 for q_len_expert >= q_experts), q_rd_token / q_rd_weight the cycle after
// q_rd_en (entry q_rd_index of queue q_rd_expert); q_clear empties them (q_routed = 0, q_experts = 0).
module vitaccel_route_seq #(
    /* verilator lint_off UNUSEDPARAM */
    parameter int ROWS        = 4,      // passed by the top like every engine; not needed here
    /* verilator lint_on UNUSEDPARAM */
    parameter int COLS        = 16,
    parameter int ACT_BYTES   = 4096,
    parameter int WBUF_BYTES  = 4096,
    parameter int MAX_TOKENS  = 256,
    parameter int MAX_EXPERTS = 32,
    parameter int MAX_TOPK    = 4,      // AcceleratorConfig.max_topk: the router's top-k capacity
    localparam int W  = vitaccel_isa_pkg::UA_ACT_WORD_COLS * COLS,
    localparam int WB = COLS
) (
    input  logic              clk,
    input  logic              rst_n,
    input  logic [255:0]      instr,
    input  logic [1:0]        wbuf_full,
    output logic [7:0]        chk_code,
    input  logic              start,
    output logic              busy,
    output logic              done,
    output logic [7:0]        err_code,
    // ACT (only read)
    output logic              act_rd_en,
    output logic [31:0]       act_rd_addr,
    input  logic [W*8-1:0]    act_rd_data,
    output logic              act_wr_en,
    output logic [31:0]       act_wr_addr,
    output logic [W*8-1:0]    act_wr_data,
    output logic [W-1:0]      act_wr_be,
    // weight buffer
    output logic              wb_rd_en,
    output logic              wb_rd_half,
    output logic [31:0]       wb_rd_addr,
    input  logic [COLS*8-1:0] wb_rd_data,
    // expert queues
    input  logic              q_clear,
    output logic              q_routed,
    output logic [7:0]        q_experts,
    input  logic [5:0]        q_len_expert,
    output logic [15:0]       q_len,
    input  logic [5:0]        q_len2_expert,  // a second length port (the dispatcher's `cond` check)
    output logic [15:0]       q_len2,
    input  logic              q_rd_en,
    input  logic [5:0]        q_rd_expert,
    input  logic [15:0]       q_rd_index,
    output logic [15:0]       q_rd_token,
    output logic [15:0]       q_rd_weight
);
    localparam logic [7:0] E_NONE   = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_FIELD  = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_RANGE  = 8'(vitaccel_isa_pkg::ERR_ADDR_RANGE);
    localparam logic [7:0] E_OVER   = 8'(vitaccel_isa_pkg::ERR_BUF_OVERFLOW);
    localparam logic [7:0] E_UNSUPP = 8'(vitaccel_isa_pkg::ERR_UNSUPPORTED);
    localparam logic [7:0] E_WBUF   = 8'(vitaccel_isa_pkg::ERR_WBUF_STATE);
    localparam int LANES = vitaccel_isa_pkg::UA_ROUTE_LANES;
    localparam int TW    = $clog2(MAX_TOKENS);
    localparam int EW    = $clog2(MAX_EXPERTS);
    localparam int LW    = $clog2(LANES);
    localparam int AL    = vitaccel_isa_pkg::ACT_ALIGN;
    localparam int WAL   = vitaccel_isa_pkg::WBUF_ALIGN;
    localparam int NWMAX = (4 * MAX_EXPERTS + W - 1) / W;       // ACT windows per token row (max)
    localparam int NMMAX = (2 * MAX_EXPERTS + WB - 1) / WB;     // weight windows of the mult array (max)
    localparam int NSMAX = (MAX_EXPERTS + WB - 1) / WB;         // weight windows of the shift array (max)
    localparam int GB    = vitaccel_num_pkg::GATE_BITS;

    // ---------------- fields ----------------
    logic [31:0] f_src, f_param;
    logic [15:0] f_pitch, f_tok;
    logic [7:0]  f_exp, f_topk;
    logic        f_wbuf;
    assign f_src   = instr[vitaccel_isa_pkg::F_ROUTE_SRC_LO +: 32];
    assign f_param = instr[vitaccel_isa_pkg::F_ROUTE_PARAM_LO +: 32];
    assign f_pitch = instr[vitaccel_isa_pkg::F_ROUTE_SRC_PITCH_LO +: 16];
    assign f_tok   = instr[vitaccel_isa_pkg::F_ROUTE_TOKENS_LO +: 16];
    assign f_exp   = instr[vitaccel_isa_pkg::F_ROUTE_EXPERTS_LO +: 8];
    assign f_topk  = instr[vitaccel_isa_pkg::F_ROUTE_TOPK_LO +: 8];
    assign f_wbuf  = instr[vitaccel_isa_pkg::F_ROUTE_WBUF_LO];

    // ---------------- decode-time checks ----------------
    logic [63:0] s_end;
    logic [15:0] s_rb;
    logic [31:0] r_so, r_bytes;   // record: shift array offset, total bytes
    logic [7:0]  c_src, c_rec;
    always_comb begin
        s_rb  = {6'd0, f_exp, 2'd0};
        s_end = 64'(f_src) + 64'(f_tok - 16'd1) * 64'(f_pitch) + 64'(s_rb);
        if (f_tok > 16'd1 && f_pitch < s_rb)                                               c_src = E_FIELD;
        else if (32'(f_src) % 32'(AL) != 0 || (f_tok > 16'd1 && 32'(f_pitch) % 32'(AL) != 0)) c_src = E_FIELD;
        else if (64'(f_src) >= 64'(ACT_BYTES))                                            c_src = E_RANGE;
        else if (s_end > 64'(ACT_BYTES))                                                  c_src = E_OVER;
        else                                                                              c_src = E_NONE;
        // route record (vitaccel_isa_pkg::REC_ROUTE_*): mult[E], shift[E], each array WBUF_ALIGN-aligned
        r_so    = (32'(f_exp) * 32'(vitaccel_isa_pkg::REC_ROUTE_MULT_ES) + 32'(WAL - 1)) / 32'(WAL) * 32'(WAL);
        r_bytes = r_so + (32'(f_exp) * 32'(vitaccel_isa_pkg::REC_ROUTE_SHIFT_ES) + 32'(WAL - 1)) / 32'(WAL)
                  * 32'(WAL);
        if (f_param % 32'(WAL) != 0)                              c_rec = E_FIELD;
        else if (64'(f_param) >= 64'(WBUF_BYTES))                  c_rec = E_RANGE;
        else if (64'(f_param) + 64'(r_bytes) > 64'(WBUF_BYTES))    c_rec = E_OVER;
        else                                                       c_rec = E_NONE;
        if (f_tok == 16'd0 || f_exp == 8'd0 || f_topk == 8'd0 || f_topk > f_exp)   chk_code = E_FIELD;
        else if (32'(f_tok) > 32'(MAX_TOKENS) || 32'(f_exp) > 32'(MAX_EXPERTS))    chk_code = E_UNSUPP;
        else if (32'(f_topk) > 32'(MAX_TOPK))                                      chk_code = E_UNSUPP;
        else if (c_src != E_NONE)                                                  chk_code = c_src;
        else if (!wbuf_full[f_wbuf])                                               chk_code = E_WBUF;
        else                                                                       chk_code = c_rec;
    end

    // ---------------- execution ----------------
    typedef enum logic [2:0] {S_IDLE, S_REC, S_RECW, S_CHK, S_READ, S_RLAST, S_FEED, S_WAIT} state_t;
    state_t st;
    logic [31:0] param, so, taddr, waddr;
    logic [15:0] pitch, ntok, t0;
    logic [7:0]  ne, topk, fe;
    logic        half;
    logic [7:0]  ri, nm, nrec;             // record window counter, mult windows, all record windows
    logic [7:0]  rj, nw;                   // ACT window of the token row, windows per row
    logic [LW:0] tl, nl;                   // token lane in the group, tokens in the group
    logic        rc_v, ac_v;               // capture of a record / ACT window this cycle
    logic [7:0]  rc_i, ac_j;
    logic [LW-1:0] ac_l;
    logic [NMMAX*WB*8-1:0] mbuf;
    logic [NSMAX*WB*8-1:0] sbuf;
    logic [NWMAX*W*8-1:0]  lrow [LANES];
    logic        shift_bad;
    logic        r_clear;

    // router
    logic                    r_in_valid, r_in_ready, r_busy, r_ovf;
    logic [LANES*32-1:0]     r_logit;
    logic [15:0]             r_mult;
    logic [5:0]              r_shift;
    logic [LANES-1:0]        r_tok_valid;
    logic [TW:0]             r_qlen, r_qlen2;
    logic [TW-1:0]           r_token;
    logic [GB-1:0]           r_weight;

    always_comb begin
        shift_bad = 1'b0;
        for (int e = 0; e < MAX_EXPERTS; e++) begin
            if (8'(e) < ne && sbuf[8*e +: 8] > 8'(vitaccel_num_pkg::MAX_SHIFT)) shift_bad = 1'b1;
        end
        for (int l = 0; l < LANES; l++) begin
            r_logit[32*l +: 32] = (32'(l) < 32'(nl)) ? lrow[l][32*fe +: 32] : 32'd0;
            r_tok_valid[l]      = 32'(l) < 32'(nl);
        end
        r_mult  = mbuf[16*fe +: 16];
        r_shift = sbuf[8*fe +: 6];
    end

    assign busy        = (st != S_IDLE) || done;
    assign r_in_valid  = (st == S_FEED);
    assign act_rd_en   = (st == S_READ);
    assign act_rd_addr = waddr;
    assign act_wr_en   = 1'b0;
    assign act_wr_addr = '0;
    assign act_wr_data = '0;
    assign act_wr_be   = '0;
    assign wb_rd_en    = (st == S_REC);
    assign wb_rd_half  = half;
    assign wb_rd_addr  = (ri < nm) ? param + 32'(ri) * 32'(WB) : param + so + 32'(ri - nm) * 32'(WB);

    wire r_take = r_in_valid && r_in_ready;

    always_ff @(posedge clk) begin
        rc_v <= 1'b0;
        ac_v <= 1'b0;
        r_clear <= 1'b0;
        if (!rst_n) begin
            st        <= S_IDLE;
            done      <= 1'b0;
            err_code  <= E_NONE;
            q_routed  <= 1'b0;
            q_experts <= '0;
        end else begin
            done <= 1'b0;
            if (q_clear) begin
                q_routed  <= 1'b0;
                q_experts <= '0;
            end
            case (st)
                S_IDLE: if (start) begin
                    param <= f_param;
                    so    <= r_so;
                    half  <= f_wbuf;
                    pitch <= f_pitch;
                    ntok  <= f_tok;
                    ne    <= f_exp;
                    topk  <= f_topk;
                    taddr <= f_src;
                    waddr <= f_src;
                    ri    <= '0;
                    nm    <= 8'((32'(f_exp) * 2 + 32'(WB - 1)) / 32'(WB));
                    nrec  <= 8'((32'(f_exp) * 2 + 32'(WB - 1)) / 32'(WB) + (32'(f_exp) + 32'(WB - 1)) / 32'(WB));
                    nw    <= 8'((32'(f_exp) * 4 + 32'(W - 1)) / 32'(W));
                    err_code <= E_NONE;
                    st    <= S_REC;
                end
                S_REC: begin
                    rc_v <= 1'b1;
                    rc_i <= ri;
                    ri   <= ri + 8'd1;
                    if (ri == nrec - 8'd1) st <= S_RECW;
                end
                S_RECW: st <= S_CHK;
                S_CHK: begin
                    if (shift_bad) begin
                        err_code <= E_FIELD;
                        done     <= 1'b1;
                        st       <= S_IDLE;
                    end else begin
                        r_clear <= 1'b1;
                        t0 <= '0;
                        tl <= '0;
                        rj <= '0;
                        nl <= (ntok > 16'(LANES)) ? (LW + 1)'(LANES) : (LW + 1)'(ntok);
                        st <= S_READ;
                    end
                end
                S_READ: begin
                    ac_v <= 1'b1;
                    ac_l <= tl[LW-1:0];
                    ac_j <= rj;
                    if (rj == nw - 8'd1) begin
                        rj    <= '0;
                        taddr <= taddr + 32'(pitch);
                        waddr <= taddr + 32'(pitch);
                        if (tl == nl - (LW + 1)'(1)) st <= S_RLAST;
                        else tl <= tl + (LW + 1)'(1);
                    end else begin
                        rj    <= rj + 8'd1;
                        waddr <= waddr + 32'(W);
                    end
                end
                S_RLAST: begin   // the last window lands; the router takes the group when a softmax context is free
                    fe <= '0;
                    st <= S_FEED;
                end
                S_FEED: if (r_take) begin
                    if (fe != ne - 8'd1) begin
                        fe <= fe + 8'd1;
                    end else if (32'(t0) + 32'(LANES) < 32'(ntok)) begin
                        t0 <= t0 + 16'(LANES);
                        tl <= '0;
                        nl <= (ntok - t0 - 16'(LANES) > 16'(LANES)) ? (LW + 1)'(LANES)
                                                                   : (LW + 1)'(ntok - t0 - 16'(LANES));
                        st <= S_READ;
                    end else begin
                        st <= S_WAIT;
                    end
                end
                S_WAIT: if (!r_busy) begin
                    done      <= 1'b1;
                    q_routed  <= 1'b1;
                    q_experts <= ne;
                    st        <= S_IDLE;
                end
                default: st <= S_IDLE;
            endcase
        end
    end

    // captures (one cycle after the read)
    always_ff @(posedge clk) begin
        if (rc_v) begin
            for (int i = 0; i < NMMAX; i++) begin
                if (32'(rc_i) == 32'(i) && rc_i < nm) mbuf[i*WB*8 +: WB*8] <= wb_rd_data;
            end
            for (int i = 0; i < NSMAX; i++) begin
                if (32'(rc_i) == 32'(nm) + 32'(i)) sbuf[i*WB*8 +: WB*8] <= wb_rd_data;
            end
        end
        if (ac_v) begin
            for (int j = 0; j < NWMAX; j++) begin
                if (32'(ac_j) == 32'(j)) lrow[ac_l][j*W*8 +: W*8] <= act_rd_data;
            end
        end
    end

    vitaccel_moe_router #(.LANES(LANES), .MAX_EXPERTS(MAX_EXPERTS), .MAX_TOKENS(MAX_TOKENS),
                          .TOPK_MAX(MAX_TOPK)) u_router (
        .clk, .rst_n,
        .clear(r_clear || q_clear),
        .cfg_topk(topk),
        .in_valid(r_in_valid), .in_ready(r_in_ready),
        .in_logit(r_logit), .in_mult(r_mult), .in_shift(r_shift),
        .in_tok_valid(r_tok_valid), .in_last(fe == ne - 8'd1),
        .busy(r_busy), .err_overflow(r_ovf),
        .len_expert(q_len_expert[EW-1:0]), .len_expert2(q_len2_expert[EW-1:0]),
        .rd_expert(q_rd_expert[EW-1:0]), .rd_index(q_rd_index[TW-1:0]),
        .q_len(r_qlen), .q_len2(r_qlen2), .rd_token(r_token), .rd_weight(r_weight)
    );

    assign q_len       = (8'(q_len_expert) < q_experts) ? 16'(r_qlen) : 16'd0;
    assign q_len2      = (8'(q_len2_expert) < q_experts) ? 16'(r_qlen2) : 16'd0;
    assign q_rd_token  = 16'(r_token);
    assign q_rd_weight = 16'(r_weight);

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = q_rd_en ^ r_ovf ^ (|q_len_expert) ^ (|q_len2_expert) ^ (|q_rd_expert) ^ (|q_rd_index) ^ (|act_rd_data);
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
