// axonseg_peak: measures this machine's fp32 FMA and bf16 dot-product peaks and its memory
// bandwidth with every OpenMP thread, prints them, and with --json FILE writes them for the
// benchmarks (AXONSEG_PEAK_JSON=FILE) to report fractions of. Run it on an idle machine: the
// figures are best-of-trials, and a busy core lowers them for every benchmark that reads them.
//   axonseg_peak [--json FILE] [--seconds S]
#include "machine_peak.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    using namespace axonseg;
    std::string json_path;
    double seconds = 0.25;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
            json_path = argv[++i];
        } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = std::stod(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: %s [--json FILE] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    try {
        const bench::MachinePeak p = bench::measure_machine_peak(seconds);
        std::printf("threads            %d\n", p.threads);
        std::printf("fp32 FMA peak      %8.1f GFLOP/s  (AVX-512 vfmadd, register-resident)\n",
                    p.fp32_gflops);
        if (p.bf16_gflops > 0)
            std::printf("bf16 dot peak      %8.1f GFLOP/s  (AVX-512 BF16 vdpbf16ps)\n",
                        p.bf16_gflops);
        else
            std::printf("bf16 dot peak      not measured (no AVX-512 BF16)\n");
        std::printf("memory read        %8.1f GB/s\n", p.read_gbs);
        std::printf("memory write       %8.1f GB/s\n", p.write_gbs);
        std::printf("memory copy        %8.1f GB/s  (read + written bytes)\n", p.copy_gbs);
        if (!json_path.empty()) bench::write_machine_peak(p, json_path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "axonseg_peak: %s\n", e.what());
        return 1;
    }
    return 0;
}
