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
    parameter int TBL_W = 1   // GELU table bytes per write (vitaccel_epilogue)
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
    logic               arr_valid, arr_ready, arr_last, epi_ready;
    logic [COLS*32-1:0] arr_acc;

    vitaccel_mac_array #(.ROWS(ROWS), .COLS(COLS), .PACK(PACK)) u_array (
        .clk, .rst_n, .in_valid, .in_ready, .in_a, .in_b, .in_a_unsigned, .in_first, .in_last,
        .out_valid(arr_valid), .out_ready(arr_ready), .out_acc(arr_acc), .out_last(arr_last)
    );

    // join: a row moves only when both the array row and its side-channel beat are present
    assign arr_ready = epi_ready && rs_valid;
    assign rs_ready  = epi_ready && arr_valid;

    vitaccel_epilogue #(.LANES(COLS), .TBL_W(TBL_W)) u_epilogue (
        .clk, .rst_n,
        .in_valid(arr_valid && rs_valid), .in_ready(epi_ready),
        .in_mode(rs_mode), .in_acc(arr_acc), .in_bias(rs_bias), .in_mult(rs_mult), .in_shift(rs_shift),
        .in_res(rs_res), .in_gate(rs_gate), .in_last(arr_last),
        .out_valid, .out_ready, .out_data, .out_last,
        .tbl_we, .tbl_addr, .tbl_wdata
    );
endmodule
