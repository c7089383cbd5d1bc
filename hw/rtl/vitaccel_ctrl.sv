// vitaccel_ctrl: AXI4-Lite control slave in the Vitis HLS s_axilite layout (contract 2, vitaccel.isa.regmap).
//
// Offsets are vitaccel_isa_pkg::REG_* (generated from the register map, never typed here):
//   AP_CTRL  bit0 ap_start (write 1; cleared by ap_ready unless auto_restart), bit1 ap_done (clear on read),
//            bit2 ap_idle (core), bit3 ap_ready (clear on read), bit7 auto_restart (rw)
//   GIE      bit0 global interrupt enable;   IER  bit0 ap_done, bit1 ap_ready
//   ISR      bit0 ap_done, bit1 ap_ready latched when enabled in IER; a write toggles the bits written as 1
//   PROGRAM_ADDR, INSTR_COUNT, IMAGE_ADDR, INPUT_ADDR, OUTPUT_ADDR: 64-bit rw arguments (LO / HI words)
//   ID, ISA_VERSION, CONFIG_HASH: constants; STATUS, ERROR_PC, CYCLES, STALL_CYCLES: from the core.
//   every output's _CTRL word: bit0 ap_vld, set at ap_done, cleared when the _CTRL word is read.
// interrupt = GIE & (ISR != 0). Unmapped offsets read 0, writes to them and to read-only words are ignored
// (OKAY response, as Vitis HLS does). Byte strobes are honoured on the rw words.
module vitaccel_ctrl #(
    parameter logic [31:0] CONFIG_HASH = 32'h0
) (
    input  logic        clk,
    input  logic        rst_n,
    // AXI4-Lite slave (Vitis HLS naming: s_axi_control_*)
    /* verilator lint_off UNUSEDSIGNAL */  // address bits [1:0]: word-aligned access
    input  logic [7:0]  s_axi_control_AWADDR,
    input  logic        s_axi_control_AWVALID,
    output logic        s_axi_control_AWREADY,
    input  logic [31:0] s_axi_control_WDATA,
    input  logic [3:0]  s_axi_control_WSTRB,
    input  logic        s_axi_control_WVALID,
    output logic        s_axi_control_WREADY,
    output logic [1:0]  s_axi_control_BRESP,
    output logic        s_axi_control_BVALID,
    input  logic        s_axi_control_BREADY,
    input  logic [7:0]  s_axi_control_ARADDR,
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic        s_axi_control_ARVALID,
    output logic        s_axi_control_ARREADY,
    output logic [31:0] s_axi_control_RDATA,
    output logic [1:0]  s_axi_control_RRESP,
    output logic        s_axi_control_RVALID,
    input  logic        s_axi_control_RREADY,
    /* verilator lint_off SYMRSVDWORD */  // `interrupt` is the Vitis HLS port name
    output logic        interrupt,
    /* verilator lint_on SYMRSVDWORD */
    // core side
    output logic        ap_start,
    input  logic        ap_done,     // one-cycle pulse
    input  logic        ap_idle,
    input  logic        ap_ready,    // one-cycle pulse: the core has taken ap_start
    output logic [63:0] program_addr,
    output logic [63:0] instr_count,
    output logic [63:0] image_addr,
    output logic [63:0] input_addr,
    output logic [63:0] output_addr,
    input  logic [31:0] status,
    input  logic [31:0] error_pc,
    input  logic [63:0] cycles,
    input  logic [63:0] stall_cycles
);
    localparam logic [7:0] A_AP_CTRL = 8'(vitaccel_isa_pkg::REG_AP_CTRL);
    localparam logic [7:0] A_GIE     = 8'(vitaccel_isa_pkg::REG_GIE);
    localparam logic [7:0] A_IER     = 8'(vitaccel_isa_pkg::REG_IER);
    localparam logic [7:0] A_ISR     = 8'(vitaccel_isa_pkg::REG_ISR);
    localparam logic [7:0] A_PROG_LO = 8'(vitaccel_isa_pkg::REG_PROGRAM_ADDR_LO);
    localparam logic [7:0] A_PROG_HI = 8'(vitaccel_isa_pkg::REG_PROGRAM_ADDR_HI);
    localparam logic [7:0] A_CNT_LO  = 8'(vitaccel_isa_pkg::REG_INSTR_COUNT_LO);
    localparam logic [7:0] A_CNT_HI  = 8'(vitaccel_isa_pkg::REG_INSTR_COUNT_HI);
    localparam logic [7:0] A_IMG_LO  = 8'(vitaccel_isa_pkg::REG_IMAGE_ADDR_LO);
    localparam logic [7:0] A_IMG_HI  = 8'(vitaccel_isa_pkg::REG_IMAGE_ADDR_HI);
    localparam logic [7:0] A_IN_LO   = 8'(vitaccel_isa_pkg::REG_INPUT_ADDR_LO);
    localparam logic [7:0] A_IN_HI   = 8'(vitaccel_isa_pkg::REG_INPUT_ADDR_HI);
    localparam logic [7:0] A_OUT_LO  = 8'(vitaccel_isa_pkg::REG_OUTPUT_ADDR_LO);
    localparam logic [7:0] A_OUT_HI  = 8'(vitaccel_isa_pkg::REG_OUTPUT_ADDR_HI);
    localparam logic [7:0] A_ID      = 8'(vitaccel_isa_pkg::REG_ID);
    localparam logic [7:0] A_ID_C    = 8'(vitaccel_isa_pkg::REG_ID_CTRL);
    localparam logic [7:0] A_VER     = 8'(vitaccel_isa_pkg::REG_ISA_VERSION);
    localparam logic [7:0] A_VER_C   = 8'(vitaccel_isa_pkg::REG_ISA_VERSION_CTRL);
    localparam logic [7:0] A_HASH    = 8'(vitaccel_isa_pkg::REG_CONFIG_HASH);
    localparam logic [7:0] A_HASH_C  = 8'(vitaccel_isa_pkg::REG_CONFIG_HASH_CTRL);
    localparam logic [7:0] A_STAT    = 8'(vitaccel_isa_pkg::REG_STATUS);
    localparam logic [7:0] A_STAT_C  = 8'(vitaccel_isa_pkg::REG_STATUS_CTRL);
    localparam logic [7:0] A_EPC     = 8'(vitaccel_isa_pkg::REG_ERROR_PC);
    localparam logic [7:0] A_EPC_C   = 8'(vitaccel_isa_pkg::REG_ERROR_PC_CTRL);
    localparam logic [7:0] A_CYC_LO  = 8'(vitaccel_isa_pkg::REG_CYCLES_LO);
    localparam logic [7:0] A_CYC_HI  = 8'(vitaccel_isa_pkg::REG_CYCLES_HI);
    localparam logic [7:0] A_CYC_C   = 8'(vitaccel_isa_pkg::REG_CYCLES_CTRL);
    localparam logic [7:0] A_STL_LO  = 8'(vitaccel_isa_pkg::REG_STALL_CYCLES_LO);
    localparam logic [7:0] A_STL_HI  = 8'(vitaccel_isa_pkg::REG_STALL_CYCLES_HI);
    localparam logic [7:0] A_STL_C   = 8'(vitaccel_isa_pkg::REG_STALL_CYCLES_CTRL);
    localparam int NVLD = 7;  // ap_vld bits: ID, ISA_VERSION, CONFIG_HASH, STATUS, ERROR_PC, CYCLES, STALL_CYCLES

    // ---------------- write channel ----------------
    logic        aw_have, w_have;
    logic [7:0]  aw_addr;
    logic [31:0] w_data;
    logic [3:0]  w_strb;
    logic        do_write;

    assign s_axi_control_AWREADY = !aw_have;
    assign s_axi_control_WREADY  = !w_have;
    assign s_axi_control_BRESP   = 2'b00;
    assign do_write = aw_have && w_have && !s_axi_control_BVALID;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            aw_have <= 1'b0;
            w_have  <= 1'b0;
            s_axi_control_BVALID <= 1'b0;
        end else begin
            if (s_axi_control_AWVALID && !aw_have) begin
                aw_have <= 1'b1;
                aw_addr <= {s_axi_control_AWADDR[7:2], 2'b00};
            end
            if (s_axi_control_WVALID && !w_have) begin
                w_have <= 1'b1;
                w_data <= s_axi_control_WDATA;
                w_strb <= s_axi_control_WSTRB;
            end
            if (do_write) s_axi_control_BVALID <= 1'b1;
            if (s_axi_control_BVALID && s_axi_control_BREADY) begin
                s_axi_control_BVALID <= 1'b0;
                aw_have <= 1'b0;
                w_have  <= 1'b0;
            end
        end
    end

    function automatic logic [31:0] merge(input logic [31:0] old, input logic [31:0] d, input logic [3:0] s);
        for (int b = 0; b < 4; b++) merge[b*8 +: 8] = s[b] ? d[b*8 +: 8] : old[b*8 +: 8];
    endfunction

    // ---------------- registers ----------------
    logic            auto_restart, done_r, ready_r, gie;
    logic [1:0]      ier, isr;
    logic [NVLD-1:0] vld;
    logic            rd_fire;
    logic [7:0]      rd_addr;
    assign rd_fire = s_axi_control_ARVALID && s_axi_control_ARREADY;
    assign rd_addr = {s_axi_control_ARADDR[7:2], 2'b00};

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            ap_start     <= 1'b0;
            auto_restart <= 1'b0;
            done_r       <= 1'b0;
            ready_r      <= 1'b0;
            gie          <= 1'b0;
            ier          <= '0;
            isr          <= '0;
            vld          <= '0;
            program_addr <= '0;
            instr_count  <= '0;
            image_addr   <= '0;
            input_addr   <= '0;
            output_addr  <= '0;
        end else begin
            // core events
            if (ap_ready && !auto_restart) ap_start <= 1'b0;
            if (ap_done) begin
                done_r <= 1'b1;
                vld    <= '1;
            end
            if (ap_ready) ready_r <= 1'b1;
            // clear-on-read side effects
            if (rd_fire) begin
                if (rd_addr == A_AP_CTRL) begin
                    done_r  <= ap_done;   // an event in the same cycle is not lost
                    ready_r <= ap_ready;
                end
                if (rd_addr == A_ID_C)   vld[0] <= ap_done;
                if (rd_addr == A_VER_C)  vld[1] <= ap_done;
                if (rd_addr == A_HASH_C) vld[2] <= ap_done;
                if (rd_addr == A_STAT_C) vld[3] <= ap_done;
                if (rd_addr == A_EPC_C)  vld[4] <= ap_done;
                if (rd_addr == A_CYC_C)  vld[5] <= ap_done;
                if (rd_addr == A_STL_C)  vld[6] <= ap_done;
            end
            // interrupt status: set by events, toggled by writes
            begin
                logic [1:0] ev, tog;
                ev  = {ap_ready & ier[1], ap_done & ier[0]};
                tog = (do_write && aw_addr == A_ISR) ? (w_data[1:0] & {w_strb[0], w_strb[0]}) : 2'b00;
                isr <= (isr | ev) ^ tog;
            end
            // register writes
            if (do_write) begin
                case (aw_addr)
                    A_AP_CTRL: if (w_strb[0]) begin
                        if (w_data[0]) ap_start <= 1'b1;
                        auto_restart <= w_data[7];
                    end
                    A_GIE:     if (w_strb[0]) gie <= w_data[0];
                    A_IER:     if (w_strb[0]) ier <= w_data[1:0];
                    A_PROG_LO: program_addr[31:0]  <= merge(program_addr[31:0], w_data, w_strb);
                    A_PROG_HI: program_addr[63:32] <= merge(program_addr[63:32], w_data, w_strb);
                    A_CNT_LO:  instr_count[31:0]   <= merge(instr_count[31:0], w_data, w_strb);
                    A_CNT_HI:  instr_count[63:32]  <= merge(instr_count[63:32], w_data, w_strb);
                    A_IMG_LO:  image_addr[31:0]    <= merge(image_addr[31:0], w_data, w_strb);
                    A_IMG_HI:  image_addr[63:32]   <= merge(image_addr[63:32], w_data, w_strb);
                    A_IN_LO:   input_addr[31:0]    <= merge(input_addr[31:0], w_data, w_strb);
                    A_IN_HI:   input_addr[63:32]   <= merge(input_addr[63:32], w_data, w_strb);
                    A_OUT_LO:  output_addr[31:0]   <= merge(output_addr[31:0], w_data, w_strb);
                    A_OUT_HI:  output_addr[63:32]  <= merge(output_addr[63:32], w_data, w_strb);
                    default: ;
                endcase
            end
        end
    end
    assign interrupt = gie && (isr != 2'b00);

    // ---------------- read channel ----------------
    logic [31:0] rmux;
    always_comb begin
        case (rd_addr)
            A_AP_CTRL: rmux = {24'd0, auto_restart, 3'd0, ready_r, ap_idle, done_r, ap_start};
            A_GIE:     rmux = {31'd0, gie};
            A_IER:     rmux = {30'd0, ier};
            A_ISR:     rmux = {30'd0, isr};
            A_PROG_LO: rmux = program_addr[31:0];
            A_PROG_HI: rmux = program_addr[63:32];
            A_CNT_LO:  rmux = instr_count[31:0];
            A_CNT_HI:  rmux = instr_count[63:32];
            A_IMG_LO:  rmux = image_addr[31:0];
            A_IMG_HI:  rmux = image_addr[63:32];
            A_IN_LO:   rmux = input_addr[31:0];
            A_IN_HI:   rmux = input_addr[63:32];
            A_OUT_LO:  rmux = output_addr[31:0];
            A_OUT_HI:  rmux = output_addr[63:32];
            A_ID:      rmux = vitaccel_isa_pkg::ACCEL_ID;
            A_ID_C:    rmux = {31'd0, vld[0]};
            A_VER:     rmux = vitaccel_isa_pkg::ISA_VERSION;
            A_VER_C:   rmux = {31'd0, vld[1]};
            A_HASH:    rmux = CONFIG_HASH;
            A_HASH_C:  rmux = {31'd0, vld[2]};
            A_STAT:    rmux = status;
            A_STAT_C:  rmux = {31'd0, vld[3]};
            A_EPC:     rmux = error_pc;
            A_EPC_C:   rmux = {31'd0, vld[4]};
            A_CYC_LO:  rmux = cycles[31:0];
            A_CYC_HI:  rmux = cycles[63:32];
            A_CYC_C:   rmux = {31'd0, vld[5]};
            A_STL_LO:  rmux = stall_cycles[31:0];
            A_STL_HI:  rmux = stall_cycles[63:32];
            A_STL_C:   rmux = {31'd0, vld[6]};
            default:   rmux = 32'd0;
        endcase
    end

    assign s_axi_control_ARREADY = !s_axi_control_RVALID;
    assign s_axi_control_RRESP   = 2'b00;
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            s_axi_control_RVALID <= 1'b0;
        end else begin
            if (rd_fire) begin
                s_axi_control_RVALID <= 1'b1;
                s_axi_control_RDATA  <= rmux;
            end else if (s_axi_control_RREADY) begin
                s_axi_control_RVALID <= 1'b0;
            end
        end
    end
endmodule
