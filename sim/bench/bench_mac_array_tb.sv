// Throughput benchmark of vitaccel_mac_array under Verilator --binary (no cocotb): a 64-bit LFSR drives the
// operands every cycle, the output is always ready; prints a checksum of the drained rows and the cycle count.
module bench_mac_array_tb;
    localparam int ROWS = 32, COLS = 64, K = 64;
    logic clk = 1'b0, rst_n = 1'b0;
    logic in_valid, in_ready, out_valid, out_last, first, last;
    logic [ROWS*8-1:0] a;
    logic [COLS*8-1:0] b;
    logic [COLS*32-1:0] acc;
    logic [63:0] lfsr = 64'h1;
    logic [63:0] sum = 64'd0;
    int k = 0;
    longint cyc = 0;
    longint n_cycles;

    vitaccel_mac_array #(.ROWS(ROWS), .COLS(COLS), .PACK(2)) dut (
        .clk, .rst_n, .in_valid, .in_ready, .in_a(a), .in_b(b), .in_a_unsigned(1'b0), .in_first(first),
        .in_last(last), .out_valid, .out_ready(1'b1), .out_acc(acc), .out_last);

    always #1 clk = ~clk;
    assign in_valid = rst_n;
    assign first = (k == 0);
    assign last = (k == K - 1);
    always_comb begin
        for (int i = 0; i < ROWS; i++) a[i*8 +: 8] = lfsr[(i % 8)*8 +: 8] ^ 8'(i);
        for (int j = 0; j < COLS; j++) b[j*8 +: 8] = lfsr[(j % 8)*8 +: 8] + 8'(j);
    end
    always_ff @(posedge clk) begin
        cyc <= cyc + 1;
        if (cyc == 4) rst_n <= 1'b1;
        lfsr <= {lfsr[62:0], lfsr[63] ^ lfsr[62] ^ lfsr[60] ^ lfsr[59]};
        if (in_valid && in_ready) k <= (k == K - 1) ? 0 : k + 1;
        if (out_valid) sum <= sum + {32'd0, acc[31:0]} + {32'd0, acc[COLS*32-1 -: 32]};
        if (cyc == n_cycles) begin
            $display("BENCH cycles=%0d checksum=%h", cyc, sum);
            $finish;
        end
    end
    initial begin
        if (!$value$plusargs("cycles=%d", n_cycles)) n_cycles = 200000;
    end
endmodule
