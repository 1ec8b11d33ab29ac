// What every operator benchmark shares: inputs filled fast with fixed pseudo-random values, the
// counters (GFLOP/s or GB/s beside the time, and the fraction of the machine's measured peak),
// and a main() that records the peak and the thread count in the report's context.
// Counters are per-iteration work marked as a rate, so Google Benchmark divides by the real time
// (every benchmark here uses UseRealTime(): the work is spread over all OpenMP threads).
#pragma once

#include "machine_peak.hpp"

#include "axonseg/core/tensor.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace axonseg::bench {

#ifdef AXONSEG_SOURCE_DIR
// The read-only real data beside the source tree (../shared/data), or empty when it is absent.
inline std::filesystem::path shared_data_dir() {
    const std::filesystem::path p = std::filesystem::path(AXONSEG_SOURCE_DIR) / ".." / "shared" / "data";
    return std::filesystem::exists(p) ? p : std::filesystem::path();
}
#endif

// Uniform values in [-1, 1) from a hash of the element's offset and `seed`: reproducible, and fast
// enough (threaded, no sequential generator) to fill a 268 MB activation per repetition.
template <class T>
void fill_uniform(TensorView<T> t, std::uint64_t seed) {
    AXONSEG_CHECK(t.is_dense(), "fill_uniform: tensor ", t.shape(), " is not dense");
    T* p = t.data();
    parallel_for(0, t.numel(), [&](Index i) {
        std::uint64_t z = std::uint64_t(i) * 0x9e3779b97f4a7c15ull + seed;  // splitmix64
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        p[i] = T(float(z >> 40) * (2.0f / float(1 << 24)) - 1.0f);
    });
}

// A new tensor of `shape` in `layout` filled by fill_uniform.
template <class T>
Tensor<T> random_tensor(const Shape& shape, Layout layout, std::uint64_t seed) {
    Tensor<T> t(shape, layout);
    fill_uniform(t.view(), seed);
    return t;
}

inline double peak_gflops(bool bf16) {
    return bf16 ? machine_peak().bf16_gflops : machine_peak().fp32_gflops;
}

// `flops` per iteration: reports GFLOP/s and peak_frac (against the fp32 or bf16 peak).
inline void report_flops(benchmark::State& state, double flops, bool bf16) {
    using benchmark::Counter;
    state.counters["GFLOP/s"] = Counter(flops * 1e-9, Counter::kIsIterationInvariantRate);
    state.counters["peak_frac"] =
        Counter(flops * 1e-9 / peak_gflops(bf16), Counter::kIsIterationInvariantRate);
}

// A streaming operator that makes `read_passes` passes reading only and `copy_passes` passes
// reading and writing over `bytes` each, per iteration. Reports GB/s (all bytes moved / time) and
// bw_frac: the time those passes take at the measured read and copy bandwidths over the time taken.
inline void report_bandwidth(benchmark::State& state, double bytes, int read_passes,
                             int copy_passes) {
    using benchmark::Counter;
    const MachinePeak& p = machine_peak();
    const double moved = bytes * (read_passes + 2 * copy_passes);
    const double ideal_seconds = bytes * read_passes / (p.read_gbs * 1e9) +
                                 2 * bytes * copy_passes / (p.copy_gbs * 1e9);
    state.counters["GB/s"] = Counter(moved * 1e-9, Counter::kIsIterationInvariantRate);
    state.counters["bw_frac"] = Counter(ideal_seconds, Counter::kIsIterationInvariantRate);
}

// The body of main(): the peak is measured (or read from AXONSEG_PEAK_JSON) before any benchmark
// runs, so no benchmark's time includes it. An axonseg::Error ends the program with its message.
inline int run_benchmarks(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    try {
        const MachinePeak& p = machine_peak();
        benchmark::AddCustomContext("omp_threads", std::to_string(p.threads));
        benchmark::AddCustomContext("peak_fp32_gflops", std::to_string(p.fp32_gflops));
        benchmark::AddCustomContext("peak_bf16_gflops", std::to_string(p.bf16_gflops));
        benchmark::AddCustomContext("peak_read_gbs", std::to_string(p.read_gbs));
        benchmark::AddCustomContext("peak_write_gbs", std::to_string(p.write_gbs));
        benchmark::AddCustomContext("peak_copy_gbs", std::to_string(p.copy_gbs));
        benchmark::RunSpecifiedBenchmarks();
    } catch (const Error& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
    benchmark::Shutdown();
    return 0;
}

}  // namespace axonseg::bench
