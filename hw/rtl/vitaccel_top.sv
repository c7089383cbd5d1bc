// vitaccel_top: the accelerator's top level as a Vivado block design sees it (Vitis HLS port naming:
// ap_clk, ap_rst_n, s_axi_control_*, m_axi_gmem_*, interrupt), so the PS connects to it exactly like to the
// HLS kernel.
//
// STATUS OF THIS LEVEL: control path only. It implements the s_axilite register map (vitaccel_ctrl), the
// memory-image header check, instruction fetch over AXI4 (vitaccel_axi_rd) and the decode-time checks of the
// ISA simulator, in its order: NO_END (pc reached INSTR_COUNT), ILLEGAL_OPCODE, BAD_VERSION, BAD_FIELD
// (reserved bits, masks from vitaccel_isa_masks_pkg), then END finishes and NOP / SYNC retire. Instructions
// that move data or compute (LOAD, STORE, IM2COL, LAYERNORM, GEMM, ROUTE) are not dispatched to the datapath
// yet: they stop the program with ErrorCode UNSUPPORTED at their index. Errors never hang: the sequencer
// always reaches ap_done with STATUS = {done, error, code} and ERROR_PC (0xFFFFFFFF for image errors).
module vitaccel_top #(
    parameter logic [31:0] CONFIG_HASH = 32'h0,
    parameter int          DATA_W      = 128,
    parameter int          ADDR_W      = 64   // the register map carries 64-bit addresses (as the HLS build)
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
    // AXI4 master to DDR (write channels idle until the STORE path exists)
    output logic [0:0]          m_axi_gmem_AWID,
    output logic [ADDR_W-1:0]   m_axi_gmem_AWADDR,
    output logic [7:0]          m_axi_gmem_AWLEN,
    output logic [2:0]          m_axi_gmem_AWSIZE,
    output logic [1:0]          m_axi_gmem_AWBURST,
    output logic                m_axi_gmem_AWVALID,
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic                m_axi_gmem_AWREADY,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic [DATA_W-1:0]   m_axi_gmem_WDATA,
    output logic [DATA_W/8-1:0] m_axi_gmem_WSTRB,
    output logic                m_axi_gmem_WLAST,
    output logic                m_axi_gmem_WVALID,
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic                m_axi_gmem_WREADY,
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [0:0]          m_axi_gmem_BID,
    input  logic [1:0]          m_axi_gmem_BRESP,
    input  logic                m_axi_gmem_BVALID,
    /* verilator lint_on UNUSEDSIGNAL */
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
    /* verilator lint_off UNUSEDSIGNAL */
    logic [63:0] unused_args;
    assign unused_args = input_addr ^ output_addr ^ image_addr;   // used by the DMA path (not yet present)
    /* verilator lint_on UNUSEDSIGNAL */

    // ---------------- AXI read master: header + instruction fetch ----------------
    logic                rd_cmd_valid, rd_cmd_ready, rd_valid, rd_last;
    /* verilator lint_off UNUSEDSIGNAL */  // no ErrorCode exists yet for an AXI SLVERR / DECERR response
    logic                rd_busy, rd_err;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [ADDR_W-1:0]   rd_cmd_addr;
    logic [31:0]         rd_cmd_beats;
    logic [DATA_W-1:0]   rd_data;

    vitaccel_axi_rd #(.ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(256), .MAX_OUTSTANDING(2)) u_rd (
        .clk, .rst_n,
        .cmd_valid(rd_cmd_valid), .cmd_ready(rd_cmd_ready), .cmd_addr(rd_cmd_addr), .cmd_beats(rd_cmd_beats),
        .out_valid(rd_valid), .out_ready(1'b1), .out_data(rd_data), .out_last(rd_last),
        .busy(rd_busy), .err(rd_err),
        .m_axi_arid(m_axi_gmem_ARID), .m_axi_araddr(m_axi_gmem_ARADDR), .m_axi_arlen(m_axi_gmem_ARLEN),
        .m_axi_arsize(m_axi_gmem_ARSIZE), .m_axi_arburst(m_axi_gmem_ARBURST), .m_axi_arcache(m_axi_gmem_ARCACHE),
        .m_axi_arprot(m_axi_gmem_ARPROT), .m_axi_arvalid(m_axi_gmem_ARVALID), .m_axi_arready(m_axi_gmem_ARREADY),
        .m_axi_rid(m_axi_gmem_RID), .m_axi_rdata(m_axi_gmem_RDATA), .m_axi_rresp(m_axi_gmem_RRESP),
        .m_axi_rlast(m_axi_gmem_RLAST), .m_axi_rvalid(m_axi_gmem_RVALID), .m_axi_rready(m_axi_gmem_RREADY)
    );

    // write channels idle
    assign m_axi_gmem_AWID    = 1'b0;
    assign m_axi_gmem_AWADDR  = '0;
    assign m_axi_gmem_AWLEN   = '0;
    assign m_axi_gmem_AWSIZE  = 3'($clog2(BYTES));
    assign m_axi_gmem_AWBURST = 2'b01;
    assign m_axi_gmem_AWVALID = 1'b0;
    assign m_axi_gmem_WDATA   = '0;
    assign m_axi_gmem_WSTRB   = '0;
    assign m_axi_gmem_WLAST   = 1'b0;
    assign m_axi_gmem_WVALID  = 1'b0;
    assign m_axi_gmem_BREADY  = 1'b1;

    // ---------------- sequencer ----------------
    typedef enum logic [2:0] {S_IDLE, S_HDR, S_HDR_CHK, S_FETCH, S_IDATA, S_DECODE, S_FINISH} state_t;
    state_t state;
    /* verilator lint_off UNUSEDSIGNAL */  // byte counts are for the DMA range checks (not yet present)
    logic [511:0]  hdr;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [255:0]  instr;
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
            rd_cmd_valid <= 1'b0;
            status       <= '0;
            error_pc     <= '0;
            cycles       <= '0;
        end else begin
            ap_done  <= 1'b0;
            ap_ready <= 1'b0;
            if (!ap_idle) cycles <= cycles + 64'd1;
            if (rd_cmd_valid && rd_cmd_ready) rd_cmd_valid <= 1'b0;
            case (state)
                S_IDLE: if (ap_start) begin
                    ap_ready     <= 1'b1;
                    ap_idle      <= 1'b0;
                    cycles       <= '0;
                            beat         <= '0;
                    rd_cmd_valid <= 1'b1;
                    rd_cmd_addr  <= ADDR_W'(image_addr);
                    rd_cmd_beats <= 32'(HDR_BEATS);
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
                        rd_cmd_valid <= 1'b1;
                        rd_cmd_addr  <= ADDR_W'(program_addr + {27'd0, pc, 5'd0});
                        rd_cmd_beats <= 32'(INSTR_BEATS);
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
                    end else                                               code <= E_UNSUPP;
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
