// Fused instance norm + LeakyReLU on the largest activation of the network (32 x 128^3, batch 1,
// channels-last): forward fp32, backward fp32, forward bf16. The operator is bound by memory, so
// it reports GB/s and bw_frac instead of flops. The bytes are what a two-pass algorithm must move
// when a channel's 8 MB (fp32) cannot stay in cache between the statistics and their use:
//   forward:  read x (statistics), then read x and write y
//   backward: read x and dy (the two per-channel sums), then read x and dy and write dx
// bw_frac: the time those passes take at the read and copy bandwidths axonseg_peak measured,
// over the time taken. Memory bandwidth on this virtual machine drifts with its neighbours, so each
// pass also has a floor_* benchmark run beside it: the same passes with axonseg_peak's plain loops.
// bench/compare_torch.py times PyTorch's separate F.instance_norm + F.leaky_relu beside it.
#include "bench_support.hpp"

#include "axonseg/ops/instance_norm_leaky_relu.hpp"

#include <string>
#include <vector>

namespace {

using namespace axonseg;
using bench::random_tensor;

struct NormCase {
    const char* name;
    Index channels, size;

    Shape x_shape() const { return {1, channels, size, size, size}; }
    Shape stats_shape() const { return {1, channels}; }
    template <class T>
    double bytes() const {  // one pass over one activation
        return double(x_shape().numel()) * sizeof(T);
    }
};

const NormCase k_norm_cases[] = {
    {"instance_norm_leaky_relu_32_128", 32, 128},  // after every conv of stage 0
};

const InstanceNormLeakyReluParams k_params{.eps = 1e-5, .negative_slope = 0.01};

template <class T>
void norm_forward(benchmark::State& state, const NormCase& c) {
    const auto x = random_tensor<T>(c.x_shape(), Layout::channels_last, 1);  // (1,C,S,S,S)
    const auto gamma = random_tensor<T>({c.channels}, Layout::contiguous, 2);  // (C)
    const auto beta = random_tensor<T>({c.channels}, Layout::contiguous, 3);   // (C)
    Tensor<T> y(c.x_shape(), Layout::channels_last);                            // (1,C,S,S,S)
    Tensor<float> mean(c.stats_shape()), rstd(c.stats_shape());                // (1,C)
    auto step = [&] {
        instance_norm_leaky_relu_forward(cpu, x, gamma, beta, y.view(), mean.view(), rstd.view(),
                                         k_params);
    };
    step();  // warm-up: touches y
    for (auto _ : state) {
        step();
        benchmark::DoNotOptimize(y.data());
    }
    bench::report_bandwidth(state, c.bytes<T>(), 1, 1);
}

// The fastest the passes can go: `read_passes` reading and `copy_passes` copying one fp32
// activation, with the AVX-512 loops of axonseg_peak.
void streaming_floor(benchmark::State& state, const NormCase& c, int read_passes,
                     int copy_passes) {
    using namespace bench::detail;
    const auto x = random_tensor<float>(c.x_shape(), Layout::channels_last, 1);  // (1,C,S,S,S)
    auto y = Tensor<float>::zeros(c.x_shape(), Layout::channels_last);            // (1,C,S,S,S)
    const Index n = x.numel();  // a multiple of 64: whole cache lines
    std::vector<float> partial(std::size_t(thread_count()), 0.0f);
    for (auto _ : state) {
        for (int r = 0; r < read_passes; ++r)
            parallel_lines(n, [&](Index o, Index len, int t) {
                partial[std::size_t(t)] += read_range(x.data() + o, len);
            });
        for (int k = 0; k < copy_passes; ++k)
            parallel_lines(n, [&](Index o, Index len, int) {
                copy_range(x.data() + o, y.data() + o, len);
            });
        benchmark::DoNotOptimize(partial.data());
        benchmark::DoNotOptimize(y.data());
    }
    bench::report_bandwidth(state, c.bytes<float>(), read_passes, copy_passes);
}

void norm_backward(benchmark::State& state, const NormCase& c) {
    const auto x = random_tensor<float>(c.x_shape(), Layout::channels_last, 1);   // (1,C,S,S,S)
    const auto gamma = random_tensor<float>({c.channels}, Layout::contiguous, 2);  // (C)
    const auto beta = random_tensor<float>({c.channels}, Layout::contiguous, 3);   // (C)
    const auto dy = random_tensor<float>(c.x_shape(), Layout::channels_last, 4);  // (1,C,S,S,S)
    Tensor<float> y(c.x_shape(), Layout::channels_last);                           // (1,C,S,S,S)
    Tensor<float> mean(c.stats_shape()), rstd(c.stats_shape());                   // (1,C)
    Tensor<float> dx(c.x_shape(), Layout::channels_last);                          // (1,C,S,S,S)
    Tensor<float> dgamma(Shape{c.channels}), dbeta(Shape{c.channels});             // (C)
    instance_norm_leaky_relu_forward(cpu, x, gamma, beta, y.view(), mean.view(), rstd.view(),
                                     k_params);  // the statistics backward reads
    auto step = [&] {
        instance_norm_leaky_relu_backward(cpu, x, gamma, beta, mean, rstd, dy, dx.view(),
                                          dgamma.view(), dbeta.view(), k_params, Grad::overwrite);
    };
    step();  // warm-up: touches dx
    for (auto _ : state) {
        step();
        benchmark::DoNotOptimize(dx.data());
    }
    bench::report_bandwidth(state, c.bytes<float>(), 3, 1);
}

}  // namespace

int main(int argc, char** argv) {
    using std::string;
    // One iteration takes tens of milliseconds: each repetition repeats for 0.3 s.
    auto add = [](const string& name, auto fn, const NormCase& c) {
        benchmark::RegisterBenchmark(name.c_str(), fn, c)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.3);
    };
    for (const NormCase& c : k_norm_cases) {
        add(string(c.name) + "/floor_forward_f32",
            [](benchmark::State& s, const NormCase& nc) { streaming_floor(s, nc, 1, 1); }, c);
        add(string(c.name) + "/forward_f32", norm_forward<float>, c);
        add(string(c.name) + "/floor_backward_f32",
            [](benchmark::State& s, const NormCase& nc) { streaming_floor(s, nc, 3, 1); }, c);
        add(string(c.name) + "/backward_f32", norm_backward, c);
        add(string(c.name) + "/forward_bf16", norm_forward<bfloat16>, c);
    }
    return axonseg::bench::run_benchmarks(argc, argv);
}
