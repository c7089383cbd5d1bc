// vitaccel C++ testbench (Vitis HLS csim_design / cosim_design, and g++ here).
//
//   tb_vitaccel [tb_data folder]
//
// Reads from the folder (written by vitaccel.hlsgen from a compiled program and the ISA simulator):
//   program.bin   encoded instructions          image.bin     memory image (header + segments)
//   input.bin     uint8 input image             expected.bin  output bytes the ISA simulator produced
//   expected.txt  "status <STATUS> error_pc <ERROR_PC> output_bytes <n>"
// runs vitaccel_top once and compares the output bytes and the STATUS / ERROR_PC registers bit for bit.
// Exit status 0 = pass (what csim_design / cosim_design check).
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "va_kernel.h"

using namespace va;

void vitaccel_top(const word_t *program, ap_uint<64> instr_count, const word_t *image, const word_t *input,
                  word_t *output, ap_uint<32> *id, ap_uint<32> *isa_version, ap_uint<32> *config_hash,
                  ap_uint<32> *status, ap_uint<32> *error_pc, ap_uint<64> *cycles, ap_uint<64> *stall_cycles);

static bool read_file(const std::string &path, std::vector<uint8_t> &out) {
    FILE *f = fopen(path.c_str(), "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    out.resize(n > 0 ? size_t(n) : 0);
    size_t got = n > 0 ? fread(out.data(), 1, size_t(n), f) : 0;
    fclose(f);
    return got == out.size();
}

static std::vector<word_t> to_words(const std::vector<uint8_t> &b) {
    std::vector<word_t> w(b.size() / WORD_BYTES + 2, word_t(0));
    for (size_t i = 0; i < b.size(); i++) w[i / WORD_BYTES].range(8 * (i % WORD_BYTES) + 7, 8 * (i % WORD_BYTES)) = b[i];
    return w;
}

static std::string default_dir() {
    // <project>/tb/tb_vitaccel.cpp -> <project>/tb_data
    std::string here = __FILE__;
    size_t slash = here.find_last_of('/');
    std::string tb = slash == std::string::npos ? std::string(".") : here.substr(0, slash);
    return tb + "/../tb_data";
}

int main(int argc, char **argv) {
    std::string dir = argc > 1 ? argv[1] : default_dir();
    std::vector<uint8_t> prog, image, input, expected, meta;
    if (!read_file(dir + "/program.bin", prog) || !read_file(dir + "/image.bin", image) ||
        !read_file(dir + "/input.bin", input) || !read_file(dir + "/expected.bin", expected) ||
        !read_file(dir + "/expected.txt", meta)) {
        fprintf(stderr, "tb_vitaccel: cannot read the test data in %s\n", dir.c_str());
        return 2;
    }
    meta.push_back(0);
    unsigned long want_status = 0, want_pc = 0, out_bytes = 0;
    if (sscanf((const char *)meta.data(), "status %lu error_pc %lu output_bytes %lu", &want_status, &want_pc,
               &out_bytes) != 3) {
        fprintf(stderr, "tb_vitaccel: bad expected.txt\n");
        return 2;
    }
    std::vector<word_t> p = to_words(prog), im = to_words(image), in = to_words(input);
    std::vector<word_t> out(out_bytes / WORD_BYTES + 2, word_t(0));
    ap_uint<32> id, ver, hash, status, epc;
    ap_uint<64> cyc, stall;
    vitaccel_top(p.data(), prog.size() / VA_INSTR_BYTES, im.data(), in.data(), out.data(), &id, &ver, &hash,
                 &status, &epc, &cyc, &stall);
    int fails = 0;
    if (id != VA_ACCEL_ID || ver != VA_ISA_VERSION || hash != VA_CFG_CONFIG_HASH) {
        fprintf(stderr, "tb_vitaccel: ID/ISA_VERSION/CONFIG_HASH registers wrong\n");
        fails++;
    }
    if (status.to_uint64() != want_status) {
        fprintf(stderr, "tb_vitaccel: STATUS 0x%llx, expected 0x%lx\n", (unsigned long long)status.to_uint64(),
                want_status);
        fails++;
    }
    if ((want_status >> 8 & 1) && epc.to_uint64() != want_pc) {
        fprintf(stderr, "tb_vitaccel: ERROR_PC %llu, expected %lu\n", (unsigned long long)epc.to_uint64(), want_pc);
        fails++;
    }
    unsigned long mismatches = 0;
    for (unsigned long i = 0; i < out_bytes && i < expected.size(); i++) {
        uint8_t got = out[i / WORD_BYTES].range(8 * (i % WORD_BYTES) + 7, 8 * (i % WORD_BYTES)).to_uint();
        if (got != expected[i]) {
            if (mismatches < 8) fprintf(stderr, "tb_vitaccel: output byte %lu = %u, expected %u\n", i, got, expected[i]);
            mismatches++;
        }
    }
    if (mismatches) fails++;
    printf("tb_vitaccel: %s (%lu instructions, %lu output bytes, %lu mismatching)\n", fails ? "FAIL" : "PASS",
           (unsigned long)(prog.size() / VA_INSTR_BYTES), out_bytes, mismatches);
    return fails ? 1 : 0;
}
