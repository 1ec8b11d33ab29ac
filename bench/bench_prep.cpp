// Training-data preparation (issue 5): the fine label of a 150^3 rough label (goal: under 0.5 s)
// and the high-pass response of the brain example's 100 uint16 slices of 600 x 600 in each blur
// plane (goal: memory speed). Without ../shared/data the fine label runs on a synthetic rough
// label of the same size and the high pass on a random volume of the same shape (its speed does
// not depend on the values).
// Counters: Gvox/s; for the high pass also GB/s and bw_frac, counting the least it must move: read
// the uint16 volume once and write the uint16 response once (one copy pass), against
// axonseg_peak's copy bandwidth. floor_copy_u16 is that pass with axonseg_peak's plain AVX-512
// loops, timed beside it (memory bandwidth on this virtual machine drifts with its neighbours).
#include "bench_support.hpp"

#include "axonseg/io/slice_folder.hpp"
#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/fine_label.hpp"
#include "axonseg/prep/high_pass.hpp"
#include "axonseg/prep/synth.hpp"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace axonseg;
using bench::shared_data_dir;
namespace fs = std::filesystem;


void report_voxels(benchmark::State& state, double voxels) {
    state.counters["Gvox/s"] = benchmark::Counter(voxels * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void fine_label(benchmark::State& state, const Tensor<std::uint8_t>* rough_tensor) {
    const Tensor<std::uint8_t>& rough = *rough_tensor;
    for (auto _ : state) {
        Tensor<std::uint8_t> fine = prep::fine_label(rough);  // (D,H,W)
        benchmark::DoNotOptimize(fine.data());
    }
    report_voxels(state, double(rough.numel()));
}

void high_pass(benchmark::State& state, const Tensor<std::uint16_t>* volume_tensor, prep::BlurPlane plane) {
    const Tensor<std::uint16_t>& volume = *volume_tensor;
    prep::high_pass_response(volume, plane);  // warm-up: the pool holds the output's memory after this
    for (auto _ : state) {
        Tensor<std::uint16_t> r = prep::high_pass_response(volume, plane);  // (D,H,W)
        benchmark::DoNotOptimize(r.data());
    }
    report_voxels(state, double(volume.numel()));
    bench::report_bandwidth(state, double(volume.numel()) * 2, 0, 1);
}

#if defined(AXONSEG_HIGH_PASS_AVX512)
// The zy kernel's row loop alone, on one row of 608 columns whose inputs and ring rows stay in L1,
// one thread: its arithmetic without memory, prefetches or fallback. Counter: ns per 16 voxels.
void high_pass_row_in_l1(benchmark::State& state) {
    if (!prep::detail::has_high_pass_avx512()) {
        state.SkipWithError("no AVX-512 on this CPU");
        return;
    }
    constexpr Index W = 608;
    const auto noise = bench::random_tensor<float>({4, W}, Layout::contiguous, 9);  // (row, x)
    std::vector<std::uint16_t> rows(4 * W), out(W);
    for (Index i = 0; i < 4 * W; ++i) rows[std::size_t(i)] = std::uint16_t(3000 + 1000 * noise.data()[i]);
    std::vector<float> ring(3 * W, 4000.0f);
    std::vector<__mmask16> near(W / 16);
    const prep::detail::HighPassZyRow row{rows.data(),     rows.data() + W,  rows.data() + 2 * W,
                                          rows.data() + 3 * W, ring.data(),  ring.data() + W,
                                          ring.data() + 2 * W, out.data()};
    const prep::detail::HighPassWeights w = prep::detail::high_pass_weights();
    for (auto _ : state) {
        prep::detail::high_pass_zy_row(row, W, w, near.data());
        benchmark::ClobberMemory();
    }
    state.counters["ns_per_16"] =
        benchmark::Counter(double(W / 16), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
#endif

// One read and one write of the volume's bytes with axonseg_peak's loops (a multiple of 64 floats).
void floor_copy(benchmark::State& state, const Shape& shape) {
    using namespace bench::detail;
    const Index bytes = shape.numel() * 2, n = bytes / 4 / 64 * 64;
    const auto src = bench::random_tensor<float>({n}, Layout::contiguous, 1);  // (n)
    auto dst = Tensor<float>::zeros({n});                                       // (n)
    for (auto _ : state) {
        parallel_lines(n, [&](Index o, Index len, int) { copy_range(src.data() + o, dst.data() + o, len); });
        benchmark::DoNotOptimize(dst.data());
    }
    report_voxels(state, double(shape.numel()));
    bench::report_bandwidth(state, double(bytes), 0, 1);
}

}  // namespace

int main(int argc, char** argv) {
    using std::string;
    auto add = [](const string& name, auto fn, const auto&... args) {
        benchmark::RegisterBenchmark(name.c_str(), fn, args...)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.5);
    };
    const fs::path data = shared_data_dir();
    if (data.empty())
        std::fprintf(stderr, "bench_prep: %s absent: synthetic rough label and random volume instead\n",
                     (fs::path(AXONSEG_SOURCE_DIR) / ".." / "shared" / "data").c_str());
    // Static: the benchmarks keep pointers to them until they run.
    static Tensor<std::uint8_t> rough;     // (150,150,150)
    static Tensor<std::uint16_t> volume;  // (100,600,600)
    string rough_name, volume_name;
    if (!data.empty()) {
        rough = io::read_tiff_stack<std::uint8_t>(data / "dlmbmap/Rough-label/label-1001.tiff");
        rough_name = "label_1001";
        const io::SliceFolder folder(data / "dlmbmap/brain-example");
        volume = Tensor<std::uint16_t>({folder.depth(), folder.height(), folder.width()});
        folder.read_box(0, 0, 0, volume.view());
        volume_name = "brain_example";
    } else {
        prep::SynthParams p;
        p.shape = {150, 150, 150};
        p.density = 0.8;  // about label-1001's foreground (0.54%); the default matches a dense brain region
        p.artifacts = 0;
        rough = prep::synthesize(p).label;
        rough_name = "synthetic";
        volume = Tensor<std::uint16_t>({100, 600, 600});
        const auto noise = bench::random_tensor<float>(volume.shape(), Layout::contiguous, 5);  // (D,H,W)
        for (Index i = 0; i < volume.numel(); ++i) volume.data()[i] = std::uint16_t((noise.data()[i] + 1) * 32767);
        volume_name = "random";
    }
    const string rough_shape = to_string(rough.shape()), volume_shape = to_string(volume.shape());
    benchmark::AddCustomContext("fine_label_input", rough_name + " " + rough_shape);
    benchmark::AddCustomContext("high_pass_input", volume_name + " " + volume_shape);
    add("fine_label/" + rough_name + "_150", fine_label, &rough);
    add("floor_copy_u16/100x600x600", floor_copy, volume.shape());
#if defined(AXONSEG_HIGH_PASS_AVX512)
    benchmark::RegisterBenchmark("high_pass_zy_row_in_l1/608", high_pass_row_in_l1)->Unit(benchmark::kNanosecond);
#endif
    for (auto [plane, name] : {std::pair{prep::BlurPlane::zy, "zy"}, std::pair{prep::BlurPlane::yx, "yx"},
                               std::pair{prep::BlurPlane::zyx, "zyx"}})
        add(string("high_pass_") + name + "/" + volume_name + "_100x600x600", high_pass, &volume, plane);
    return axonseg::bench::run_benchmarks(argc, argv);
}
