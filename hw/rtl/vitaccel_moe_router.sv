// vitaccel_moe_router: MoE gating, top-k and per-expert token queues (golden: vitaccel.golden.moe).
//
// Tokens are routed LANES at a time ("group"); experts are streamed serially, one beat per expert e = 0..E-1
// (in_last on e = E-1), each beat carrying the int32 gate logits of the group's tokens for expert e and that
// expert's requantization (in_mult, in_shift), and in_tok_valid marking real tokens (the last group may be short):
//   z = sat24(round_shift(logit * mult[e], shift[e]))          (moe.gate_z)
//   gate weights: uint16 softmax of z over the experts         (vitaccel_softmax with OUT_BITS = GATE_BITS;
//                 online in increasing expert index, as the contract requires; REQUANT = 0: the softmax takes
//                 the z computed here, so each lane has one requantizing multiplier, shared with the top-k)
//   top-k by z, descending, streaming scan over e: a new (z, e) enters only in front of strictly smaller z, so
//                 on equal z the lower expert index wins (moe.topk_lower_index)
//   queues: for e = 0..E-1, tokens whose top-k holds e, in increasing token index, each with its gate weight
//                 g[token][e] (moe.expert_queues; the weight feeds the MOE_COMBINE epilogue).
// clear (one cycle) empties every queue and restarts the token count at 0 (start of a ROUTE instruction).
// Queue read ports: q_len = length of queue len_expert (combinational); rd_token / rd_weight = entry rd_index of
// queue rd_expert one cycle after the address. busy = routing still in progress.
// Throughput: a group takes E input beats, the softmax division, then E output beats, one per clock: each
// writes all of its expert's new queue entries at once into LANES banks (entry i of a queue in bank i % LANES).
// The gate softmax has two contexts (CONTEXTS = 2): the next group's beats are taken while the previous one is
// divided and emitted (a third waits for the first to leave); the top-k result is held in two slots. Timing
// (vitaccel_route_seq, vitaccel.perf.timing.route_cycles): a group ends 2E + uarch.ROUTE_GROUP_TAIL after its
// first beat, at least ROUTE_DIV_INTERVAL after the previous group (the softmax's shared divider).
// Queue lengths are LUT RAM with a valid bit per expert (clear resets the bits).
module vitaccel_moe_router
#(
    parameter int LANES       = 4,
    parameter int MAX_EXPERTS = 16,
    parameter int MAX_TOKENS  = 64,
    parameter int TOPK_MAX    = 2
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic                 clear,
    input  logic [7:0]           cfg_topk,        // 1..TOPK_MAX
    input  logic                 in_valid,
    output logic                 in_ready,
    input  logic [LANES*32-1:0]  in_logit,
    input  logic [15:0]          in_mult,
    input  logic [5:0]           in_shift,
    input  logic [LANES-1:0]     in_tok_valid,
    input  logic                 in_last,
    output logic                 busy,
    output logic                 err_overflow,    // more than MAX_EXPERTS beats in one group
    input  logic [$clog2(MAX_EXPERTS)-1:0] len_expert,  // q_len = length of queue len_expert (combinational)
    input  logic [$clog2(MAX_EXPERTS)-1:0] len_expert2, // q_len2: a second length port (the dispatcher's `cond`)
    input  logic [$clog2(MAX_EXPERTS)-1:0] rd_expert,
    input  logic [$clog2(MAX_TOKENS)-1:0]  rd_index,
    output logic [$clog2(MAX_TOKENS):0]    q_len,
    output logic [$clog2(MAX_TOKENS):0]    q_len2,
    output logic [$clog2(MAX_TOKENS)-1:0]  rd_token,
    output logic [vitaccel_num_pkg::GATE_BITS-1:0]           rd_weight
);
    localparam int EW = $clog2(MAX_EXPERTS);
    localparam int TW = $clog2(MAX_TOKENS);
    localparam int ZW = vitaccel_num_pkg::SM_Z_BITS;
    localparam int LW = (LANES > 1) ? $clog2(LANES) : 1;

    // ---------------- gate softmax (uint16 weights) ----------------
    logic                     sm_in_ready, sm_out_valid, sm_out_ready, sm_out_last;
    logic [LANES*vitaccel_num_pkg::GATE_BITS-1:0] sm_prob;
    logic [LANES*32-1:0]      z_ext;   // each lane's z (computed once, below), sign-extended: REQUANT = 0
    vitaccel_softmax #(.LANES(LANES), .MAX_ROWS(MAX_EXPERTS), .OUT_BITS(vitaccel_num_pkg::GATE_BITS),
                       .REQUANT(1'b0), .CONTEXTS(2)) u_softmax (
        .clk, .rst_n,
        .in_valid(in_valid), .in_ready(sm_in_ready),
        .in_acc(z_ext), .in_mult({LANES{16'd0}}), .in_shift({LANES{6'd0}}), .in_last(in_last),
        .out_valid(sm_out_valid), .out_ready(sm_out_ready), .out_prob(sm_prob), .out_last(sm_out_last),
        .err_overflow(err_overflow)
    );
    assign in_ready = sm_in_ready;
    wire take = in_valid && in_ready;

    // ---------------- streaming top-k per lane ----------------
    // Two groups in flight (the softmax's two contexts): a group's final top-k lists and token mask are held in
    // slot hin when its last beat is taken and read from slot hout by its output beats (groups leave in order).
    logic [EW-1:0]    e_in;       // expert index of the current input beat
    logic [LANES-1:0] hold_tok [2];
    logic [LANES-1:0] sel_now;    // lanes whose held top-k contains the expert of the current softmax output beat
    logic             hin, hout;  // hold slot of the group taking input / leaving the softmax
    logic [EW-1:0]    bld_e_next; // expert index of the next softmax output beat

    always_ff @(posedge clk) begin
        if (!rst_n || clear) begin
            e_in <= '0;
            hin  <= 1'b0;
            hout <= 1'b0;
        end else begin
            if (take) e_in <= in_last ? '0 : e_in + EW'(1);
            if (take && in_last) hin <= ~hin;
            if (sm_out_valid && sm_out_last) hout <= ~hout;
        end
    end

    genvar l, gi;
    generate
        for (l = 0; l < LANES; l++) begin : g_topk
            logic signed [ZW-1:0] bz [TOPK_MAX];
            logic [EW-1:0]        be [TOPK_MAX];
            logic [TOPK_MAX-1:0]  bv;
            logic signed [ZW-1:0] z;
            logic signed [48:0]   p;
            logic signed [49:0]   q;
            logic signed [25:0]   q26;   // q when it fits in 26 bits (else z saturates by q's sign)
            logic [ZW-1:0]        r;     // (q + 1) >>> 1 where it does not saturate
            logic                 q_fit, sat_hi, sat_lo;
            logic [5:0]           s2;
            logic [TOPK_MAX-1:0]  gt;
            logic [EW-1:0]        he [2][TOPK_MAX];   // held top-k (slot hin written, slot hout read)
            logic [TOPK_MAX-1:0]  hv [2];
            assign p  = $signed(in_logit[l*32 +: 32]) * $signed({1'b0, in_mult});
            assign s2 = (in_shift > 6'd49) ? 6'd49 : in_shift;   // |p| < 2^47: larger shifts give the same result
            // round_shift(p, s) = floor((p + 2^(s-1)) / 2^s) = floor((floor(2p / 2^s) + 1) / 2), s = 0 included:
            // one arithmetic shifter and no wide adder in front of it
            assign q  = $signed({p, 1'b0}) >>> s2;
            // sat24(r), r = (q + 1) >>> 1: r > 2^23 - 1 <=> q >= 2^24 - 1 and r < -2^23 <=> q <= -2^24 - 2, so the
            // compare and the rounding add only need q's low 26 bits when q[49:25] is a sign extension
            assign q_fit  = (q[49:25] == '0) || (q[49:25] == '1);
            assign q26    = q[25:0];
            assign r      = ZW'(($signed({q26[25], q26}) + 27'sd1) >>> 1);
            assign sat_hi = q_fit ? (q26 >= 26'sd16777215) : !q[49];
            assign sat_lo = q_fit ? (q26 <= -26'sd16777218) : q[49];
            assign z  = sat_hi ? 24'sh7fffff : sat_lo ? 24'sh800000 : r;
            assign z_ext[l*32 +: 32] = 32'(z);   // the gate softmax's input (z computed once per lane)
            for (gi = 0; gi < TOPK_MAX; gi++) begin : g_gt
                // slot i is an insertion point if it is empty (and within k) or holds a strictly smaller z
                assign gt[gi] = (8'(gi) < cfg_topk) && (!bv[gi] || (z > bz[gi]));
            end
            always_ff @(posedge clk) begin
                if (!rst_n || clear) begin
                    bv <= '0;
                end else if (take) begin
                    // insert at the first insertion point p, shifting the rest down (the last one drops out)
                    for (int i = TOPK_MAX - 1; i >= 0; i--) begin
                        if (gt[i] && (i == 0 || !(|(gt & TOPK_MAX'((1 << i) - 1))))) begin
                            bz[i] <= z;
                            be[i] <= e_in;
                            bv[i] <= 1'b1;
                        end else if (i > 0 && |(gt & TOPK_MAX'((1 << i) - 1))) begin
                            bz[i] <= bz[(i > 0) ? i - 1 : 0];
                            be[i] <= be[(i > 0) ? i - 1 : 0];
                            bv[i] <= bv[(i > 0) ? i - 1 : 0] && (8'(i) < cfg_topk);
                        end
                    end
                    if (in_last) bv <= '0;  // next group starts empty (the hold copy below keeps this one)
                end
            end
            always_ff @(posedge clk) begin
                if (take && in_last) begin
                    for (int i = 0; i < TOPK_MAX; i++) begin
                        // the final beat's own insertion is folded in here
                        if (gt[i] && (i == 0 || !(|(gt & TOPK_MAX'((1 << i) - 1))))) begin
                            he[hin][i] <= e_in;
                            hv[hin][i] <= 1'b1;
                        end else if (i > 0 && |(gt & TOPK_MAX'((1 << i) - 1))) begin
                            he[hin][i] <= be[(i > 0) ? i - 1 : 0];
                            hv[hin][i] <= bv[(i > 0) ? i - 1 : 0] && (8'(i) < cfg_topk);
                        end else begin
                            he[hin][i] <= be[i];
                            hv[hin][i] <= bv[i];
                        end
                    end
                end
            end
            logic hit;   // the held top-k of this lane contains the expert of the current softmax output beat
            always_comb begin
                hit = 1'b0;
                for (int i = 0; i < TOPK_MAX; i++) begin
                    if (hv[hout][i] && he[hout][i] == bld_e_next) hit = 1'b1;
                end
            end
            assign sel_now[l] = hit && hold_tok[hout][l];
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (take && in_last) hold_tok[hin] <= in_tok_valid;
    end

    // ---------------- queue builder: one expert's entries per clock (LANES banks) ----------------
    // Entry i of queue e lives in bank i % LANES, row (e, i / LANES). Each accepted softmax beat (expert e) is
    // registered with the lanes whose top-k holds e; the next clock writes all of them at once: the selected lanes
    // in increasing lane order take queue positions qlen[e], qlen[e] + 1, ..., which fall in distinct banks
    // (bank b gets the lane of rank (b - qlen[e]) mod LANES). The softmax output is never stalled.
    localparam int GB = vitaccel_num_pkg::GATE_BITS;
    localparam int BB = $clog2(LANES);      // bank index bits (0 for LANES = 1)
    localparam int RW = TW - BB;            // row bits within one queue (MAX_TOKENS >= LANES)
    localparam int DW = TW + GB;            // entry: token index, gate weight
    logic                 bld_v;            // write stage holds a beat
    logic [EW-1:0]        bld_e;
    logic [LANES-1:0]     bld_sel;
    logic [LANES*GB-1:0]  bld_w;
    logic                 bld_last;
    logic [TW:0]          tok_base;   // token index of lane 0 of the group being enqueued
    logic [TW:0]          qlen [MAX_EXPERTS];   // queue lengths: LUT RAM (no reset), valid where qlen_ok is set
    logic [MAX_EXPERTS-1:0] qlen_ok;            // queue e written since the last clear (else its length is 0)
    logic [1:0]           grp_pending; // groups whose input is complete and whose queue entries are not all written

    assign sm_out_ready = 1'b1;

    logic [TW:0]      ql_cur;
    logic [LW:0]      cnt;
    logic [LW:0]      rank [LANES];
    logic [LW:0]      rk   [LANES];   // rank served by bank b
    logic [LW-1:0]    wlane [LANES];
    logic [TW-1:0]    wpos  [LANES];
    logic [LANES-1:0] wv;
    always_comb begin
        ql_cur = qlen_ok[bld_e] ? qlen[bld_e] : '0;
        cnt = '0;
        for (int ln = 0; ln < LANES; ln++) begin
            rank[ln] = cnt;
            cnt = cnt + (LW + 1)'(bld_sel[ln]);
        end
        for (int b = 0; b < LANES; b++) begin
            rk[b]    = (LW + 1)'((32'(b) - 32'(ql_cur)) & 32'(LANES - 1));
            wv[b]    = bld_v && (rk[b] < cnt);
            wpos[b]  = TW'(32'(ql_cur) + 32'(rk[b]));
            wlane[b] = '0;
            for (int ln = 0; ln < LANES; ln++) begin
                if (bld_sel[ln] && rank[ln] == rk[b]) wlane[b] = LW'(ln);
            end
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n || clear) begin
            bld_v       <= 1'b0;
            bld_e_next  <= '0;
            tok_base    <= '0;
            grp_pending <= '0;
            qlen_ok     <= '0;
        end else begin
            grp_pending <= grp_pending + 2'(take && in_last) - 2'(bld_v && bld_last);
            if (bld_v && bld_last) tok_base <= tok_base + (TW + 1)'(LANES);
            if (bld_v) qlen_ok[bld_e] <= 1'b1;
            bld_v <= sm_out_valid;
            if (sm_out_valid) begin
                bld_e      <= bld_e_next;
                bld_sel    <= sel_now;
                bld_w      <= sm_prob;
                bld_last   <= sm_out_last;
                bld_e_next <= sm_out_last ? '0 : bld_e_next + EW'(1);
            end
        end
    end

    always_ff @(posedge clk) begin
        if (bld_v) qlen[bld_e] <= ql_cur + (TW + 1)'(cnt);
    end

    // banks: write port (builder), read port (rd_expert, rd_index) with one cycle latency
    logic [EW+RW-1:0]   rd_row;
    logic [LANES*DW-1:0] bank_q;
    logic [LW-1:0]      rd_bank;
    assign rd_row = {rd_expert, RW'(rd_index >> BB)};
    genvar bk;
    generate
        for (bk = 0; bk < LANES; bk++) begin : g_bank
            logic [DW-1:0] mem [MAX_EXPERTS << RW];
            logic [DW-1:0] q;
            always_ff @(posedge clk) begin
                if (wv[bk]) begin
                    mem[{bld_e, RW'(wpos[bk] >> BB)}] <= {TW'(tok_base + (TW + 1)'(wlane[bk])),
                                                          bld_w[wlane[bk]*GB +: GB]};
                end
                q <= mem[rd_row];
            end
            assign bank_q[bk*DW +: DW] = q;
        end
    endgenerate
    always_ff @(posedge clk) begin
        rd_bank <= LW'(32'(rd_index) & 32'(LANES - 1));
    end
    assign {rd_token, rd_weight} = bank_q[rd_bank*DW +: DW];
    assign q_len  = qlen_ok[len_expert] ? qlen[len_expert] : '0;
    assign q_len2 = qlen_ok[len_expert2] ? qlen[len_expert2] : '0;
    assign busy  = (grp_pending != 2'd0) || bld_v || sm_out_valid || !sm_in_ready;
endmodule
