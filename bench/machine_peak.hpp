// This machine's measured ceilings, which the benchmarks report their results as fractions of:
// fp32 FMA and bf16 dot-product throughput (AVX-512, register-resident, every OpenMP thread) and
// memory bandwidth (read, write, copy over arrays far larger than the caches, already touched).
// Measured, not taken from a data sheet: on a virtual machine the clock, the turbo and the
// memory channels behind the two cores are unknown, and "fraction of peak" is only honest against
// what this code can reach here. Each figure is the best of several trials.
#pragma once

#include "axonseg/core/memory.hpp"
#include "axonseg/core/parallel.hpp"

#include <immintrin.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace axonseg::bench {

struct MachinePeak {
    int threads = 0;
    double fp32_gflops = 0;  // AVX-512 FMA, 2 flops per lane
    double bf16_gflops = 0;  // AVX-512 BF16 vdpbf16ps, 2 multiply-adds per fp32 lane
    double read_gbs = 0;     // bytes read / s
    double write_gbs = 0;    // bytes written / s (ordinary stores, as the kernels use)
    double copy_gbs = 0;     // (bytes read + bytes written) / s
};

inline void to_json(nlohmann::json& j, const MachinePeak& p) {
    j = {{"threads", p.threads},     {"fp32_gflops", p.fp32_gflops}, {"bf16_gflops", p.bf16_gflops},
         {"read_gbs", p.read_gbs},   {"write_gbs", p.write_gbs},     {"copy_gbs", p.copy_gbs}};
}
inline void from_json(const nlohmann::json& j, MachinePeak& p) {
    j.at("threads").get_to(p.threads);
    j.at("fp32_gflops").get_to(p.fp32_gflops);
    j.at("bf16_gflops").get_to(p.bf16_gflops);
    j.at("read_gbs").get_to(p.read_gbs);
    j.at("write_gbs").get_to(p.write_gbs);
    j.at("copy_gbs").get_to(p.copy_gbs);
}

namespace detail {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Not _mm512_reduce_add_ps: GCC 12's version trips -Wuninitialized in its own header.
__attribute__((target("avx512f"))) inline float horizontal_sum(__m512 v) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    float s = 0;
    for (float x : lanes) s += x;
    return s;
}

// 16 independent accumulator chains hide the FMA latency on both pipes; nothing touches memory.
__attribute__((target("avx512f"))) inline float fma_chains(long iterations) {
    __m512 acc[16];
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_ps(float(k));
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
    for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
        for (int k = 0; k < 16; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
    }
    __m512 s = acc[0];
    for (int k = 1; k < 16; ++k) s = _mm512_add_ps(s, acc[k]);
    return horizontal_sum(s);
}
constexpr double k_fma_flops_per_iteration = 16 * 16 * 2;

__attribute__((target("avx512f,avx512bf16"))) inline float dpbf16_chains(long iterations) {
    __m512 acc[16];
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_setzero_ps();
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
    for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
        for (int k = 0; k < 16; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, a);
    }
    __m512 s = acc[0];
    for (int k = 1; k < 16; ++k) s = _mm512_add_ps(s, acc[k]);
    return horizontal_sum(s);
}
constexpr double k_dpbf16_flops_per_iteration = 16 * 16 * 2 * 2;

// Best GFLOP/s over `trials` runs of `kernel` on every thread at once.
template <class Kernel>
double compute_peak(Kernel kernel, long iterations, double flops_per_iteration, int trials) {
    double best = 0;
    volatile float sink = 0;
    for (int t = 0; t < trials; ++t) {
        const auto t0 = std::chrono::steady_clock::now();
        float sum = 0;
#pragma omp parallel reduction(+ : sum)
        sum += kernel(iterations);
        const double s = seconds_since(t0);
        sink = sink + sum;
        best = std::max(best, flops_per_iteration * double(iterations) * thread_count() / s * 1e-9);
    }
    return best;
}

