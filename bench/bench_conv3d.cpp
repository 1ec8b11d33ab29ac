// Convolutions at the shapes of the real network (nnU-Net 3d_fullres on 128^3 patches, batch 1):
// forward fp32, backward fp32 (dx, dw, dbias; the first layer has no dx), forward bf16, with
// activations channels-last as they stay between layers and weights in PyTorch's (Co,Ci,k,k,k)
// order, as the network stores them. The weights do not change between iterations, so their
// blocked copy is reused after the first (as in inference; a training step reorders each weight
// once, backend/cpu/onednn_weight_cache.hpp). GFLOP/s counts 2 flops per multiply-add; backward
// counts the data and the weight gradients. bench/compare_torch.py times the same cases in PyTorch
// by name.
#include "bench_support.hpp"

#include "axonseg/ops/conv3d.hpp"
#include "axonseg/ops/conv_transpose3d.hpp"

#include <cmath>
#include <string>
#include <type_traits>

namespace {

using namespace axonseg;
using bench::random_tensor;

// A 3x3x3 convolution with padding 1 on a cube of side `size`.
struct ConvCase {
    const char* name;
    Index c_in, c_out, size, stride;

    Index out_size() const { return (size - 1) / stride + 1; }
    Shape x_shape() const { return {1, c_in, size, size, size}; }
    Shape w_shape() const { return {c_out, c_in, 3, 3, 3}; }
    Shape y_shape() const { return {1, c_out, out_size(), out_size(), out_size()}; }
    double macs() const { return double(c_out) * c_in * 27 * std::pow(double(out_size()), 3); }
    Conv3dParams params() const { return {.stride = Index3::all(stride), .pad = Index3::all(1)}; }
    bool wants_dx() const { return c_in > 1; }  // the first layer's input is the image
};

const ConvCase k_conv_cases[] = {
    {"conv3d_1to32_128", 1, 32, 128, 1},        // the stem
    {"conv3d_32to32_128", 32, 32, 128, 1},      // stage 0
    {"conv3d_32to64_s2_128", 32, 64, 128, 2},   // down into stage 1
    {"conv3d_64to64_64", 64, 64, 64, 1},        // stage 1
    {"conv3d_320to320_8", 320, 320, 8, 1},      // the bottleneck
};

// The up-sampling of the decoder: kernel 2, stride 2, no bias (nnU-Net's ConvTranspose3d).
struct ConvTransposeCase {
    const char* name;
    Index c_in, c_out, size;  // size: the input cube's side; the output's is twice that

