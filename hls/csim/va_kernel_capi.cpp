// vitaccel C-simulation of the whole kernel: extern "C" entry for ctypes (vitaccel.hlsgen.csim_backend).
// Copies byte buffers into AXI-word arrays, calls vitaccel_top exactly as the C++ testbench does, copies the
// output back and returns the status registers.
#include <stdint.h>
#include <string.h>

#include <vector>

#include "va_kernel.h"

using namespace va;

void vitaccel_top(const word_t *program, ap_uint<64> instr_count, const word_t *image, const word_t *input,
                  word_t *output, ap_uint<32> *id, ap_uint<32> *isa_version, ap_uint<32> *config_hash,
                  ap_uint<32> *status, ap_uint<32> *error_pc, ap_uint<64> *cycles, ap_uint<64> *stall_cycles);

void vitaccel_csim_reset();

static std::vector<word_t> to_words(const uint8_t *bytes, uint64_t n) {
    std::vector<word_t> w((n + WORD_BYTES - 1) / WORD_BYTES + 1, word_t(0));
    for (uint64_t i = 0; i < n; i++) w[i / WORD_BYTES].range(8 * (i % WORD_BYTES) + 7, 8 * (i % WORD_BYTES)) = bytes[i];
    return w;
}

extern "C" {

// regs out: [0] ID, [1] ISA_VERSION, [2] CONFIG_HASH, [3] STATUS, [4] ERROR_PC, [5] CYCLES, [6] STALL_CYCLES
int va_run(const uint8_t *program, uint64_t program_bytes, uint64_t instr_count, const uint8_t *image,
           uint64_t image_bytes, const uint8_t *input, uint64_t input_bytes, uint8_t *output, uint64_t output_bytes,
           uint64_t *regs) {
    std::vector<word_t> p = to_words(program, program_bytes);
    std::vector<word_t> im = to_words(image, image_bytes);
    std::vector<word_t> in = to_words(input, input_bytes);
    std::vector<word_t> out = to_words(output, output_bytes);
    ap_uint<32> id, ver, hash, status, epc;
    ap_uint<64> cyc, stall;
    vitaccel_csim_reset();
    vitaccel_top(p.data(), instr_count, im.data(), in.data(), out.data(), &id, &ver, &hash, &status, &epc, &cyc,
                 &stall);
    for (uint64_t i = 0; i < output_bytes; i++)
        output[i] = out[i / WORD_BYTES].range(8 * (i % WORD_BYTES) + 7, 8 * (i % WORD_BYTES)).to_uint();
    regs[0] = id.to_uint64();
    regs[1] = ver.to_uint64();
    regs[2] = hash.to_uint64();
    regs[3] = status.to_uint64();
    regs[4] = epc.to_uint64();
    regs[5] = cyc.to_uint64();
    regs[6] = stall.to_uint64();
    return 0;
}

int va_kernel_info(uint64_t *out) {
    out[0] = VA_ARRAY_ROWS;
    out[1] = VA_ARRAY_COLS;
    out[2] = VA_AXI_DATA_BITS;
    out[3] = VA_CFG_CONFIG_HASH;
    out[4] = VA_CFG_ACT_BYTES;
    out[5] = VA_CFG_WBUF_HALF_BYTES;
    return 0;
}

}  // extern "C"