__attribute__((target("avx512f"))) inline float read_range(const float* p, Index n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (Index i = 0; i < n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return horizontal_sum(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
__attribute__((target("avx512f"))) inline void write_range(float* p, Index n, float v) {
    const __m512 x = _mm512_set1_ps(v);
    for (Index i = 0; i < n; i += 16) _mm512_store_ps(p + i, x);
}
__attribute__((target("avx512f"))) inline void copy_range(const float* src, float* dst, Index n) {
    for (Index i = 0; i < n; i += 16) _mm512_store_ps(dst + i, _mm512_load_ps(src + i));
}

// Splits [0, n) over the threads in whole cache lines (n is a multiple of 64 floats).
template <class Fn>
void parallel_lines(Index n, Fn&& fn) {
    parallel_chunks(0, n / 64, [&](Index b, Index e, int t) { fn(b * 64, (e - b) * 64, t); });
}

}  // namespace detail

inline bool has_avx512_bf16() {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

// `seconds` is roughly how long each compute trial runs; `array_bytes` the size of each of the
// two arrays the bandwidth tests stream through (they should dwarf the last-level cache).
inline MachinePeak measure_machine_peak(double seconds = 0.25,
                                        std::size_t array_bytes = std::size_t(512) << 20,
                                        int trials = 5) {
    AXONSEG_CHECK(__builtin_cpu_supports("avx512f"), "axonseg_peak: this CPU has no AVX-512F");
    using namespace detail;
    MachinePeak p;
    p.threads = thread_count();

    // Calibrate the iteration count to about `seconds` at roughly 4 GHz, 2 FMA pipes.
    const long iterations = long(seconds * 4e9 * 2 / 16);
    p.fp32_gflops = compute_peak(fma_chains, iterations, k_fma_flops_per_iteration, trials);
    if (has_avx512_bf16())
        p.bf16_gflops =
            compute_peak(dpbf16_chains, iterations, k_dpbf16_flops_per_iteration, trials);

    const Index n = Index(array_bytes / sizeof(float)) / 64 * 64;
    const double bytes = double(n) * sizeof(float);
    Buffer<float, Cpu> a{std::size_t(n)}, b{std::size_t(n)};
    // Touch both arrays from the threads that will stream them, so no page fault is timed.
    parallel_lines(n, [&](Index o, Index len, int) {
        write_range(a.data() + o, len, 1.0f);
        write_range(b.data() + o, len, 2.0f);
    });
    auto best_gbs = [&](double bytes_moved, auto&& pass) {
        double best = 0;
        for (int t = 0; t < trials; ++t) {
            const auto t0 = std::chrono::steady_clock::now();
            pass();
            best = std::max(best, bytes_moved / seconds_since(t0) * 1e-9);
        }
        return best;
    };
    std::vector<float> partial(std::size_t(p.threads), 0.0f);
    volatile float sink = 0;
    p.read_gbs = best_gbs(bytes, [&] {
        parallel_lines(n, [&](Index o, Index len, int t) {
            partial[std::size_t(t)] = read_range(a.data() + o, len);
        });
        sink = sink + partial[0];
    });
    p.write_gbs = best_gbs(bytes, [&] {
        parallel_lines(n, [&](Index o, Index len, int) { write_range(b.data() + o, len, 3.0f); });
    });
    p.copy_gbs = best_gbs(2 * bytes, [&] {
        parallel_lines(n, [&](Index o, Index len, int) {
            copy_range(a.data() + o, b.data() + o, len);
        });
    });
    return p;
}

inline MachinePeak read_machine_peak(const std::string& path) {
    std::ifstream in(path);
    AXONSEG_CHECK(in.good(), "axonseg_peak: cannot read ", path);
    return nlohmann::json::parse(in).get<MachinePeak>();
}

inline void write_machine_peak(const MachinePeak& p, const std::string& path) {
    std::ofstream out(path);
    AXONSEG_CHECK(out.good(), "axonseg_peak: cannot write ", path);
    out << nlohmann::json(p).dump(2) << '\n';
}

// The peak a benchmark program compares against: the file named by AXONSEG_PEAK_JSON (written by
// axonseg_peak --json), else a quick measurement now. A file measured with another thread count
// would give wrong fractions, so it is refused.
inline const MachinePeak& machine_peak() {
    static const MachinePeak peak = [] {
        if (const char* path = std::getenv("AXONSEG_PEAK_JSON"); path && *path) {
            MachinePeak p = read_machine_peak(path);
            AXONSEG_CHECK(p.threads == thread_count(), "machine_peak: ", path,
                          " was measured with ", p.threads, " threads, this run has ",
                          thread_count());
            return p;
        }
        return measure_machine_peak(0.1, std::size_t(256) << 20, 3);
    }();
    return peak;
}

}  // namespace axonseg::bench
