// vitaccel kernel top for Vitis HLS: AXI interfaces + the sequencer of va_kernel.h.
//
// Argument order = the register map of vitaccel.isa.regmap (docs/isa.md), which is the order Vitis HLS uses to
// lay out the s_axilite control registers after AP_CTRL/GIE/IER/ISR (0x00..0x0C):
//   PROGRAM_ADDR, INSTR_COUNT, IMAGE_ADDR, INPUT_ADDR, OUTPUT_ADDR (64-bit inputs: data lo, data hi, reserved)
//   ID, ISA_VERSION, CONFIG_HASH, STATUS, ERROR_PC (32-bit outputs: data, ap_vld)
//   CYCLES, STALL_CYCLES (64-bit outputs: data lo, data hi, ap_vld)
// The offsets are generated into va_isa.h (VA_REG_*); tests/test_hls_kernel.py checks this argument order
// against vitaccel.isa.regmap.
//
// m_axi ports: one bundle for the instruction stream, one for the memory image (weights / constants: long
// sequential bursts), one shared by the input image and the output. Widths: the board's HP port width
// (VA_AXI_DATA_BITS); depth values come from va_depths.h, generated from the test data so C/RTL co-simulation
// sizes its memories to what the testbench really accesses (a depth of 1 on a port that reads more data is what
// breaks co-simulation).
#include <string.h>

#include "va_depths.h"
#include "va_kernel.h"

using namespace va;

static OnChip onchip;

#ifndef __SYNTHESIS__
// C-simulation only: zero the on-chip memories so every run starts from the state the ISA simulator models
// (ACT and weight halves all zero). The hardware does not clear them at ap_start; a program that reads memory it
// never wrote is outside what the compiler emits (open question for docs/isa.md, see the hlsgen report).
void vitaccel_csim_reset() { memset((void *)&onchip, 0, sizeof(onchip)); }
#endif

void vitaccel_top(const word_t *program, ap_uint<64> instr_count, const word_t *image, const word_t *input,
                  word_t *output, ap_uint<32> *id, ap_uint<32> *isa_version, ap_uint<32> *config_hash,
                  ap_uint<32> *status, ap_uint<32> *error_pc, ap_uint<64> *cycles, ap_uint<64> *stall_cycles) {
#pragma HLS INTERFACE mode = m_axi port = program bundle = gmem_prog offset = slave depth = VA_DEPTH_PROGRAM \
    max_read_burst_length = 32 num_read_outstanding = 4 max_write_burst_length = 2 num_write_outstanding = 1
#pragma HLS INTERFACE mode = m_axi port = image bundle = gmem_image offset = slave depth = VA_DEPTH_IMAGE \
    max_read_burst_length = 256 num_read_outstanding = 8 max_write_burst_length = 2 num_write_outstanding = 1
#pragma HLS INTERFACE mode = m_axi port = input bundle = gmem_io offset = slave depth = VA_DEPTH_INPUT \
    max_read_burst_length = 256 num_read_outstanding = 4
#pragma HLS INTERFACE mode = m_axi port = output bundle = gmem_io offset = slave depth = VA_DEPTH_OUTPUT \
    max_write_burst_length = 256 num_write_outstanding = 4
#pragma HLS INTERFACE mode = s_axilite port = program bundle = control
#pragma HLS INTERFACE mode = s_axilite port = instr_count bundle = control
#pragma HLS INTERFACE mode = s_axilite port = image bundle = control
#pragma HLS INTERFACE mode = s_axilite port = input bundle = control
#pragma HLS INTERFACE mode = s_axilite port = output bundle = control
#pragma HLS INTERFACE mode = s_axilite port = id bundle = control
#pragma HLS INTERFACE mode = s_axilite port = isa_version bundle = control
#pragma HLS INTERFACE mode = s_axilite port = config_hash bundle = control
#pragma HLS INTERFACE mode = s_axilite port = status bundle = control
#pragma HLS INTERFACE mode = s_axilite port = error_pc bundle = control
#pragma HLS INTERFACE mode = s_axilite port = cycles bundle = control
#pragma HLS INTERFACE mode = s_axilite port = stall_cycles bundle = control
#pragma HLS INTERFACE mode = s_axilite port = return bundle = control
// On-chip memories: the activation buffer is read R rows at a time by the array and written WORD_BYTES at a
// time by the DMA; the weight halves are read C bytes (one packed B row) per clock.
#pragma HLS ARRAY_PARTITION variable = onchip.act type = cyclic factor = 16
#pragma HLS ARRAY_PARTITION variable = onchip.wbuf type = cyclic factor = VA_ARRAY_COLS dim = 2
#pragma HLS BIND_STORAGE variable = onchip.wbuf type = ram_2p impl = bram

    *id = VA_ACCEL_ID;
    *isa_version = VA_ISA_VERSION;
    *config_hash = VA_CFG_CONFIG_HASH;
    // CYCLES / STALL_CYCLES need a free-running counter outside the C model; C-simulation reports 0.
    *cycles = 0;
    *stall_cycles = 0;

    DdrSizes d;
    d.image_bytes = d.input_bytes = d.output_bytes = 0;
    Status st;
    int herr = check_header(image, d);
    if (herr != VA_ERR_NONE) {
        st.code = herr;
        st.pc = 0xFFFFFFFFu;  // the image, not an instruction (the ISA simulator reports index -1)
    } else {
        st = run_program(onchip, program, instr_count.to_uint64(), image, input, output, d);
    }
    ap_uint<32> sw = st.code;
    sw[8] = (st.code != VA_ERR_NONE);
    sw[9] = 1;
    *status = sw;
    *error_pc = st.pc;
}
