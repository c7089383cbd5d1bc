// vitaccel_top: the accelerator's top level as a Vivado block design sees it (Vitis HLS port naming:
// ap_clk, ap_rst_n, s_axi_control_*, m_axi_gmem_*, interrupt), so the PS connects to it exactly like to the
// HLS kernel.
//
// STATUS OF THIS LEVEL: control path, LOAD / STORE / IM2COL and the REQ8 GEMM. It implements the s_axilite
// register map (vitaccel_ctrl), the memory-image header check, instruction fetch over AXI4 (vitaccel_axi_rd) and
// the decode-time checks of the ISA simulator, in its order: NO_END (pc reached INSTR_COUNT), ILLEGAL_OPCODE,
// BAD_VERSION, BAD_FIELD (reserved bits, masks from vitaccel_isa_masks_pkg), then END finishes and NOP / SYNC
// retire. LOAD (DDR -> ACT / weight-buffer half), STORE (ACT -> OUTPUT) and IM2COL (image -> patch rows in
// ACT) run on vitaccel_dma, GEMM with the REQ8 epilogue (immediates or record, B in ACT or WBUF) on
// vitaccel_gemm_seq (vitaccel_gemm_core inside), each with the ISA simulator's operand checks (BAD_FIELD,
// ADDR_RANGE, BUF_OVERFLOW, WBUF_STATE, UNSUPPORTED) against the region sizes of the image header and the
// buffer sizes (vitaccel.rtlgen.params.top_parameters), one instruction at a time (blocking). The memories:
// vitaccel_act_buf (ACT), vitaccel_wbuf (two halves + EMPTY / FULL state: a LOAD fills at dispatch, a GEMM
// with release empties at completion, ap_start empties both). LAYERNORM, ROUTE and the other GEMM forms are
// not dispatched yet: they stop the program with ErrorCode UNSUPPORTED at their index. Errors never hang: the
// sequencer always reaches ap_done with STATUS = {done, error, code} and ERROR_PC (0xFFFFFFFF for image errors).
module vitaccel_top #(
    parameter logic [31:0] CONFIG_HASH = 32'h0,
    parameter int          DATA_W      = 128,
    parameter int          ADDR_W      = 64,  // the register map carries 64-bit addresses (as the HLS build)
    parameter int          ACT_BYTES   = 4096, // AcceleratorConfig.act_buffer_bytes
    parameter int          WBUF_BYTES  = 4096, // AcceleratorConfig.weight_buffer_bytes (one half)
    parameter int          ROWS        = 4,    // AcceleratorConfig.array_rows
    parameter int          COLS        = 8,    // AcceleratorConfig.array_cols
    parameter int          PACK        = 2,    // AcceleratorConfig.macs_per_dsp
    parameter int          MAX_TOKENS  = 256   // AcceleratorConfig.max_tokens
) (
    input  logic                ap_clk,
    input  logic                ap_rst_n,
    // AXI4-Lite control
    input  logic [7:0]          s_axi_control_AWADDR,
    input  logic                s_axi_control_AWVALID,
    output logic                s_axi_control_AWREADY,
    input  logic [31:0]         s_axi_control_WDATA,
    input  logic [3:0]          s_axi_control_WSTRB,
    input  logic                s_axi_control_WVALID,
    output logic                s_axi_control_WREADY,
    output logic [1:0]          s_axi_control_BRESP,
    output logic                s_axi_control_BVALID,
    input  logic                s_axi_control_BREADY,
    input  logic [7:0]          s_axi_control_ARADDR,
    input  logic                s_axi_control_ARVALID,
    output logic                s_axi_control_ARREADY,
    output logic [31:0]         s_axi_control_RDATA,
    output logic [1:0]          s_axi_control_RRESP,
    output logic                s_axi_control_RVALID,
    input  logic                s_axi_control_RREADY,
    /* verilator lint_off SYMRSVDWORD */
    output logic                interrupt,
    /* verilator lint_on SYMRSVDWORD */
    // AXI4 master to DDR
    output logic [0:0]          m_axi_gmem_AWID,
    output logic [ADDR_W-1:0]   m_axi_gmem_AWADDR,
    output logic [7:0]          m_axi_gmem_AWLEN,
    output logic [2:0]          m_axi_gmem_AWSIZE,
    output logic [1:0]          m_axi_gmem_AWBURST,
    output logic                m_axi_gmem_AWVALID,
    input  logic                m_axi_gmem_AWREADY,
    output logic [DATA_W-1:0]   m_axi_gmem_WDATA,
    output logic [DATA_W/8-1:0] m_axi_gmem_WSTRB,
    output logic                m_axi_gmem_WLAST,
    output logic                m_axi_gmem_WVALID,
    input  logic                m_axi_gmem_WREADY,
    input  logic [0:0]          m_axi_gmem_BID,
    input  logic [1:0]          m_axi_gmem_BRESP,
    input  logic                m_axi_gmem_BVALID,
    output logic                m_axi_gmem_BREADY,
    output logic [0:0]          m_axi_gmem_ARID,
    output logic [ADDR_W-1:0]   m_axi_gmem_ARADDR,
    output logic [7:0]          m_axi_gmem_ARLEN,
    output logic [2:0]          m_axi_gmem_ARSIZE,
    output logic [1:0]          m_axi_gmem_ARBURST,
    output logic [3:0]          m_axi_gmem_ARCACHE,
    output logic [2:0]          m_axi_gmem_ARPROT,
    output logic                m_axi_gmem_ARVALID,
    input  logic                m_axi_gmem_ARREADY,
    input  logic [0:0]          m_axi_gmem_RID,
    input  logic [DATA_W-1:0]   m_axi_gmem_RDATA,
    input  logic [1:0]          m_axi_gmem_RRESP,
    input  logic                m_axi_gmem_RLAST,
    input  logic                m_axi_gmem_RVALID,
    output logic                m_axi_gmem_RREADY
);
    localparam int BYTES       = DATA_W / 8;
    localparam int HDR_BEATS   = 64 / BYTES;
    localparam int INSTR_BEATS = 32 / BYTES;
    localparam logic [7:0] E_NONE    = 8'(vitaccel_isa_pkg::ERR_NONE);
    localparam logic [7:0] E_ILLEGAL = 8'(vitaccel_isa_pkg::ERR_ILLEGAL_OPCODE);
    localparam logic [7:0] E_VERSION = 8'(vitaccel_isa_pkg::ERR_BAD_VERSION);
    localparam logic [7:0] E_FIELD   = 8'(vitaccel_isa_pkg::ERR_BAD_FIELD);
    localparam logic [7:0] E_IMAGE   = 8'(vitaccel_isa_pkg::ERR_BAD_IMAGE);
    localparam logic [7:0] E_NO_END  = 8'(vitaccel_isa_pkg::ERR_NO_END);
    localparam logic [7:0] E_UNSUPP  = 8'(vitaccel_isa_pkg::ERR_UNSUPPORTED);

    logic clk, rst_n;
    assign clk   = ap_clk;
    assign rst_n = ap_rst_n;

    // ---------------- control slave ----------------
    logic        ap_start, ap_done, ap_idle, ap_ready;
    logic [63:0] program_addr, instr_count, image_addr, input_addr, output_addr;
    logic [31:0] status, error_pc;
    logic [63:0] cycles;

    vitaccel_ctrl #(.CONFIG_HASH(CONFIG_HASH)) u_ctrl (
        .clk, .rst_n,
        .s_axi_control_AWADDR, .s_axi_control_AWVALID, .s_axi_control_AWREADY,
        .s_axi_control_WDATA, .s_axi_control_WSTRB, .s_axi_control_WVALID, .s_axi_control_WREADY,
        .s_axi_control_BRESP, .s_axi_control_BVALID, .s_axi_control_BREADY,
        .s_axi_control_ARADDR, .s_axi_control_ARVALID, .s_axi_control_ARREADY,
        .s_axi_control_RDATA, .s_axi_control_RRESP, .s_axi_control_RVALID, .s_axi_control_RREADY,
        .interrupt,
        .ap_start, .ap_done, .ap_idle, .ap_ready,
        .program_addr, .instr_count, .image_addr, .input_addr, .output_addr,
        .status, .error_pc, .cycles, .stall_cycles(64'd0)
    );

    // ---------------- AXI read master: header + instruction fetch ----------------
    logic                rd_cmd_valid, rd_cmd_ready, rd_valid, rd_last;
    logic                rd_out_ready, d_rd_ready;
    logic                f_cmd_valid;      // instruction / header fetch command (the DMA has the other)
    logic [ADDR_W-1:0]   f_cmd_addr;
    logic [31:0]         f_cmd_beats;
    /* verilator lint_off UNUSEDSIGNAL */  // no ErrorCode exists yet for an AXI SLVERR / DECERR response
    logic                rd_busy, rd_err;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [ADDR_W-1:0]   rd_cmd_addr;
    logic [31:0]         rd_cmd_beats;
    logic [DATA_W-1:0]   rd_data;

    vitaccel_axi_rd #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(256), .MAX_OUTSTANDING(2)) u_rd (
        .clk, .rst_n,
        .cmd_valid(rd_cmd_valid), .cmd_ready(rd_cmd_ready), .cmd_addr(rd_cmd_addr), .cmd_beats(rd_cmd_beats),
        .out_valid(rd_valid), .out_ready(rd_out_ready), .out_data(rd_data), .out_last(rd_last),
        .busy(rd_busy), .err(rd_err),
        .m_axi_arid(m_axi_gmem_ARID), .m_axi_araddr(m_axi_gmem_ARADDR), .m_axi_arlen(m_axi_gmem_ARLEN),
        .m_axi_arsize(m_axi_gmem_ARSIZE), .m_axi_arburst(m_axi_gmem_ARBURST), .m_axi_arcache(m_axi_gmem_ARCACHE),
        .m_axi_arprot(m_axi_gmem_ARPROT), .m_axi_arvalid(m_axi_gmem_ARVALID), .m_axi_arready(m_axi_gmem_ARREADY),
        .m_axi_rid(m_axi_gmem_RID), .m_axi_rdata(m_axi_gmem_RDATA), .m_axi_rresp(m_axi_gmem_RRESP),
        .m_axi_rlast(m_axi_gmem_RLAST), .m_axi_rvalid(m_axi_gmem_RVALID), .m_axi_rready(m_axi_gmem_RREADY)
    );

    // ---------------- AXI write master: STORE ----------------
    logic                wr_cmd_valid, wr_cmd_ready, wr_in_valid, wr_in_ready;
    /* verilator lint_off UNUSEDSIGNAL */  // no ErrorCode exists yet for an AXI SLVERR / DECERR response
    logic                wr_busy, wr_err;
    logic [3:0]          wr_awcache;
    logic [2:0]          wr_awprot;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [ADDR_W-1:0]   wr_cmd_addr;
    logic [31:0]         wr_cmd_beats;
    logic [DATA_W-1:0]   wr_in_data;
    logic [BYTES-1:0]    wr_in_strb;

    vitaccel_axi_wr #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(256), .MAX_OUTSTANDING(2)) u_wr (
        .clk, .rst_n,
        .cmd_valid(wr_cmd_valid), .cmd_ready(wr_cmd_ready), .cmd_addr(wr_cmd_addr), .cmd_beats(wr_cmd_beats),
        .in_valid(wr_in_valid), .in_ready(wr_in_ready), .in_data(wr_in_data), .in_strb(wr_in_strb),
        .busy(wr_busy), .err(wr_err),
        .m_axi_awid(m_axi_gmem_AWID), .m_axi_awaddr(m_axi_gmem_AWADDR), .m_axi_awlen(m_axi_gmem_AWLEN),
        .m_axi_awsize(m_axi_gmem_AWSIZE), .m_axi_awburst(m_axi_gmem_AWBURST), .m_axi_awcache(wr_awcache),
        .m_axi_awprot(wr_awprot), .m_axi_awvalid(m_axi_gmem_AWVALID), .m_axi_awready(m_axi_gmem_AWREADY),
        .m_axi_wdata(m_axi_gmem_WDATA), .m_axi_wstrb(m_axi_gmem_WSTRB), .m_axi_wlast(m_axi_gmem_WLAST),
        .m_axi_wvalid(m_axi_gmem_WVALID), .m_axi_wready(m_axi_gmem_WREADY),
        .m_axi_bid(m_axi_gmem_BID), .m_axi_bresp(m_axi_gmem_BRESP), .m_axi_bvalid(m_axi_gmem_BVALID),
        .m_axi_bready(m_axi_gmem_BREADY)
    );

    // ---------------- on-chip memories ----------------
    localparam int ACT_AW = ((ACT_BYTES + BYTES - 1) / BYTES > 1) ? $clog2((ACT_BYTES + BYTES - 1) / BYTES) : 1;
    localparam int WB_AW  = ((WBUF_BYTES + BYTES - 1) / BYTES > 1) ? $clog2((WBUF_BYTES + BYTES - 1) / BYTES) : 1;
    logic                mem_wr_act, mem_wr_wb, mem_wr_half, act_rd_en;
    /* verilator lint_off UNUSEDSIGNAL */  // word addresses; each memory takes the bits it has
    logic [31:0]         mem_wr_word, g_wr_word, act_wr_word;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [DATA_W-1:0]   mem_wr_data, act_rd_data, g_wr_data, act_wr_data;
    logic [BYTES-1:0]    mem_wr_be, g_wr_be, act_wr_be;
    logic [ACT_AW-1:0]   act_rd_addr, d_rd_addr, g_rd_addr;
    logic                d_rd_en, g_rd_en, g_wr_en, act_wr_en;
    logic                gemm_start, gemm_busy, gemm_done, wbuf_clr;
    logic [7:0]          gemm_code, gemm_err;
    logic [1:0]          wbuf_full;
    logic                wbuf_clear, wbuf_set, wbuf_set_half;
    logic [DATA_W-1:0]   wb_rd_data;
    logic                g_wb_rd_en, g_wb_rd_half;
    logic [WB_AW-1:0]    g_wb_rd_addr;

    // ACT ports: the DMA and the GEMM sequencer never run at the same time
    assign act_wr_en   = gemm_busy ? g_wr_en   : mem_wr_act;
    assign act_wr_word = gemm_busy ? g_wr_word : mem_wr_word;
    assign act_wr_data = gemm_busy ? g_wr_data : mem_wr_data;
    assign act_wr_be   = gemm_busy ? g_wr_be   : mem_wr_be;
    assign act_rd_en   = gemm_busy ? g_rd_en   : d_rd_en;
    assign act_rd_addr = gemm_busy ? g_rd_addr : d_rd_addr;

    vitaccel_act_buf #(.ACT_BYTES(ACT_BYTES), .WORD_W(DATA_W)) u_act (
        .clk, .wr_en(act_wr_en), .wr_addr(ACT_AW'(act_wr_word)), .wr_data(act_wr_data), .wr_be(act_wr_be),
        .rd_en(act_rd_en), .rd_addr(act_rd_addr), .rd_data(act_rd_data)
    );

    vitaccel_wbuf #(.WBUF_BYTES(WBUF_BYTES), .WORD_W(DATA_W)) u_wbuf (
        .clk, .rst_n,
        .clear_all(wbuf_clear), .set_full(wbuf_set), .set_half(wbuf_set_half), .clr_full(wbuf_clr), .clr_half(wbuf_set_half),
        .full(wbuf_full),
        .wr_en(mem_wr_wb), .wr_half(mem_wr_half), .wr_addr(WB_AW'(mem_wr_word)), .wr_data(mem_wr_data),
        .wr_be(mem_wr_be),
        .rd_en(g_wb_rd_en), .rd_half(g_wb_rd_half), .rd_addr(g_wb_rd_addr), .rd_data(wb_rd_data)
    );

    // ---------------- DMA: LOAD / STORE ----------------
    logic                dma_start, dma_busy, dma_done;
    logic [7:0]          dma_code;
    logic                d_cmd_valid;
    logic [ADDR_W-1:0]   d_cmd_addr;
    logic [31:0]         d_cmd_beats;
    /* verilator lint_off UNUSEDSIGNAL */  // header fields beyond the magic / version / hash / region sizes
    logic [511:0]        hdr;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [255:0]        instr;

    vitaccel_dma #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .ACT_BYTES(ACT_BYTES), .WBUF_BYTES(WBUF_BYTES)) u_dma (
        .clk, .rst_n,
        .instr, .image_bytes(hdr[16*8 +: 32]), .input_bytes(hdr[36*8 +: 32]), .output_bytes(hdr[40*8 +: 32]),
        .image_addr, .input_addr, .output_addr, .wbuf_full, .chk_code(dma_code),
        .start(dma_start), .busy(dma_busy), .done(dma_done),
        .rd_cmd_valid(d_cmd_valid), .rd_cmd_ready(rd_cmd_ready), .rd_cmd_addr(d_cmd_addr),
        .rd_cmd_beats(d_cmd_beats), .rd_ready(d_rd_ready), .rd_valid, .rd_data, .rd_last,
        .wr_cmd_valid, .wr_cmd_ready, .wr_cmd_addr, .wr_cmd_beats, .wr_in_valid, .wr_in_ready, .wr_in_data,
        .wr_in_strb, .wr_busy,
        .mem_wr_act, .mem_wr_wb, .mem_wr_half, .mem_wr_word, .mem_wr_data, .mem_wr_be,
        .act_rd_en(d_rd_en), .act_rd_addr(d_rd_addr), .act_rd_data
    );

    // ---------------- GEMM (first subset: REQ8 with immediates; A in ACT, B in ACT or WBUF) ----------------
    vitaccel_gemm_seq #(.ACT_BYTES(ACT_BYTES), .WBUF_BYTES(WBUF_BYTES), .DATA_W(DATA_W), .ROWS(ROWS), .COLS(COLS), .PACK(PACK),
                        .MAX_TOKENS(MAX_TOKENS)) u_gemm (
        .clk, .rst_n, .instr, .wbuf_full, .chk_code(gemm_code), .start(gemm_start), .busy(gemm_busy), .done(gemm_done),
        .err_code(gemm_err),
        .act_rd_en(g_rd_en), .act_rd_addr(g_rd_addr), .act_rd_data,
        .act_wr_en(g_wr_en), .act_wr_word(g_wr_word), .act_wr_data(g_wr_data), .act_wr_be(g_wr_be),
        .wb_rd_en(g_wb_rd_en), .wb_rd_half(g_wb_rd_half), .wb_rd_addr(g_wb_rd_addr), .wb_rd_data(wb_rd_data)
    );

    // one read master: the fetcher and the DMA never use it at the same time (blocking execution)
    assign rd_cmd_valid = dma_busy ? d_cmd_valid : f_cmd_valid;
    assign rd_cmd_addr  = dma_busy ? d_cmd_addr  : f_cmd_addr;
    assign rd_cmd_beats = dma_busy ? d_cmd_beats : f_cmd_beats;
    assign rd_out_ready = dma_busy ? d_rd_ready : 1'b1;

    // ---------------- sequencer ----------------
    typedef enum logic [2:0] {S_IDLE, S_HDR, S_HDR_CHK, S_FETCH, S_IDATA, S_DECODE, S_EXEC, S_FINISH} state_t;
    state_t state;
    logic [4:0]    beat;
    logic [31:0]   pc;
    logic [7:0]    code;

    // decode-time checks (order of vitaccel.sim.machine)
    logic [7:0]   opc;
    logic [3:0]   ver;
    logic         legal;
    logic [255:0] used;
    assign opc = instr[7:0];
    assign ver = instr[11:8];
    always_comb begin
        legal = 1'b1;
        used  = '0;
        case (opc)
            8'(vitaccel_isa_pkg::OP_NOP):       used = vitaccel_isa_masks_pkg::USED_NOP;
            8'(vitaccel_isa_pkg::OP_END):       used = vitaccel_isa_masks_pkg::USED_END;
            8'(vitaccel_isa_pkg::OP_SYNC):      used = vitaccel_isa_masks_pkg::USED_SYNC;
            8'(vitaccel_isa_pkg::OP_LOAD):      used = vitaccel_isa_masks_pkg::USED_LOAD;
            8'(vitaccel_isa_pkg::OP_STORE):     used = vitaccel_isa_masks_pkg::USED_STORE;
            8'(vitaccel_isa_pkg::OP_IM2COL):    used = vitaccel_isa_masks_pkg::USED_IM2COL;
            8'(vitaccel_isa_pkg::OP_LAYERNORM): used = vitaccel_isa_masks_pkg::USED_LAYERNORM;
            8'(vitaccel_isa_pkg::OP_GEMM):      used = instr[vitaccel_isa_pkg::F_GEMM_PIMM_LO]
                                                     ? vitaccel_isa_masks_pkg::USED_GEMM_PIMM1
                                                     : vitaccel_isa_masks_pkg::USED_GEMM;
            8'(vitaccel_isa_pkg::OP_ROUTE):     used = vitaccel_isa_masks_pkg::USED_ROUTE;
            default:                            legal = 1'b0;
        endcase
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            state        <= S_IDLE;
            ap_done      <= 1'b0;
            ap_ready     <= 1'b0;
            ap_idle      <= 1'b1;
            f_cmd_valid <= 1'b0;
            dma_start    <= 1'b0;
            gemm_start   <= 1'b0;
            wbuf_clear   <= 1'b0;
            wbuf_set     <= 1'b0;
            wbuf_clr     <= 1'b0;
            status       <= '0;
            error_pc     <= '0;
            cycles       <= '0;
        end else begin
            ap_done  <= 1'b0;
            ap_ready <= 1'b0;
            if (!ap_idle) cycles <= cycles + 64'd1;
            dma_start  <= 1'b0;
            gemm_start <= 1'b0;
            wbuf_clear <= 1'b0;
            wbuf_set   <= 1'b0;
            wbuf_clr   <= 1'b0;
            if (f_cmd_valid && rd_cmd_ready && !dma_busy) f_cmd_valid <= 1'b0;
            case (state)
                S_IDLE: if (ap_start) begin
                    ap_ready     <= 1'b1;
                    ap_idle      <= 1'b0;
                    cycles       <= '0;
                    beat         <= '0;
                    wbuf_clear   <= 1'b1;
                    f_cmd_valid <= 1'b1;
                    f_cmd_addr  <= ADDR_W'(image_addr);
                    f_cmd_beats <= 32'(HDR_BEATS);
                    state        <= S_HDR;
                end
                S_HDR: if (rd_valid) begin
                    hdr[beat*DATA_W +: DATA_W] <= rd_data;
                    beat <= beat + 5'd1;
                    if (rd_last) state <= S_HDR_CHK;
                end
                S_HDR_CHK: begin
                    pc <= '0;
                    if (hdr[31:0] != vitaccel_isa_pkg::IMAGE_MAGIC || hdr[47:32] != 16'(vitaccel_isa_pkg::ISA_MAJOR)
                        || hdr[95:64] != CONFIG_HASH) begin
                        code     <= E_IMAGE;
                        error_pc <= 32'hFFFF_FFFF;
                        state    <= S_FINISH;
                    end else begin
                        state <= S_FETCH;
                    end
                end
                S_FETCH: begin
                    if (64'(pc) >= instr_count) begin
                        code     <= E_NO_END;
                        error_pc <= pc;
                        state    <= S_FINISH;
                    end else begin
                        beat         <= '0;
                        f_cmd_valid <= 1'b1;
                        f_cmd_addr  <= ADDR_W'(program_addr + {27'd0, pc, 5'd0});
                        f_cmd_beats <= 32'(INSTR_BEATS);
                        state        <= S_IDATA;
                    end
                end
                S_IDATA: if (rd_valid) begin
                    instr[beat*DATA_W +: DATA_W] <= rd_data;
                    beat <= beat + 5'd1;
                    if (rd_last) state <= S_DECODE;
                end
                S_DECODE: begin
                    error_pc <= pc;
                    state    <= S_FINISH;
                    if (!legal)                                           code <= E_ILLEGAL;
                    else if (ver != 4'(vitaccel_isa_pkg::ISA_MAJOR))      code <= E_VERSION;
                    else if ((instr & ~used) != '0)                       code <= E_FIELD;
                    else if (opc == 8'(vitaccel_isa_pkg::OP_END))         code <= E_NONE;
                    else if (opc == 8'(vitaccel_isa_pkg::OP_NOP) || opc == 8'(vitaccel_isa_pkg::OP_SYNC)) begin
                        pc    <= pc + 32'd1;
                        state <= S_FETCH;
                    end else if (opc == 8'(vitaccel_isa_pkg::OP_LOAD) || opc == 8'(vitaccel_isa_pkg::OP_STORE)
                                 || opc == 8'(vitaccel_isa_pkg::OP_IM2COL)) begin
                        if (dma_code != E_NONE) begin
                            code <= dma_code;
                        end else begin
                            // WBUF state changes at dispatch (program order), as in the ISA simulator
                            wbuf_set      <= opc == 8'(vitaccel_isa_pkg::OP_LOAD)
                                             && instr[vitaccel_isa_pkg::F_LOAD_SPACE_LO +: 2]
                                                == 2'(vitaccel_isa_pkg::SPACE_WBUF);
                            wbuf_set_half <= instr[vitaccel_isa_pkg::F_LOAD_WBUF_LO];
                            dma_start     <= 1'b1;
                            state         <= S_EXEC;
                        end
                    end else if (opc == 8'(vitaccel_isa_pkg::OP_GEMM)) begin
                        if (gemm_code != E_NONE) begin
                            code <= gemm_code;
                        end else begin
                            gemm_start    <= 1'b1;
                            state         <= S_EXEC;
                        end
                    end else                                               code <= E_UNSUPP;
                end
                S_EXEC: if (gemm_done && gemm_err != E_NONE) begin
                    code  <= gemm_err;        // run-time check (record shift, destination): nothing was written
                    state <= S_FINISH;
                end else if (dma_done || gemm_done) begin
                    // release empties the half when the reader completes
                    wbuf_clr      <= gemm_done && instr[vitaccel_isa_pkg::F_GEMM_RELEASE_LO];
                    wbuf_set_half <= instr[vitaccel_isa_pkg::F_GEMM_WBUF_LO];
                    pc    <= pc + 32'd1;
                    state <= S_FETCH;
                end
                S_FINISH: begin
                    status   <= {22'd0, 1'b1, code != E_NONE, code};
                    if (code == E_NONE) error_pc <= '0;
                    ap_done  <= 1'b1;
                    ap_idle  <= 1'b1;
                    state    <= S_IDLE;
                end
                default: state <= S_IDLE;
            endcase
        end
    end
endmodule
