// vitaccel_axi_rd_arb: two AXI4 read masters (s0, s1) sharing one AXI4 read port. Each request is forwarded with
// ARID = the index of its master; read data are routed back by RID (responses of the two IDs may come in any
// order or interleave, each ID in order). Round-robin between the masters; a request that is waiting for ARREADY
// keeps its grant (AXI: ARVALID and the payload stay stable until the handshake).
module vitaccel_axi_rd_arb #(
    parameter int ADDR_W = 40,
    parameter int DATA_W = 128
) (
    input  logic                  clk,
    input  logic                  rst_n,
    // masters (index 0, 1), flattened
    input  logic [1:0]            s_arvalid,
    output logic [1:0]            s_arready,
    input  logic [2*ADDR_W-1:0]   s_araddr,
    input  logic [15:0]           s_arlen,
    input  logic [5:0]            s_arsize,
    input  logic [3:0]            s_arburst,
    input  logic [7:0]            s_arcache,
    input  logic [5:0]            s_arprot,
    output logic [1:0]            s_rvalid,
    input  logic [1:0]            s_rready,
    output logic [DATA_W-1:0]     s_rdata,
    output logic [1:0]            s_rresp,
    output logic                  s_rlast,
    // shared port
    output logic [0:0]            m_arid,
    output logic [ADDR_W-1:0]     m_araddr,
    output logic [7:0]            m_arlen,
    output logic [2:0]            m_arsize,
    output logic [1:0]            m_arburst,
    output logic [3:0]            m_arcache,
    output logic [2:0]            m_arprot,
    output logic                  m_arvalid,
    input  logic                  m_arready,
    input  logic [0:0]            m_rid,
    input  logic [DATA_W-1:0]     m_rdata,
    input  logic [1:0]            m_rresp,
    input  logic                  m_rlast,
    input  logic                  m_rvalid,
    output logic                  m_rready
);
    logic g, g_q, locked_q, last_q;

    always_comb begin
        if (locked_q)                     g = g_q;
        else if (s_arvalid == 2'b11)      g = ~last_q;     // both: the one not served last
        else                              g = s_arvalid[1];
    end

    assign m_arid    = g;
    assign m_arvalid = s_arvalid[g];
    assign m_araddr  = s_araddr[32'(g)*ADDR_W +: ADDR_W];
    assign m_arlen   = s_arlen[8*32'(g) +: 8];
    assign m_arsize  = s_arsize[3*32'(g) +: 3];
    assign m_arburst = s_arburst[2*32'(g) +: 2];
    assign m_arcache = s_arcache[4*32'(g) +: 4];
    assign m_arprot  = s_arprot[3*32'(g) +: 3];
    assign s_arready = {g & m_arready, ~g & m_arready};

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            locked_q <= 1'b0;
            last_q   <= 1'b1;
        end else begin
            locked_q <= m_arvalid && !m_arready;
            g_q      <= g;
            if (m_arvalid && m_arready) last_q <= g;
        end
    end

    assign s_rvalid = {m_rvalid & m_rid[0], m_rvalid & ~m_rid[0]};
    assign m_rready = m_rvalid && (m_rid[0] ? s_rready[1] : s_rready[0]);  // (a Z / X RID while idle stays harmless)
    assign s_rdata  = m_rdata;
    assign s_rresp  = m_rresp;
    assign s_rlast  = m_rlast;
endmodule
