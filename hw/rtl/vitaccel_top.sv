// vitaccel_top: the accelerator's top level as a Vivado block design sees it (Vitis HLS port naming:
// ap_clk, ap_rst_n, s_axi_control_*, m_axi_gmem0_*, interrupt), so the PS connects to it exactly like to the
// HLS kernel.
//
// It implements the s_axilite register map (vitaccel_ctrl), the memory-image header check (field offsets
// vitaccel_isa_pkg::HDR_*_OFF), instruction fetch over AXI4 (vitaccel_axi_rd) and the decode-time checks of the
// ISA simulator in its order: NO_END (pc reached INSTR_COUNT), ILLEGAL_OPCODE, BAD_VERSION, BAD_FIELD (reserved
// bits, masks from vitaccel_isa_masks_pkg); END finishes; `cond` (queue before any ROUTE or expert >= the last
// ROUTE's experts: BAD_FIELD; empty queue: skipped, no state change); NOP / SYNC retire. Then one engine executes
// the instruction (blocking, one at a time), after its own operand checks in the simulator's order:
//   LOAD / STORE / IM2COL      vitaccel_dma        (DDR <-> ACT / weight-buffer half)
//   GEMM (every epilogue)      vitaccel_gemm_seq   (MAC array + epilogue / softmax; reads the expert queues)
//   LAYERNORM                  vitaccel_ln_seq
//   ROUTE                      vitaccel_route_seq  (owns the expert queues; ap_start empties them)
// The memories: ACT (vitaccel_wmem, windows of UA_ACT_WORD_COLS * COLS bytes) and vitaccel_wbuf (two halves of
// COLS-byte windows + EMPTY / FULL state: a LOAD fills at dispatch, a reader with `release` empties at its
// completion, ap_start empties both). Engine interface: hw/rtl/README.md "Engines". Errors never hang: the
// sequencer always reaches ap_done with STATUS = {done, error, code} and ERROR_PC (0xFFFFFFFF for image errors).
// AXI_ERROR: a non-OKAY RRESP / BRESP of a LOAD / STORE / IM2COL (the DMA's axi_err at its done; ERROR_PC = that
// instruction, the earliest run-time error in program order wins), of an instruction fetch (reported when the
// dispatcher reaches that instruction, before its decode checks) or of the header read (ERROR_PC 0xFFFFFFFF).
module vitaccel_top #(
    parameter logic [31:0] CONFIG_HASH = 32'h0,
    parameter int          DATA_W      = 128,
    parameter int          ADDR_W      = 64,  // the register map carries 64-bit addresses (as the HLS build)
    parameter int          ACT_BYTES   = 4096, // AcceleratorConfig.act_buffer_bytes
    parameter int          WBUF_BYTES  = 4096, // AcceleratorConfig.weight_buffer_bytes (one half)
    parameter int          ROWS        = 4,    // AcceleratorConfig.array_rows
    parameter int          COLS        = 16,   // AcceleratorConfig.array_cols (a power of two >= 16)
    parameter int          PACK        = 2,    // AcceleratorConfig.macs_per_dsp
    parameter int          LN_LANES    = 4,    // AcceleratorConfig.ln_lanes (a power of two <= COLS)
    parameter int          SM_LANES    = COLS, // AcceleratorConfig.softmax_lanes (a power of two <= COLS)
    parameter int          EPI_LANES   = COLS, // AcceleratorConfig.epilogue_lanes (a power of two <= COLS)
    parameter int          MAX_TOKENS  = 256,  // AcceleratorConfig.max_tokens
    parameter int          MAX_EXPERTS = 32,   // AcceleratorConfig.max_experts
    parameter int          MAX_TOPK    = 4     // AcceleratorConfig.max_topk
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
    // AXI4 masters to DDR, one per HP port (AcceleratorConfig.axi_ports = 4): gmem0 carries the instruction
    // fetch (ARID 1) and DMA reads (ARID 0); every port carries DMA reads and STORE writes (bursts round-robin)
    output logic [0:0]           m_axi_gmem0_AWID,
    output logic [ADDR_W-1:0]    m_axi_gmem0_AWADDR,
    output logic [7:0]           m_axi_gmem0_AWLEN,
    output logic [2:0]           m_axi_gmem0_AWSIZE,
    output logic [1:0]           m_axi_gmem0_AWBURST,
    output logic                 m_axi_gmem0_AWVALID,
    input   logic                 m_axi_gmem0_AWREADY,
    output logic [DATA_W-1:0]    m_axi_gmem0_WDATA,
    output logic [DATA_W/8-1:0]  m_axi_gmem0_WSTRB,
    output logic                 m_axi_gmem0_WLAST,
    output logic                 m_axi_gmem0_WVALID,
    input   logic                 m_axi_gmem0_WREADY,
    input   logic [0:0]           m_axi_gmem0_BID,
    input   logic [1:0]           m_axi_gmem0_BRESP,
    input   logic                 m_axi_gmem0_BVALID,
    output logic                 m_axi_gmem0_BREADY,
    output logic [0:0]           m_axi_gmem0_ARID,
    output logic [ADDR_W-1:0]    m_axi_gmem0_ARADDR,
    output logic [7:0]           m_axi_gmem0_ARLEN,
    output logic [2:0]           m_axi_gmem0_ARSIZE,
    output logic [1:0]           m_axi_gmem0_ARBURST,
    output logic [3:0]           m_axi_gmem0_ARCACHE,
    output logic [2:0]           m_axi_gmem0_ARPROT,
    output logic                 m_axi_gmem0_ARVALID,
    input   logic                 m_axi_gmem0_ARREADY,
    input   logic [0:0]           m_axi_gmem0_RID,
    input   logic [DATA_W-1:0]    m_axi_gmem0_RDATA,
    input   logic [1:0]           m_axi_gmem0_RRESP,
    input   logic                 m_axi_gmem0_RLAST,
    input   logic                 m_axi_gmem0_RVALID,
    output logic                 m_axi_gmem0_RREADY,
    output logic [0:0]           m_axi_gmem1_AWID,
    output logic [ADDR_W-1:0]    m_axi_gmem1_AWADDR,
    output logic [7:0]           m_axi_gmem1_AWLEN,
    output logic [2:0]           m_axi_gmem1_AWSIZE,
    output logic [1:0]           m_axi_gmem1_AWBURST,
    output logic                 m_axi_gmem1_AWVALID,
    input   logic                 m_axi_gmem1_AWREADY,
    output logic [DATA_W-1:0]    m_axi_gmem1_WDATA,
    output logic [DATA_W/8-1:0]  m_axi_gmem1_WSTRB,
    output logic                 m_axi_gmem1_WLAST,
    output logic                 m_axi_gmem1_WVALID,
    input   logic                 m_axi_gmem1_WREADY,
    input   logic [0:0]           m_axi_gmem1_BID,
    input   logic [1:0]           m_axi_gmem1_BRESP,
    input   logic                 m_axi_gmem1_BVALID,
    output logic                 m_axi_gmem1_BREADY,
    output logic [0:0]           m_axi_gmem1_ARID,
    output logic [ADDR_W-1:0]    m_axi_gmem1_ARADDR,
    output logic [7:0]           m_axi_gmem1_ARLEN,
    output logic [2:0]           m_axi_gmem1_ARSIZE,
    output logic [1:0]           m_axi_gmem1_ARBURST,
    output logic [3:0]           m_axi_gmem1_ARCACHE,
    output logic [2:0]           m_axi_gmem1_ARPROT,
    output logic                 m_axi_gmem1_ARVALID,
    input   logic                 m_axi_gmem1_ARREADY,
    input   logic [0:0]           m_axi_gmem1_RID,
    input   logic [DATA_W-1:0]    m_axi_gmem1_RDATA,
    input   logic [1:0]           m_axi_gmem1_RRESP,
    input   logic                 m_axi_gmem1_RLAST,
    input   logic                 m_axi_gmem1_RVALID,
    output logic                 m_axi_gmem1_RREADY,
    output logic [0:0]           m_axi_gmem2_AWID,
    output logic [ADDR_W-1:0]    m_axi_gmem2_AWADDR,
    output logic [7:0]           m_axi_gmem2_AWLEN,
    output logic [2:0]           m_axi_gmem2_AWSIZE,
    output logic [1:0]           m_axi_gmem2_AWBURST,
    output logic                 m_axi_gmem2_AWVALID,
    input   logic                 m_axi_gmem2_AWREADY,
    output logic [DATA_W-1:0]    m_axi_gmem2_WDATA,
    output logic [DATA_W/8-1:0]  m_axi_gmem2_WSTRB,
    output logic                 m_axi_gmem2_WLAST,
    output logic                 m_axi_gmem2_WVALID,
    input   logic                 m_axi_gmem2_WREADY,
    input   logic [0:0]           m_axi_gmem2_BID,
    input   logic [1:0]           m_axi_gmem2_BRESP,
    input   logic                 m_axi_gmem2_BVALID,
    output logic                 m_axi_gmem2_BREADY,
    output logic [0:0]           m_axi_gmem2_ARID,
    output logic [ADDR_W-1:0]    m_axi_gmem2_ARADDR,
    output logic [7:0]           m_axi_gmem2_ARLEN,
    output logic [2:0]           m_axi_gmem2_ARSIZE,
    output logic [1:0]           m_axi_gmem2_ARBURST,
    output logic [3:0]           m_axi_gmem2_ARCACHE,
    output logic [2:0]           m_axi_gmem2_ARPROT,
    output logic                 m_axi_gmem2_ARVALID,
    input   logic                 m_axi_gmem2_ARREADY,
    input   logic [0:0]           m_axi_gmem2_RID,
    input   logic [DATA_W-1:0]    m_axi_gmem2_RDATA,
    input   logic [1:0]           m_axi_gmem2_RRESP,
    input   logic                 m_axi_gmem2_RLAST,
    input   logic                 m_axi_gmem2_RVALID,
    output logic                 m_axi_gmem2_RREADY,
    output logic [0:0]           m_axi_gmem3_AWID,
    output logic [ADDR_W-1:0]    m_axi_gmem3_AWADDR,
    output logic [7:0]           m_axi_gmem3_AWLEN,
    output logic [2:0]           m_axi_gmem3_AWSIZE,
    output logic [1:0]           m_axi_gmem3_AWBURST,
    output logic                 m_axi_gmem3_AWVALID,
    input   logic                 m_axi_gmem3_AWREADY,
    output logic [DATA_W-1:0]    m_axi_gmem3_WDATA,
    output logic [DATA_W/8-1:0]  m_axi_gmem3_WSTRB,
    output logic                 m_axi_gmem3_WLAST,
    output logic                 m_axi_gmem3_WVALID,
    input   logic                 m_axi_gmem3_WREADY,
    input   logic [0:0]           m_axi_gmem3_BID,
    input   logic [1:0]           m_axi_gmem3_BRESP,
    input   logic                 m_axi_gmem3_BVALID,
    output logic                 m_axi_gmem3_BREADY,
    output logic [0:0]           m_axi_gmem3_ARID,
    output logic [ADDR_W-1:0]    m_axi_gmem3_ARADDR,
    output logic [7:0]           m_axi_gmem3_ARLEN,
    output logic [2:0]           m_axi_gmem3_ARSIZE,
    output logic [1:0]           m_axi_gmem3_ARBURST,
    output logic [3:0]           m_axi_gmem3_ARCACHE,
    output logic [2:0]           m_axi_gmem3_ARPROT,
    output logic                 m_axi_gmem3_ARVALID,
    input   logic                 m_axi_gmem3_ARREADY,
    input   logic [0:0]           m_axi_gmem3_RID,
    input   logic [DATA_W-1:0]    m_axi_gmem3_RDATA,
    input   logic [1:0]           m_axi_gmem3_RRESP,
    input   logic                 m_axi_gmem3_RLAST,
    input   logic                 m_axi_gmem3_RVALID,
    output logic                 m_axi_gmem3_RREADY
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
    localparam logic [7:0] E_AXI     = 8'(vitaccel_isa_pkg::ERR_AXI_ERROR);

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
        .status, .error_pc, .cycles, .stall_cycles
    );

    // ---------------- AXI read port 0: instruction fetch (ARID 1) and DMA (ARID 0) ----------------
    logic [1:0]          arb_arvalid, arb_arready, arb_rvalid, arb_rready;
    logic [2*ADDR_W-1:0] arb_araddr;
    logic [15:0]         arb_arlen;
    logic [5:0]          arb_arsize, arb_arprot;
    logic [3:0]          arb_arburst;
    logic [7:0]          arb_arcache;
    logic [DATA_W-1:0]   arb_rdata;
    logic [1:0]          arb_rresp;
    logic                arb_rlast;
    /* verilator lint_off UNUSEDSIGNAL */  // per-master IDs are set by the arbiter; fetch errors are taken per beat
    logic                f_arid_unused, f_rd_err;
    /* verilator lint_on UNUSEDSIGNAL */

    vitaccel_axi_rd_arb #(.ADDR_W(ADDR_W), .DATA_W(DATA_W)) u_arb (
        .clk, .rst_n,
        .s_arvalid(arb_arvalid), .s_arready(arb_arready), .s_araddr(arb_araddr), .s_arlen(arb_arlen),
        .s_arsize(arb_arsize), .s_arburst(arb_arburst), .s_arcache(arb_arcache), .s_arprot(arb_arprot),
        .s_rvalid(arb_rvalid), .s_rready(arb_rready), .s_rdata(arb_rdata), .s_rresp(arb_rresp), .s_rlast(arb_rlast),
        .m_arid(m_axi_gmem0_ARID), .m_araddr(m_axi_gmem0_ARADDR), .m_arlen(m_axi_gmem0_ARLEN),
        .m_arsize(m_axi_gmem0_ARSIZE), .m_arburst(m_axi_gmem0_ARBURST), .m_arcache(m_axi_gmem0_ARCACHE),
        .m_arprot(m_axi_gmem0_ARPROT), .m_arvalid(m_axi_gmem0_ARVALID), .m_arready(m_axi_gmem0_ARREADY),
        .m_rid(m_axi_gmem0_RID), .m_rdata(m_axi_gmem0_RDATA), .m_rresp(m_axi_gmem0_RRESP),
        .m_rlast(m_axi_gmem0_RLAST), .m_rvalid(m_axi_gmem0_RVALID), .m_rready(m_axi_gmem0_RREADY)
    );

    // ---------------- instruction fetch: header, then bursts of FETCH_BURST_INSTRS into a FIFO ----------------
    localparam int FB    = 32'(vitaccel_isa_pkg::UA_FETCH_BURST_INSTRS);
    localparam int IFD   = 2 * FB;                 // instruction FIFO depth
    localparam int IFW   = $clog2(IFD);
    logic                f_cmd_valid, f_cmd_ready, f_valid, f_last, f_busy, f_hdr;
    logic [ADDR_W-1:0]   f_cmd_addr;
    logic [31:0]         f_cmd_beats;
    logic [DATA_W-1:0]   f_data;
    logic [255:0]        ififo [IFD];
    logic [IFW:0]        if_count, if_reserved;    // instructions in the FIFO / in the FIFO + in flight
    logic [IFW-1:0]      if_wr, if_rd;
    logic [255-DATA_W:0] f_asm;                    // the first beats of the instruction being assembled
    logic [4:0]          f_beat;
    logic [31:0]         fpc;                      // next instruction index to request
    logic                fetching;                 // program fetch enabled (after the header check)
    logic                if_pop;
    /* verilator lint_off UNUSEDSIGNAL */  // header fields beyond magic / version / hash / region sizes
    logic [511:0]        hdr;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [255:0]        dec;                      // the instruction at the FIFO head
    // AXI errors of the fetch (non-OKAY RRESP, ARID 1): per beat, so an instruction is marked when one of its
    // beats failed (AXI_ERROR at its pc when the dispatcher reaches it), the header read as a whole
    logic                f_berr, hdr_err, f_asm_err;
    logic [IFD-1:0]      ififo_err;
    assign f_berr = f_valid && arb_rresp != 2'b00;

    vitaccel_axi_rd #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(256), .MAX_OUTSTANDING(2)) u_frd (
        .clk, .rst_n,
        .cmd_valid(f_cmd_valid), .cmd_ready(f_cmd_ready), .cmd_addr(f_cmd_addr), .cmd_beats(f_cmd_beats),
        .out_valid(f_valid), .out_ready(1'b1), .out_data(f_data), .out_last(f_last),
        .busy(f_busy), .err(f_rd_err),
        .m_axi_arid(f_arid_unused), .m_axi_araddr(arb_araddr[ADDR_W +: ADDR_W]), .m_axi_arlen(arb_arlen[8 +: 8]),
        .m_axi_arsize(arb_arsize[3 +: 3]), .m_axi_arburst(arb_arburst[2 +: 2]), .m_axi_arcache(arb_arcache[4 +: 4]),
        .m_axi_arprot(arb_arprot[3 +: 3]), .m_axi_arvalid(arb_arvalid[1]), .m_axi_arready(arb_arready[1]),
        .m_axi_rid(1'b1), .m_axi_rdata(arb_rdata), .m_axi_rresp(arb_rresp), .m_axi_rlast(arb_rlast),
        .m_axi_rvalid(arb_rvalid[1]), .m_axi_rready(arb_rready[1])
    );
    assign dec = ififo[if_rd];

    // ---------------- on-chip memories ----------------
    // ACT: windows of W = UA_ACT_WORD_COLS * COLS bytes; the weight halves: windows of COLS bytes (vitaccel_wmem).
    localparam int W      = 32'(vitaccel_isa_pkg::UA_ACT_WORD_COLS) * COLS;

    logic              act_rd_en, act_wr_en;
    logic [31:0]       act_rd_addr, act_wr_addr;
    logic [W*8-1:0]    act_rd_data, act_wr_data;
    logic [W-1:0]      act_wr_be;
    logic              wb_rd_en, wb_rd_half;
    logic [31:0]       wb_rd_addr;
    logic [COLS*8-1:0] wb_rd_data;

    vitaccel_wmem #(.BYTES(ACT_BYTES), .NB(W / 16)) u_act (
        .clk, .rd_en(act_rd_en), .rd_addr(act_rd_addr), .rd_data(act_rd_data),
        .wr_en(act_wr_en), .wr_addr(act_wr_addr), .wr_data(act_wr_data), .wr_be(act_wr_be)
    );

    // the DMA writes COLS-byte windows (both memories), 16-byte aligned
    logic              mem_wr_act, mem_wr_wb, mem_wr_half;
    logic [31:0]       mem_wr_addr;
    logic [COLS*8-1:0] mem_wr_data;
    logic [COLS-1:0]   mem_wr_be;

    vitaccel_wbuf #(.WBUF_BYTES(WBUF_BYTES), .COLS(COLS)) u_wbuf (
        .clk,
        .wr_en(mem_wr_wb), .wr_half(mem_wr_half), .wr_addr(mem_wr_addr), .wr_data(mem_wr_data), .wr_be(mem_wr_be),
        .rd_en(wb_rd_en), .rd_half(wb_rd_half), .rd_addr(wb_rd_addr), .rd_data(wb_rd_data)
    );

    // ---------------- engines: DMA and compute (GEMM / LAYERNORM / ROUTE), each with its own instruction ----------
    logic [255:0]      instr_d, instr_c;        // the instruction each engine executes (held while it runs)
    logic [1:0]        wf_d, wf_c;              // weight-half FULL state each engine's checks see (program order)
    logic [31:0]       pc_c;                    // its instruction index (ERROR_PC of a run-time error)
    logic              run_d, run_c;            // engine running (start .. done)
    logic              d_ld_wb;                 // the DMA runs a LOAD into a weight half (non-blocking)
    logic              d_half;

    logic                dma_start, dma_done;
    /* verilator lint_off UNUSEDSIGNAL */  // the dispatcher tracks the DMA with run_d
    logic                dma_busy;
    /* verilator lint_on UNUSEDSIGNAL */
    logic                dma_axi_err;             // with dma_done: an AXI SLVERR / DECERR response (AXI_ERROR)
    logic [31:0]         pc_d;                    // the DMA instruction's index (ERROR_PC of AXI_ERROR)
    logic [7:0]          dma_code;
    logic                d_rd_en;
    logic [31:0]         d_rd_addr;
    // the DMA's NPORTS read masters: port 0 through the arbiter (shared with the fetch), 1..3 to gmem1..3
    localparam int NPORTS = 4;
    logic [NPORTS-1:0]        d_arid, d_arvalid, d_arready, d_rid, d_rlast, d_rvalid, d_rready;
    logic [NPORTS*ADDR_W-1:0] d_araddr;
    logic [NPORTS*8-1:0]      d_arlen;
    logic [NPORTS*3-1:0]      d_arsize, d_arprot;
    logic [NPORTS*2-1:0]      d_arburst, d_rresp;
    logic [NPORTS*4-1:0]      d_arcache;
    logic [NPORTS*DATA_W-1:0] d_rdata;
    // and its NPORTS write masters (STORE bursts round-robin), port p to gmem<p>
    logic [NPORTS-1:0]          d_awid, d_awvalid, d_awready, d_wlast, d_wvalid, d_wready, d_bid, d_bvalid, d_bready;
    logic [NPORTS*ADDR_W-1:0]   d_awaddr;
    logic [NPORTS*8-1:0]        d_awlen;
    logic [NPORTS*2-1:0]        d_awburst, d_bresp;
    logic [NPORTS*DATA_W-1:0]   d_wdata;
    logic [NPORTS*DATA_W/8-1:0] d_wstrb;
    /* verilator lint_off UNUSEDSIGNAL */  // AWCACHE / AWPROT: the ports have none (the block design's defaults)
    logic [NPORTS*4-1:0]        d_awcache;
    logic [NPORTS*3-1:0]        d_awprot;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [NPORTS*3-1:0]        d_awsize;

    vitaccel_dma #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .ACT_BYTES(ACT_BYTES), .WBUF_BYTES(WBUF_BYTES), .COLS(COLS),
                   .NPORTS(NPORTS)) u_dma (
        .clk, .rst_n,
        .instr(instr_d), .image_bytes(hdr[8*vitaccel_isa_pkg::HDR_IMAGE_BYTES_OFF +: 32]),
        .input_bytes(hdr[8*vitaccel_isa_pkg::HDR_INPUT_BYTES_OFF +: 32]),
        .output_bytes(hdr[8*vitaccel_isa_pkg::HDR_OUTPUT_BYTES_OFF +: 32]),
        .image_addr, .input_addr, .output_addr, .wbuf_full(wf_d), .chk_code(dma_code),
        .start(dma_start), .busy(dma_busy), .done(dma_done), .axi_err(dma_axi_err),
        .mem_wr_act, .mem_wr_wb, .mem_wr_half, .mem_wr_addr, .mem_wr_data, .mem_wr_be,
        .act_rd_en(d_rd_en), .act_rd_addr(d_rd_addr), .act_rd_data,
        .m_axi_arid(d_arid), .m_axi_araddr(d_araddr), .m_axi_arlen(d_arlen), .m_axi_arsize(d_arsize),
        .m_axi_arburst(d_arburst), .m_axi_arcache(d_arcache), .m_axi_arprot(d_arprot), .m_axi_arvalid(d_arvalid),
        .m_axi_arready(d_arready), .m_axi_rid(d_rid), .m_axi_rdata(d_rdata), .m_axi_rresp(d_rresp),
        .m_axi_rlast(d_rlast), .m_axi_rvalid(d_rvalid), .m_axi_rready(d_rready),
        .m_axi_awid(d_awid), .m_axi_awaddr(d_awaddr), .m_axi_awlen(d_awlen), .m_axi_awsize(d_awsize),
        .m_axi_awburst(d_awburst), .m_axi_awcache(d_awcache), .m_axi_awprot(d_awprot), .m_axi_awvalid(d_awvalid),
        .m_axi_awready(d_awready), .m_axi_wdata(d_wdata), .m_axi_wstrb(d_wstrb), .m_axi_wlast(d_wlast),
        .m_axi_wvalid(d_wvalid), .m_axi_wready(d_wready), .m_axi_bid(d_bid), .m_axi_bresp(d_bresp),
        .m_axi_bvalid(d_bvalid), .m_axi_bready(d_bready)
    );

    // DMA read port 0 -> arbiter master 0
    assign arb_arvalid[0]        = d_arvalid[0];
    assign arb_araddr[0 +: ADDR_W] = d_araddr[0 +: ADDR_W];
    assign arb_arlen[0 +: 8]     = d_arlen[0 +: 8];
    assign arb_arsize[0 +: 3]    = d_arsize[0 +: 3];
    assign arb_arburst[0 +: 2]   = d_arburst[0 +: 2];
    assign arb_arcache[0 +: 4]   = d_arcache[0 +: 4];
    assign arb_arprot[0 +: 3]    = d_arprot[0 +: 3];
    assign d_arready[0]          = arb_arready[0];
    assign d_rid[0]              = 1'b0;
    assign d_rdata[0 +: DATA_W]  = arb_rdata;
    assign d_rresp[0 +: 2]       = arb_rresp;
    assign d_rlast[0]            = arb_rlast;
    assign d_rvalid[0]           = arb_rvalid[0];
    assign arb_rready[0]         = d_rready[0];

    // DMA read ports 1..3 -> gmem1..3
    assign m_axi_gmem1_ARID    = d_arid[1];
    assign m_axi_gmem1_ARADDR  = d_araddr[1*ADDR_W +: ADDR_W];
    assign m_axi_gmem1_ARLEN   = d_arlen[1*8 +: 8];
    assign m_axi_gmem1_ARSIZE  = d_arsize[1*3 +: 3];
    assign m_axi_gmem1_ARBURST = d_arburst[1*2 +: 2];
    assign m_axi_gmem1_ARCACHE = d_arcache[1*4 +: 4];
    assign m_axi_gmem1_ARPROT  = d_arprot[1*3 +: 3];
    assign m_axi_gmem1_ARVALID = d_arvalid[1];
    assign d_arready[1]         = m_axi_gmem1_ARREADY;
    assign d_rid[1]             = m_axi_gmem1_RID;
    assign d_rdata[1*DATA_W +: DATA_W] = m_axi_gmem1_RDATA;
    assign d_rresp[1*2 +: 2]    = m_axi_gmem1_RRESP;
    assign d_rlast[1]           = m_axi_gmem1_RLAST;
    assign d_rvalid[1]          = m_axi_gmem1_RVALID;
    assign m_axi_gmem1_RREADY  = d_rready[1];
    assign m_axi_gmem2_ARID    = d_arid[2];
    assign m_axi_gmem2_ARADDR  = d_araddr[2*ADDR_W +: ADDR_W];
    assign m_axi_gmem2_ARLEN   = d_arlen[2*8 +: 8];
    assign m_axi_gmem2_ARSIZE  = d_arsize[2*3 +: 3];
    assign m_axi_gmem2_ARBURST = d_arburst[2*2 +: 2];
    assign m_axi_gmem2_ARCACHE = d_arcache[2*4 +: 4];
    assign m_axi_gmem2_ARPROT  = d_arprot[2*3 +: 3];
    assign m_axi_gmem2_ARVALID = d_arvalid[2];
    assign d_arready[2]         = m_axi_gmem2_ARREADY;
    assign d_rid[2]             = m_axi_gmem2_RID;
    assign d_rdata[2*DATA_W +: DATA_W] = m_axi_gmem2_RDATA;
    assign d_rresp[2*2 +: 2]    = m_axi_gmem2_RRESP;
    assign d_rlast[2]           = m_axi_gmem2_RLAST;
    assign d_rvalid[2]          = m_axi_gmem2_RVALID;
    assign m_axi_gmem2_RREADY  = d_rready[2];
    assign m_axi_gmem3_ARID    = d_arid[3];
    assign m_axi_gmem3_ARADDR  = d_araddr[3*ADDR_W +: ADDR_W];
    assign m_axi_gmem3_ARLEN   = d_arlen[3*8 +: 8];
    assign m_axi_gmem3_ARSIZE  = d_arsize[3*3 +: 3];
    assign m_axi_gmem3_ARBURST = d_arburst[3*2 +: 2];
    assign m_axi_gmem3_ARCACHE = d_arcache[3*4 +: 4];
    assign m_axi_gmem3_ARPROT  = d_arprot[3*3 +: 3];
    assign m_axi_gmem3_ARVALID = d_arvalid[3];
    assign d_arready[3]         = m_axi_gmem3_ARREADY;
    assign d_rid[3]             = m_axi_gmem3_RID;
    assign d_rdata[3*DATA_W +: DATA_W] = m_axi_gmem3_RDATA;
    assign d_rresp[3*2 +: 2]    = m_axi_gmem3_RRESP;
    assign d_rlast[3]           = m_axi_gmem3_RLAST;
    assign d_rvalid[3]          = m_axi_gmem3_RVALID;
    assign m_axi_gmem3_RREADY  = d_rready[3];
    // DMA write ports 0..3 -> gmem0..3 (STORE bursts round-robin)
    assign m_axi_gmem0_AWID    = d_awid[0];
    assign m_axi_gmem0_AWADDR  = d_awaddr[0*ADDR_W +: ADDR_W];
    assign m_axi_gmem0_AWLEN   = d_awlen[0*8 +: 8];
    assign m_axi_gmem0_AWSIZE  = d_awsize[0*3 +: 3];
    assign m_axi_gmem0_AWBURST = d_awburst[0*2 +: 2];
    assign m_axi_gmem0_AWVALID = d_awvalid[0];
    assign d_awready[0]         = m_axi_gmem0_AWREADY;
    assign m_axi_gmem0_WDATA   = d_wdata[0*DATA_W +: DATA_W];
    assign m_axi_gmem0_WSTRB   = d_wstrb[0*(DATA_W/8) +: DATA_W/8];
    assign m_axi_gmem0_WLAST   = d_wlast[0];
    assign m_axi_gmem0_WVALID  = d_wvalid[0];
    assign d_wready[0]          = m_axi_gmem0_WREADY;
    assign d_bid[0]             = m_axi_gmem0_BID;
    assign d_bresp[0*2 +: 2]    = m_axi_gmem0_BRESP;
    assign d_bvalid[0]          = m_axi_gmem0_BVALID;
    assign m_axi_gmem0_BREADY  = d_bready[0];
    assign m_axi_gmem1_AWID    = d_awid[1];
    assign m_axi_gmem1_AWADDR  = d_awaddr[1*ADDR_W +: ADDR_W];
    assign m_axi_gmem1_AWLEN   = d_awlen[1*8 +: 8];
    assign m_axi_gmem1_AWSIZE  = d_awsize[1*3 +: 3];
    assign m_axi_gmem1_AWBURST = d_awburst[1*2 +: 2];
    assign m_axi_gmem1_AWVALID = d_awvalid[1];
    assign d_awready[1]         = m_axi_gmem1_AWREADY;
    assign m_axi_gmem1_WDATA   = d_wdata[1*DATA_W +: DATA_W];
    assign m_axi_gmem1_WSTRB   = d_wstrb[1*(DATA_W/8) +: DATA_W/8];
    assign m_axi_gmem1_WLAST   = d_wlast[1];
    assign m_axi_gmem1_WVALID  = d_wvalid[1];
    assign d_wready[1]          = m_axi_gmem1_WREADY;
    assign d_bid[1]             = m_axi_gmem1_BID;
    assign d_bresp[1*2 +: 2]    = m_axi_gmem1_BRESP;
    assign d_bvalid[1]          = m_axi_gmem1_BVALID;
    assign m_axi_gmem1_BREADY  = d_bready[1];
    assign m_axi_gmem2_AWID    = d_awid[2];
    assign m_axi_gmem2_AWADDR  = d_awaddr[2*ADDR_W +: ADDR_W];
    assign m_axi_gmem2_AWLEN   = d_awlen[2*8 +: 8];
    assign m_axi_gmem2_AWSIZE  = d_awsize[2*3 +: 3];
    assign m_axi_gmem2_AWBURST = d_awburst[2*2 +: 2];
    assign m_axi_gmem2_AWVALID = d_awvalid[2];
    assign d_awready[2]         = m_axi_gmem2_AWREADY;
    assign m_axi_gmem2_WDATA   = d_wdata[2*DATA_W +: DATA_W];
    assign m_axi_gmem2_WSTRB   = d_wstrb[2*(DATA_W/8) +: DATA_W/8];
    assign m_axi_gmem2_WLAST   = d_wlast[2];
    assign m_axi_gmem2_WVALID  = d_wvalid[2];
    assign d_wready[2]          = m_axi_gmem2_WREADY;
    assign d_bid[2]             = m_axi_gmem2_BID;
    assign d_bresp[2*2 +: 2]    = m_axi_gmem2_BRESP;
    assign d_bvalid[2]          = m_axi_gmem2_BVALID;
    assign m_axi_gmem2_BREADY  = d_bready[2];
    assign m_axi_gmem3_AWID    = d_awid[3];
    assign m_axi_gmem3_AWADDR  = d_awaddr[3*ADDR_W +: ADDR_W];
    assign m_axi_gmem3_AWLEN   = d_awlen[3*8 +: 8];
    assign m_axi_gmem3_AWSIZE  = d_awsize[3*3 +: 3];
    assign m_axi_gmem3_AWBURST = d_awburst[3*2 +: 2];
    assign m_axi_gmem3_AWVALID = d_awvalid[3];
    assign d_awready[3]         = m_axi_gmem3_AWREADY;
    assign m_axi_gmem3_WDATA   = d_wdata[3*DATA_W +: DATA_W];
    assign m_axi_gmem3_WSTRB   = d_wstrb[3*(DATA_W/8) +: DATA_W/8];
    assign m_axi_gmem3_WLAST   = d_wlast[3];
    assign m_axi_gmem3_WVALID  = d_wvalid[3];
    assign d_wready[3]          = m_axi_gmem3_WREADY;
    assign d_bid[3]             = m_axi_gmem3_BID;
    assign d_bresp[3*2 +: 2]    = m_axi_gmem3_BRESP;
    assign d_bvalid[3]          = m_axi_gmem3_BVALID;
    assign m_axi_gmem3_BREADY  = d_bready[3];
    /* verilator lint_off UNUSEDSIGNAL */
    logic unused_ids;
    assign unused_ids = d_arid[0];  // port 0's ARID is the arbiter's
    /* verilator lint_on UNUSEDSIGNAL */

    logic              g_start, g_busy, g_done, l_start, l_busy, l_done, r_start, r_busy, r_done;
    logic [7:0]        g_chk, g_err, l_chk, l_err, r_chk, r_err;
    logic              g_act_rd_en, g_act_wr_en, l_act_rd_en, l_act_wr_en, r_act_rd_en, r_act_wr_en;
    logic [31:0]       g_act_rd_addr, g_act_wr_addr, l_act_rd_addr, l_act_wr_addr, r_act_rd_addr, r_act_wr_addr;
    logic [W*8-1:0]    g_act_wr_data, l_act_wr_data, r_act_wr_data;
    logic [W-1:0]      g_act_wr_be, l_act_wr_be, r_act_wr_be;
    logic              g_wb_rd_en, g_wb_rd_half, l_wb_rd_en, l_wb_rd_half, r_wb_rd_en, r_wb_rd_half;
    logic [31:0]       g_wb_rd_addr, l_wb_rd_addr, r_wb_rd_addr;
    // expert queues (owned by the ROUTE engine): the GEMM's port and the sequencer's `cond` length port
    logic              q_clear, q_routed, q_rd_en;
    logic [7:0]        q_experts;
    logic [5:0]        q_rd_expert;
    logic [15:0]       q_len, q_len_t, q_rd_index, q_rd_token, q_rd_weight;

    vitaccel_gemm_seq #(.ACT_BYTES(ACT_BYTES), .WBUF_BYTES(WBUF_BYTES), .ROWS(ROWS), .COLS(COLS), .PACK(PACK),
                        .MAX_TOKENS(MAX_TOKENS), .MAX_EXPERTS(MAX_EXPERTS), .SM_LANES(SM_LANES),
                        .EPI_LANES(EPI_LANES)) u_gemm (
        .clk, .rst_n, .instr(instr_c), .wbuf_full(wf_c), .chk_code(g_chk), .start(g_start), .busy(g_busy),
        .done(g_done), .err_code(g_err),
        .act_rd_en(g_act_rd_en), .act_rd_addr(g_act_rd_addr), .act_rd_data,
        .act_wr_en(g_act_wr_en), .act_wr_addr(g_act_wr_addr), .act_wr_data(g_act_wr_data), .act_wr_be(g_act_wr_be),
        .wb_rd_en(g_wb_rd_en), .wb_rd_half(g_wb_rd_half), .wb_rd_addr(g_wb_rd_addr), .wb_rd_data,
        .q_routed, .q_experts, .q_len, .q_rd_en, .q_rd_expert, .q_rd_index, .q_rd_token, .q_rd_weight
    );

    vitaccel_ln_seq #(.ACT_BYTES(ACT_BYTES), .WBUF_BYTES(WBUF_BYTES), .COLS(COLS), .LANES(LN_LANES),
                      .MAX_COLS(32'(vitaccel_isa_pkg::UA_LN_MAX_COLS))) u_ln (
        .clk, .rst_n, .instr(instr_c), .wbuf_full(wf_c), .chk_code(l_chk), .start(l_start), .busy(l_busy),
        .done(l_done), .err_code(l_err),
        .act_rd_en(l_act_rd_en), .act_rd_addr(l_act_rd_addr), .act_rd_data,
        .act_wr_en(l_act_wr_en), .act_wr_addr(l_act_wr_addr), .act_wr_data(l_act_wr_data), .act_wr_be(l_act_wr_be),
        .wb_rd_en(l_wb_rd_en), .wb_rd_half(l_wb_rd_half), .wb_rd_addr(l_wb_rd_addr), .wb_rd_data
    );

    vitaccel_route_seq #(.ACT_BYTES(ACT_BYTES), .WBUF_BYTES(WBUF_BYTES), .ROWS(ROWS), .COLS(COLS),
                         .MAX_TOKENS(MAX_TOKENS), .MAX_EXPERTS(MAX_EXPERTS), .MAX_TOPK(MAX_TOPK)) u_route (
        .clk, .rst_n, .instr(instr_c), .wbuf_full(wf_c), .chk_code(r_chk), .start(r_start), .busy(r_busy),
        .done(r_done), .err_code(r_err),
        .act_rd_en(r_act_rd_en), .act_rd_addr(r_act_rd_addr), .act_rd_data,
        .act_wr_en(r_act_wr_en), .act_wr_addr(r_act_wr_addr), .act_wr_data(r_act_wr_data), .act_wr_be(r_act_wr_be),
        .wb_rd_en(r_wb_rd_en), .wb_rd_half(r_wb_rd_half), .wb_rd_addr(r_wb_rd_addr), .wb_rd_data,
        .q_clear, .q_routed, .q_experts,
        .q_len_expert(instr_c[vitaccel_isa_pkg::F_GEMM_EXPERT_LO +: 6]), .q_len,
        .q_len2_expert(dec[vitaccel_isa_pkg::F_GEMM_EXPERT_LO +: 6]), .q_len2(q_len_t),
        .q_rd_en, .q_rd_expert, .q_rd_index, .q_rd_token, .q_rd_weight
    );

    // ACT / weight-buffer ports: the running compute engine, else the DMA. A blocking DMA (LOAD to ACT, IM2COL,
    // STORE) never runs next to a compute engine; a weight LOAD does, and only writes the weight buffer.
    always_comb begin
        act_rd_en = 1'b0;  act_rd_addr = '0;  act_wr_en = 1'b0;  act_wr_addr = '0;  act_wr_data = '0;
        act_wr_be = '0;  wb_rd_en = 1'b0;  wb_rd_half = 1'b0;  wb_rd_addr = '0;
        if (g_busy) begin
            act_rd_en = g_act_rd_en;  act_rd_addr = g_act_rd_addr;
            act_wr_en = g_act_wr_en;  act_wr_addr = g_act_wr_addr;  act_wr_data = g_act_wr_data;  act_wr_be = g_act_wr_be;
            wb_rd_en = g_wb_rd_en;  wb_rd_half = g_wb_rd_half;  wb_rd_addr = g_wb_rd_addr;
        end else if (l_busy) begin
            act_rd_en = l_act_rd_en;  act_rd_addr = l_act_rd_addr;
            act_wr_en = l_act_wr_en;  act_wr_addr = l_act_wr_addr;  act_wr_data = l_act_wr_data;  act_wr_be = l_act_wr_be;
            wb_rd_en = l_wb_rd_en;  wb_rd_half = l_wb_rd_half;  wb_rd_addr = l_wb_rd_addr;
        end else if (r_busy) begin
            act_rd_en = r_act_rd_en;  act_rd_addr = r_act_rd_addr;
            act_wr_en = r_act_wr_en;  act_wr_addr = r_act_wr_addr;  act_wr_data = r_act_wr_data;  act_wr_be = r_act_wr_be;
            wb_rd_en = r_wb_rd_en;  wb_rd_half = r_wb_rd_half;  wb_rd_addr = r_wb_rd_addr;
        end else begin
            act_rd_en = d_rd_en;  act_rd_addr = d_rd_addr;
            act_wr_en = mem_wr_act;  act_wr_addr = mem_wr_addr;  act_wr_data = (W*8)'(mem_wr_data);
            act_wr_be = W'(mem_wr_be);
        end
    end

    // ---------------- dispatcher ----------------
    // In program order, one instruction per clock at best: common decode checks, `cond`, then the instruction
    // waits for its engine and its hazards (docs/isa.md section 4), gets its own copy of the instruction and of
    // the weight-half state (program order), and the engine's operand check decides one clock later.
    typedef enum logic [2:0] {S_IDLE, S_HDR, S_HDR_CHK, S_DECODE, S_CHECK, S_DRAIN, S_FINISH} state_t;
    state_t state;
    logic [31:0]   pc;
    logic [7:0]    code;            // first error (program order) or NONE
    logic [31:0]   code_pc;
    logic [1:0]    lfull;           // weight-half state in program order (LOAD fills, release empties)
    logic [1:0]    pend_rel;        // a dispatched compute instruction releases this half and has not finished
    logic [63:0]   stall_cycles;
    logic [2:0]    tgt;             // engine of the instruction in S_CHECK: 0 DMA, 1 GEMM, 2 LN, 3 ROUTE
    logic [5:0]    hdr_beat;

    // decode of the FIFO head
    logic [7:0]   opc;
    logic [3:0]   ver;
    logic         legal, is_dma, is_gemm, is_ln, is_route, d_wb_load, d_blocking, d_cond, d_reads_wb;
    logic         d_half_bit, c_is_route, wait_ok, stall_now;
    logic [255:0] used;
    assign opc = dec[7:0];
    assign ver = dec[11:8];
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
            8'(vitaccel_isa_pkg::OP_GEMM):      used = dec[vitaccel_isa_pkg::F_GEMM_PIMM_LO]
                                                     ? vitaccel_isa_masks_pkg::USED_GEMM_PIMM1
                                                     : vitaccel_isa_masks_pkg::USED_GEMM;
            8'(vitaccel_isa_pkg::OP_ROUTE):     used = vitaccel_isa_masks_pkg::USED_ROUTE;
            default:                            legal = 1'b0;
        endcase
    end
    assign is_dma     = opc == 8'(vitaccel_isa_pkg::OP_LOAD) || opc == 8'(vitaccel_isa_pkg::OP_STORE)
                        || opc == 8'(vitaccel_isa_pkg::OP_IM2COL);
    assign is_gemm    = opc == 8'(vitaccel_isa_pkg::OP_GEMM);
    assign is_ln      = opc == 8'(vitaccel_isa_pkg::OP_LAYERNORM);
    assign is_route   = opc == 8'(vitaccel_isa_pkg::OP_ROUTE);
    assign d_wb_load  = opc == 8'(vitaccel_isa_pkg::OP_LOAD)
                        && dec[vitaccel_isa_pkg::F_LOAD_SPACE_LO +: 2] == 2'(vitaccel_isa_pkg::SPACE_WBUF);
    assign d_blocking = is_dma && !d_wb_load;
    // common header fields sit at the same bits for every opcode that may set them (the masks reject the rest)
    assign d_cond     = dec[vitaccel_isa_pkg::F_GEMM_COND_LO];
    assign d_half_bit = dec[vitaccel_isa_pkg::F_GEMM_WBUF_LO];
    assign d_reads_wb = is_ln || is_route || (is_gemm && (dec[vitaccel_isa_pkg::F_GEMM_BSRC_LO]
                                                          == 1'(vitaccel_isa_pkg::BSRC_WBUF)
                                                          || !dec[vitaccel_isa_pkg::F_GEMM_PIMM_LO]));
    assign c_is_route = run_c && instr_c[7:0] == 8'(vitaccel_isa_pkg::OP_ROUTE);

    // may the FIFO head start now (engine free, hazards clear)?
    always_comb begin
        if (d_wb_load)        wait_ok = !run_d && !pend_rel[d_half_bit];
        else if (d_blocking)  wait_ok = !run_d && !run_c;
        else if (opc == 8'(vitaccel_isa_pkg::OP_SYNC)) wait_ok = !run_d && !run_c;
        else                  wait_ok = !run_c && !(run_d && (!d_ld_wb || (d_reads_wb && d_half == d_half_bit)));
        // a conditional instruction needs the queues of the last ROUTE
        if (d_cond && c_is_route) wait_ok = 1'b0;
        stall_now = !wait_ok && !run_c && (is_gemm || is_ln || is_route);
    end

    // the engine check of the instruction in S_CHECK
    logic [7:0] eng_chk;
    always_comb begin
        case (tgt)
            3'd0:    eng_chk = dma_code;
            3'd1:    eng_chk = g_chk;
            3'd2:    eng_chk = l_chk;
            default: eng_chk = r_chk;
        endcase
    end

    // run-time errors: the compute engine's, and the DMA's AXI_ERROR (a bus error response); both engines may
    // finish in one clock (a weight LOAD runs next to compute, either may be first in program order): rt_code /
    // rt_pc is the earlier of the two. Earlier in program order than anything not yet dispatched.
    logic [7:0]  c_err, d_err, rt_code;
    logic [31:0] rt_pc;
    assign c_err = g_done ? g_err : l_done ? l_err : r_done ? r_err : E_NONE;
    assign d_err = (dma_done && dma_axi_err) ? E_AXI : E_NONE;
    always_comb begin
        rt_code = c_err;
        rt_pc   = pc_c;
        if (d_err != E_NONE && (c_err == E_NONE || pc_d < pc_c)) begin
            rt_code = d_err;
            rt_pc   = pc_d;
        end
    end

    logic dec_ok, cond_wait, cond_bad, retire_now;
    assign dec_ok     = legal && ver == 4'(vitaccel_isa_pkg::ISA_MAJOR) && (dec & ~used) == '0
                        && opc != 8'(vitaccel_isa_pkg::OP_END);
    assign cond_wait  = d_cond && c_is_route;
    assign cond_bad   = d_cond && (!q_routed || 8'(dec[vitaccel_isa_pkg::F_GEMM_EXPERT_LO +: 6]) >= q_experts);
    assign retire_now = (d_cond && q_len_t == 16'd0) || opc == 8'(vitaccel_isa_pkg::OP_NOP)
                        || (opc == 8'(vitaccel_isa_pkg::OP_SYNC) && wait_ok);
    assign if_pop = (state == S_DECODE && rt_code == E_NONE && 64'(pc) < instr_count && if_count != '0 && dec_ok
                     && !ififo_err[if_rd] && !cond_wait && !cond_bad && retire_now)
                    || (state == S_CHECK && eng_chk == E_NONE && rt_code == E_NONE);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            state        <= S_IDLE;
            ap_done      <= 1'b0;
            ap_ready     <= 1'b0;
            ap_idle      <= 1'b1;
            f_cmd_valid  <= 1'b0;
            fetching     <= 1'b0;
            dma_start    <= 1'b0;
            g_start      <= 1'b0;
            l_start      <= 1'b0;
            r_start      <= 1'b0;
            q_clear      <= 1'b0;
            run_d        <= 1'b0;
            run_c        <= 1'b0;
            status       <= '0;
            error_pc     <= '0;
            cycles       <= '0;
            stall_cycles <= '0;
            if_count     <= '0;
            if_reserved  <= '0;
            if_wr        <= '0;
            if_rd        <= '0;
            f_beat       <= '0;
            f_hdr        <= 1'b0;
            hdr_err      <= 1'b0;
            f_asm_err    <= 1'b0;
        end else begin
            ap_done  <= 1'b0;
            ap_ready <= 1'b0;
            if (!ap_idle) cycles <= cycles + 64'd1;
            dma_start  <= 1'b0;
            g_start    <= 1'b0;
            l_start    <= 1'b0;
            r_start    <= 1'b0;
            q_clear    <= 1'b0;

            // ---- fetch: the header, then program bursts while the FIFO has room for a whole burst ----
            if (f_cmd_valid && f_cmd_ready) f_cmd_valid <= 1'b0;
            if (fetching && !f_cmd_valid && !f_busy && 64'(fpc) < instr_count
                && 32'(if_reserved) + 32'(FB) <= 32'(IFD)) begin
                f_cmd_valid <= 1'b1;
                f_cmd_addr  <= ADDR_W'(program_addr + {27'd0, fpc, 5'd0});
                if (instr_count - 64'(fpc) < 64'(FB)) begin
                    f_cmd_beats <= 32'(instr_count - 64'(fpc)) * 32'(INSTR_BEATS);
                    fpc         <= 32'(instr_count);
                end else begin
                    f_cmd_beats <= 32'(FB * INSTR_BEATS);
                    fpc         <= fpc + 32'(FB);
                end
            end
            if (f_valid) begin
                if (f_hdr) begin
                    hdr[32'(hdr_beat)*DATA_W +: DATA_W] <= f_data;
                    hdr_beat <= hdr_beat + 6'd1;
                    if (f_berr) hdr_err <= 1'b1;
                    if (f_last) f_hdr <= 1'b0;
                end else begin
                    if (32'(f_beat) == INSTR_BEATS - 1) begin
                        ififo[if_wr]     <= {f_data, f_asm};
                        ififo_err[if_wr] <= f_asm_err || f_berr;
                        f_asm_err        <= 1'b0;
                        if_wr            <= if_wr + IFW'(1);
                        f_beat           <= 5'd0;
                    end else begin
                        f_asm[32'(f_beat)*DATA_W +: DATA_W] <= f_data;
                        if (f_berr) f_asm_err <= 1'b1;
                        f_beat <= f_beat + 5'd1;
                    end
                end
            end
            // FIFO occupancy: + a completed instruction, - a pop; reserved counts requested ones too
            if_count <= if_count + ((!f_hdr && f_valid && 32'(f_beat) == INSTR_BEATS - 1) ? (IFW+1)'(1) : '0)
                        - (if_pop ? (IFW+1)'(1) : '0);
            if_reserved <= if_reserved + ((fetching && !f_cmd_valid && !f_busy && 64'(fpc) < instr_count
                                           && 32'(if_reserved) + 32'(FB) <= 32'(IFD))
                                          ? ((instr_count - 64'(fpc) < 64'(FB)) ? (IFW+1)'(instr_count - 64'(fpc))
                                                                               : (IFW+1)'(FB)) : '0)
                           - (if_pop ? (IFW+1)'(1) : '0);
            if (if_pop) if_rd <= if_rd + IFW'(1);

            // ---- engine completion ----
            if (dma_done) run_d <= 1'b0;
            if (g_done || l_done || r_done) begin
                run_c    <= 1'b0;
                pend_rel <= '0;
            end
            if (rt_code != E_NONE && rt_pc < code_pc) begin
                code    <= rt_code;
                code_pc <= rt_pc;
            end

            case (state)
                S_IDLE: if (ap_start) begin
                    ap_ready    <= 1'b1;
                    ap_idle     <= 1'b0;
                    cycles      <= '0;
                    stall_cycles <= '0;
                    q_clear     <= 1'b1;
                    lfull       <= 2'b00;
                    pend_rel    <= 2'b00;
                    code        <= E_NONE;
                    code_pc     <= 32'hFFFF_FFFF;
                    if_count    <= '0;
                    if_reserved <= '0;
                    if_wr       <= '0;
                    if_rd       <= '0;
                    f_beat      <= '0;
                    f_asm_err   <= 1'b0;
                    hdr_err     <= 1'b0;
                    hdr_beat    <= '0;
                    f_hdr       <= 1'b1;
                    fpc         <= '0;
                    f_cmd_valid <= 1'b1;
                    f_cmd_addr  <= ADDR_W'(image_addr);
                    f_cmd_beats <= 32'(HDR_BEATS);
                    state       <= S_HDR;
                end
                S_HDR: if (!f_hdr && !f_cmd_valid) state <= S_HDR_CHK;
                S_HDR_CHK: begin
                    pc <= '0;
                    if (hdr_err) begin                // the header read got an AXI error response
                        code    <= E_AXI;
                        code_pc <= 32'hFFFF_FFFF;
                        state   <= S_DRAIN;
                    end else if (hdr[8*vitaccel_isa_pkg::HDR_MAGIC_OFF +: 32] != vitaccel_isa_pkg::IMAGE_MAGIC
                        || hdr[8*vitaccel_isa_pkg::HDR_ISA_MAJOR_OFF +: 16] != 16'(vitaccel_isa_pkg::ISA_MAJOR)
                        || hdr[8*vitaccel_isa_pkg::HDR_CONFIG_HASH_OFF +: 32] != CONFIG_HASH) begin
                        code    <= E_IMAGE;
                        code_pc <= 32'hFFFF_FFFF;
                        state   <= S_DRAIN;
                    end else begin
                        fetching <= 1'b1;
                        state    <= S_DECODE;
                    end
                end
                S_DECODE: begin
                    if (rt_code != E_NONE) begin
                        state <= S_DRAIN;             // an earlier instruction failed at run time
                    end else if (64'(pc) >= instr_count) begin
                        code <= E_NO_END;  code_pc <= pc;  state <= S_DRAIN;
                    end else if (if_count != '0) begin
                        if (ififo_err[if_rd]) begin   // its fetch got an AXI error response
                            code <= E_AXI;  code_pc <= pc;  state <= S_DRAIN;
                        end else if (!legal) begin
                            code <= E_ILLEGAL;  code_pc <= pc;  state <= S_DRAIN;
                        end else if (ver != 4'(vitaccel_isa_pkg::ISA_MAJOR)) begin
                            code <= E_VERSION;  code_pc <= pc;  state <= S_DRAIN;
                        end else if ((dec & ~used) != '0) begin
                            code <= E_FIELD;  code_pc <= pc;  state <= S_DRAIN;
                        end else if (opc == 8'(vitaccel_isa_pkg::OP_END)) begin
                            state <= S_DRAIN;
                        end else if (d_cond && c_is_route) begin
                            ;                          // wait for the deciding ROUTE
                        end else if (d_cond && !q_routed) begin
                            code <= E_FIELD;  code_pc <= pc;  state <= S_DRAIN;   // queue before any ROUTE
                        end else if (d_cond && 8'(dec[vitaccel_isa_pkg::F_GEMM_EXPERT_LO +: 6]) >= q_experts) begin
                            code <= E_FIELD;  code_pc <= pc;  state <= S_DRAIN;
                        end else if ((d_cond && q_len_t == 16'd0) || opc == 8'(vitaccel_isa_pkg::OP_NOP)) begin
                            pc <= pc + 32'd1;          // skipped (empty queue: no state change) / NOP
                        end else if (opc == 8'(vitaccel_isa_pkg::OP_SYNC)) begin
                            if (wait_ok) pc <= pc + 32'd1;
                        end else if (wait_ok) begin
                            if (is_dma) begin
                                instr_d <= dec;  wf_d <= lfull;  pc_d <= pc;  tgt <= 3'd0;
                            end else begin
                                instr_c <= dec;  wf_c <= lfull;  pc_c <= pc;
                                tgt     <= is_gemm ? 3'd1 : is_ln ? 3'd2 : 3'd3;
                            end
                            state <= S_CHECK;
                        end else if (stall_now) begin
                            stall_cycles <= stall_cycles + 64'd1;
                        end
                    end
                end
                S_CHECK: begin
                    if (rt_code != E_NONE) begin
                        state <= S_DRAIN;
                    end else if (eng_chk != E_NONE) begin
                        code <= eng_chk;  code_pc <= pc;  state <= S_DRAIN;
                    end else begin
                        if (tgt == 3'd0) begin
                            dma_start <= 1'b1;
                            run_d     <= 1'b1;
                            d_ld_wb   <= instr_d[7:0] == 8'(vitaccel_isa_pkg::OP_LOAD)
                                         && instr_d[vitaccel_isa_pkg::F_LOAD_SPACE_LO +: 2]
                                            == 2'(vitaccel_isa_pkg::SPACE_WBUF);
                            d_half    <= instr_d[vitaccel_isa_pkg::F_LOAD_WBUF_LO];
                            if (instr_d[7:0] == 8'(vitaccel_isa_pkg::OP_LOAD)
                                && instr_d[vitaccel_isa_pkg::F_LOAD_SPACE_LO +: 2] == 2'(vitaccel_isa_pkg::SPACE_WBUF))
                                lfull[instr_d[vitaccel_isa_pkg::F_LOAD_WBUF_LO]] <= 1'b1;
                        end else begin
                            g_start <= tgt == 3'd1;
                            l_start <= tgt == 3'd2;
                            r_start <= tgt == 3'd3;
                            run_c   <= 1'b1;
                            if (instr_c[vitaccel_isa_pkg::F_GEMM_RELEASE_LO]) begin
                                lfull[instr_c[vitaccel_isa_pkg::F_GEMM_WBUF_LO]]    <= 1'b0;
                                pend_rel[instr_c[vitaccel_isa_pkg::F_GEMM_WBUF_LO]] <= 1'b1;
                            end
                        end
                        pc    <= pc + 32'd1;
                        state <= S_DECODE;
                    end
                end
                S_DRAIN: begin
                    // everything dispatched finishes (a run-time error of an earlier instruction wins); the
                    // fetcher's outstanding reads arrive before ap_done
                    fetching <= 1'b0;
                    if (!run_d && !run_c && !dma_start && !g_start && !l_start && !r_start && !f_busy
                        && !f_cmd_valid) state <= S_FINISH;
                end
                S_FINISH: begin
                    status   <= (32'(code) << vitaccel_isa_pkg::REGF_STATUS_CODE_LO)
                                | (32'(code != E_NONE) << vitaccel_isa_pkg::REGF_STATUS_ERROR_LO)
                                | (32'd1 << vitaccel_isa_pkg::REGF_STATUS_DONE_LO);
                    error_pc <= (code == E_NONE) ? 32'd0 : code_pc;
                    ap_done  <= 1'b1;
                    ap_idle  <= 1'b1;
                    state    <= S_IDLE;
                end
                default: state <= S_IDLE;
            endcase
        end
    end
endmodule
