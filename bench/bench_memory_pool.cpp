// Why the host pool exists: the time to obtain and write one 32 x 128^3 fp32 activation (268 MB),
// the size of the first U-Net stage, allocated fresh every time (each page faults on first write)
// against a pooled Tensor whose block comes back already touched. The writes use every thread,
// as the operators do, so the fresh case pays its page faults in parallel too.
#include "bench_support.hpp"

#include <algorithm>
#include <cstdlib>

namespace {

using namespace axonseg;

const Shape k_activation{1, 32, 128, 128, 128};  // (N,C,D,H,W), 268 MB in fp32
const std::size_t k_bytes = std::size_t(k_activation.numel()) * sizeof(float);

void write_all(float* p, Index n) {
    parallel_chunks(0, n, [&](Index b, Index e, int) { std::fill(p + b, p + e, 1.0f); });
}

// One activation written per iteration: GB/s, and bw_frac against the measured write bandwidth.
void report_write_bandwidth(benchmark::State& state) {
    state.counters["GB/s"] = benchmark::Counter(double(k_bytes) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
    state.counters["bw_frac"] = benchmark::Counter(
        double(k_bytes) * 1e-9 / bench::machine_peak().write_gbs,
        benchmark::Counter::kIsIterationInvariantRate);
}

// What every allocation costs without a pool: glibc maps a block this large fresh and unmaps it on
// free, so every iteration faults in 65536 4-KiB pages.
void fresh_allocation(benchmark::State& state) {
    for (auto _ : state) {
        auto* p = static_cast<float*>(std::aligned_alloc(64, k_bytes));
        write_all(p, k_activation.numel());
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
    report_write_bandwidth(state);
}

// The pool's own fresh path (2 MiB aligned, advised as huge pages): fewer, larger faults, but
// still a fault on every page of a new block.
void fresh_huge_page_allocation(benchmark::State& state) {
    constexpr std::size_t huge = std::size_t(2) << 20;
    const std::size_t bytes = HostPool::block_size(k_bytes);
    for (auto _ : state) {
        auto* p = static_cast<float*>(std::aligned_alloc(huge, bytes));
        madvise(p, bytes, MADV_HUGEPAGE);
        write_all(p, k_activation.numel());
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
    report_write_bandwidth(state);
}

// A training step's pattern: the same shape is requested again once the last one died.
void pooled_tensor(benchmark::State& state) {
    { Tensor<float> warm(k_activation, Layout::channels_last); }  // the pool's one fresh block
    for (auto _ : state) {
        Tensor<float> t(k_activation, Layout::channels_last);  // (1,32,128,128,128)
        write_all(t.data(), t.numel());
        benchmark::DoNotOptimize(t.data());
    }
    report_write_bandwidth(state);
}

}  // namespace

BENCHMARK(fresh_allocation)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
BENCHMARK(fresh_huge_page_allocation)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
BENCHMARK(pooled_tensor)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);

int main(int argc, char** argv) { return axonseg::bench::run_benchmarks(argc, argv); }