    Shape x_shape() const { return {1, c_in, size, size, size}; }
    Shape w_shape() const { return {c_in, c_out, 2, 2, 2}; }
    Shape y_shape() const { return {1, c_out, 2 * size, 2 * size, 2 * size}; }
    double macs() const { return double(c_in) * c_out * 8 * std::pow(double(size), 3); }
};

const ConvTransposeCase k_transpose_cases[] = {
    {"conv_transpose3d_64to32_64", 64, 32, 64},  // stage 1 -> stage 0
};

template <class T>
constexpr bool is_bf16 = std::is_same_v<T, bfloat16>;

template <class T>
void conv_forward(benchmark::State& state, const ConvCase& c) {
    const auto x = random_tensor<T>(c.x_shape(), Layout::channels_last, 1);  // (1,Ci,S,S,S)
    const auto w = random_tensor<T>(c.w_shape(), Layout::contiguous, 2);     // (Co,Ci,3,3,3)
    const auto b = random_tensor<T>({c.c_out}, Layout::contiguous, 3);       // (Co)
    Tensor<T> y(c.y_shape(), Layout::channels_last);                          // (1,Co,S',S',S')
    conv3d_forward(cpu, x, w, b, y.view(), c.params());  // warm-up: primitives, caches, pages
    for (auto _ : state) {
        conv3d_forward(cpu, x, w, b, y.view(), c.params());
        benchmark::DoNotOptimize(y.data());
    }
    bench::report_flops(state, 2 * c.macs(), is_bf16<T>);
}

void conv_backward(benchmark::State& state, const ConvCase& c) {
    const auto x = random_tensor<float>(c.x_shape(), Layout::channels_last, 1);   // (1,Ci,S,S,S)
    const auto w = random_tensor<float>(c.w_shape(), Layout::contiguous, 2);      // (Co,Ci,3,3,3)
    const auto dy = random_tensor<float>(c.y_shape(), Layout::channels_last, 4);  // (1,Co,S',S',S')
    Tensor<float> dx = c.wants_dx() ? Tensor<float>(c.x_shape(), Layout::channels_last)
                                    : Tensor<float>();                             // (1,Ci,S,S,S)
    Tensor<float> dw(c.w_shape());                                                 // (Co,Ci,3,3,3)
    Tensor<float> dbias(Shape{c.c_out});                                           // (Co)
    auto step = [&] {
        conv3d_backward(cpu, x, w, dy, dx.view(), dw.view(), dbias.view(), c.params());
    };
    step();  // warm-up
    for (auto _ : state) {
        step();
        benchmark::DoNotOptimize(dw.data());
    }
    bench::report_flops(state, 2 * c.macs() * (c.wants_dx() ? 2 : 1), false);
}

template <class T>
void conv_transpose_forward(benchmark::State& state, const ConvTransposeCase& c) {
    const auto x = random_tensor<T>(c.x_shape(), Layout::channels_last, 1);  // (1,Ci,S,S,S)
    const auto w = random_tensor<T>(c.w_shape(), Layout::contiguous, 2);     // (Ci,Co,2,2,2)
    Tensor<T> y(c.y_shape(), Layout::channels_last);                          // (1,Co,2S,2S,2S)
    conv_transpose3d_forward(cpu, x, w, y.view(), ConvTranspose3dParams{});  // warm-up
    for (auto _ : state) {
        conv_transpose3d_forward(cpu, x, w, y.view(), ConvTranspose3dParams{});
        benchmark::DoNotOptimize(y.data());
    }
    bench::report_flops(state, 2 * c.macs(), is_bf16<T>);
}

void conv_transpose_backward(benchmark::State& state, const ConvTransposeCase& c) {
    const auto x = random_tensor<float>(c.x_shape(), Layout::channels_last, 1);   // (1,Ci,S,S,S)
    const auto w = random_tensor<float>(c.w_shape(), Layout::contiguous, 2);      // (Ci,Co,2,2,2)
    const auto dy = random_tensor<float>(c.y_shape(), Layout::channels_last, 4);  // (1,Co,2S,2S,2S)
    Tensor<float> dx(c.x_shape(), Layout::channels_last);                          // (1,Ci,S,S,S)
    Tensor<float> dw(c.w_shape());                                                 // (Ci,Co,2,2,2)
    auto step = [&] {
        conv_transpose3d_backward(cpu, x, w, dy, dx.view(), dw.view(), ConvTranspose3dParams{});
    };
    step();  // warm-up
    for (auto _ : state) {
        step();
        benchmark::DoNotOptimize(dw.data());
    }
    bench::report_flops(state, 4 * c.macs(), false);
}

}  // namespace

int main(int argc, char** argv) {
    using std::string;
    // Each benchmark runs at least once per repetition; the short ones repeat for 0.2 s.
    auto add = [](const string& name, auto fn, const auto& c) {
        benchmark::RegisterBenchmark(name.c_str(), fn, c)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.2);
    };
    for (const ConvCase& c : k_conv_cases) {
        add(string(c.name) + "/forward_f32", conv_forward<float>, c);
        add(string(c.name) + "/backward_f32", conv_backward, c);
        add(string(c.name) + "/forward_bf16", conv_forward<bfloat16>, c);
    }
    for (const ConvTransposeCase& c : k_transpose_cases) {
        add(string(c.name) + "/forward_f32", conv_transpose_forward<float>, c);
        add(string(c.name) + "/backward_f32", conv_transpose_backward, c);
        add(string(c.name) + "/forward_bf16", conv_transpose_forward<bfloat16>, c);
    }
    return axonseg::bench::run_benchmarks(argc, argv);
}
