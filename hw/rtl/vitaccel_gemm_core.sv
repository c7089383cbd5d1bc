// vitaccel_gemm_core: the MAC array feeding the fused epilogue (one array row per epilogue beat).
//
// The array takes one k-step per beat (see vitaccel_mac_array) and drains each finished ROWS x COLS tile one row
// per beat. Each drained row is joined with one beat of the row side channel (rs_*: the epilogue mode, the
// per-channel bias / mult / shift of the tile's COLS columns, the residual row for RESADD / MOE_COMBINE and the
// token's gate weight), and the epilogue result leaves on out_*. The sequencer produces the side channel from
// the epilogue record and the activation buffer; here it is an input so that the composition is verified.
module vitaccel_gemm_core #(
    parameter int ROWS = 4,
    parameter int COLS = 8,
    parameter int PACK = 2,
    parameter int TBL_W = 1,  // GELU table bytes per write (vitaccel_epilogue)
    parameter int TBL_SP = 0, // 1: the GELU table is written only while no beat is in the epilogue (vitaccel_epilogue)
    parameter int EPI_LANES = COLS  // epilogue lanes (a power of two dividing COLS)
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic                in_valid,
    output logic                in_ready,
    input  logic [ROWS*8-1:0]   in_a,
    input  logic [COLS*8-1:0]   in_b,
    input  logic                in_a_unsigned,
    input  logic                in_first,
    input  logic                in_last,
    input  logic                rs_valid,
    output logic                rs_ready,
    input  logic [3:0]          rs_mode,
    input  logic [COLS*32-1:0]  rs_bias,
    input  logic [COLS*16-1:0]  rs_mult,
    input  logic [COLS*6-1:0]   rs_shift,
    input  logic [COLS*16-1:0]  rs_res,
    input  logic [15:0]         rs_gate,
    output logic                out_valid,
    input  logic                out_ready,
    output logic [COLS*32-1:0]  out_data,
    output logic                out_last,
    input  logic                tbl_we,
    input  logic [7:0]          tbl_addr,
    input  logic [8*TBL_W-1:0]  tbl_wdata
);
    localparam int H  = COLS / EPI_LANES;            // lane slices per row
    localparam int HB = (H > 1) ? $clog2(H) : 1;
    localparam int E  = EPI_LANES;
    logic               arr_valid, arr_ready, arr_last, epi_ready, epi_in_valid, slice_last;
    logic [COLS*32-1:0] arr_acc;

    vitaccel_mac_array #(.ROWS(ROWS), .COLS(COLS), .PACK(PACK)) u_array (
        .clk, .rst_n, .in_valid, .in_ready, .in_a, .in_b, .in_a_unsigned, .in_first, .in_last,
        .out_valid(arr_valid), .out_ready(arr_ready), .out_acc(arr_acc), .out_last(arr_last)
    );

    // join: a slice moves when both the array row and its side-channel beat are present; both are released with
    // the row's last slice
    logic [HB-1:0] in_h;    // slice of the joined row that enters the epilogue next
    assign slice_last   = (H == 1) || in_h == HB'(H - 1);
    assign epi_in_valid = arr_valid && rs_valid;
    assign arr_ready    = epi_ready && rs_valid && slice_last;
    assign rs_ready     = epi_ready && arr_valid && slice_last;
    always_ff @(posedge clk) begin
        if (!rst_n) in_h <= '0;
        else if (H > 1 && epi_in_valid && epi_ready) in_h <= slice_last ? '0 : in_h + HB'(1);
    end

    logic [E*32-1:0] e_acc, e_bias, e_out;
    logic [E*16-1:0] e_mult, e_res;
    logic [E*6-1:0]  e_shift;
    logic            e_out_valid, e_out_ready, e_out_last;
    assign e_acc   = arr_acc[32'(in_h)*E*32 +: E*32];
    assign e_bias  = rs_bias[32'(in_h)*E*32 +: E*32];
    assign e_mult  = rs_mult[32'(in_h)*E*16 +: E*16];
    assign e_shift = rs_shift[32'(in_h)*E*6 +: E*6];
    assign e_res   = rs_res[32'(in_h)*E*16 +: E*16];

    vitaccel_epilogue #(.LANES(E), .TBL_W(TBL_W), .TBL_SP(TBL_SP)) u_epilogue (
        .clk, .rst_n,
        .in_valid(epi_in_valid), .in_ready(epi_ready),
        .in_mode(rs_mode), .in_acc(e_acc), .in_bias(e_bias), .in_mult(e_mult), .in_shift(e_shift),
        .in_res(e_res), .in_gate(rs_gate), .in_last(arr_last && slice_last),
        .out_valid(e_out_valid), .out_ready(e_out_ready), .out_data(e_out), .out_last(e_out_last),
        .tbl_we, .tbl_addr, .tbl_wdata
    );

    // reassembly: slices 0 .. H-2 wait in a register, the last one passes through with them
    if (H == 1) begin : g_whole
        assign out_valid   = e_out_valid;
        assign e_out_ready = out_ready;
        assign out_data    = e_out;
        assign out_last    = e_out_last;
    end else begin : g_slices
        logic [HB-1:0]         out_h;
        logic [(H-1)*E*32-1:0] held;
        logic                  out_slice_last;
        assign out_slice_last = out_h == HB'(H - 1);
        assign out_valid      = e_out_valid && out_slice_last;
        assign e_out_ready    = !out_slice_last || out_ready;
        assign out_data       = {e_out, held};
        assign out_last       = e_out_last;
        always_ff @(posedge clk) begin
            if (!rst_n) out_h <= '0;
            else if (e_out_valid && e_out_ready) out_h <= out_slice_last ? '0 : out_h + HB'(1);
        end
        always_ff @(posedge clk) begin
            if (e_out_valid && !out_slice_last) held[32'(out_h)*E*32 +: E*32] <= e_out;
        end
    end

`ifndef SYNTHESIS
    initial begin
        if (EPI_LANES < 1 || COLS % EPI_LANES != 0 || (H & (H - 1)) != 0)
            $fatal(1, "vitaccel_gemm_core: EPI_LANES must divide COLS into a power-of-two number of slices");
    end
`endif
endmodule
