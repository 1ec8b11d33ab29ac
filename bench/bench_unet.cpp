// The whole D-LMBmap network (nn::UNetTopology::dlmbmap(): 5 poolings, 32 -> 320 features, deep
// supervision, no attention) on one (1,1,128,128,128) patch:
//   forward_{f32,bf16}  inference forward (Mode::inference: nothing kept, full-resolution logits)
//   step_{f32,bf16}     one train::train_step: training forward, deep-supervised Dice + CE, backward,
//                       AMSGrad Adam on the fp32 masters (and, for bf16, the new working copy)
// Each repetition is one call, after two untimed warm-up calls: oneDNN builds its kernels and the
// memory pool fills on the first, and the weight cache keeps the blocked weights from the second
// call with the same bytes (onednn_weight_cache.hpp), so inference reaches its steady state (a
// sliding window's every later patch) on the third. The network, input and optimiser are built
// once per process and reused by the repetitions.
// Memory counters:
//   peak_rss_MiB   the kernel's resident high-water mark (VmHWM) minus the resident size before the
//                  case built anything, with the mark reset there (/proc/self/clear_refs, "5"), so
//                  no earlier case or start-up work counts. Everything counts: parameters, optimiser
//                  state, activations, oneDNN's weight reorders and scratchpads, allocator slack.
//                  Memory an earlier case freed into the HostPool would hide this case's own
//                  allocations, so bench/compare_torch.py runs one case per process
//                  (--benchmark_filter), and measures PyTorch the same way.
//   pool_peak_MiB  the HostPool's high-water mark of bytes handed out during the timed calls:
//                  axonseg's tensors alone (what the network's design decides), not comparable with
//                  PyTorch's figure. pool_working_MiB: the same less what was in use before the
//                  calls (parameters, optimiser state). pool_reserved_MiB: every block the pool
//                  holds after the calls, in use or cached for reuse; it never gives blocks back,
//                  and blocks are reused only for requests of their own size, so this is its
//                  footprint, which peak_rss_MiB includes.
// page_faults: minor page faults per timed call (memory touched for the first time).
#include "bench_support.hpp"

#include "axonseg/nn/unet.hpp"
#include "axonseg/optim/adam.hpp"
#include "axonseg/train/train_step.hpp"

#include <sys/resource.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace {

using namespace axonseg;

constexpr Index k_size = 128;
const Shape k_input{1, 1, k_size, k_size, k_size};

// A "VmRSS:" or "VmHWM:" line of /proc/self/status, in MiB (the file gives kB).
double proc_status_mib(const std::string& key) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size())) / 1024.0;
    AXONSEG_FAIL("bench_unet: no ", key, " in /proc/self/status");
}

// Minor page faults of the process so far: first touches of memory the allocator got fresh from
// the kernel (each one zeroes a page), which a warm HostPool should make rare.
double minor_faults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_minflt);
}

// Resets the resident high-water mark to the current resident size, which it returns.
double reset_rss_peak_mib() {
    std::ofstream("/proc/self/clear_refs") << "5";
    return proc_status_mib("VmRSS:");
}

// Everything one case needs, built on the case's first repetition.
template <train::Precision P>
struct Setup {
    using T = typename P::compute;
    nn::UNet<T> net{nn::UNetTopology::dlmbmap(), 1};
    Tensor<T> x = bench::random_tensor<T>(k_input, Layout::channels_last, 2);  // (1,1,128,128,128)
    std::vector<Tensor<std::uint8_t>> targets;
    std::vector<optim::ParamRef> refs;
    std::optional<optim::Adam> adam;

    explicit Setup(bool training) {
        if (!training) return;
        Tensor<std::uint8_t> mask(k_input);  // (1,1,128,128,128): about 20% foreground
        const Tensor<float> u = bench::random_tensor<float>(k_input, Layout::contiguous, 3);
        for (Index i = 0; i < mask.numel(); ++i) mask.data()[i] = u.data()[i] > 0.6f;
        targets = train::deep_supervision_targets(cpu, net.topology(), mask);
        refs = train::trained_parameters(net);
        adam.emplace(refs, optim::AdamParams{.lr = 3e-4, .weight_decay = 3e-5, .amsgrad = true});
    }

    void run(bool training) {
        if (training) {
            train::train_step<P>(net, *adam, refs, x, targets);
        } else {
            std::vector<Tensor<T>> out = net.forward(x);
            benchmark::DoNotOptimize(out.front().data());
        }
    }
};

template <train::Precision P, bool Training>
void unet_case(benchmark::State& state) {
    static const double rss_before = reset_rss_peak_mib();
    static std::unique_ptr<Setup<P>> setup;
    if (!setup) {
        setup = std::make_unique<Setup<P>>(Training);
        for (int i = 0; i < 2; ++i) setup->run(Training);  // warm-up
    }
    HostPool::instance().reset_peak();
    const std::size_t pool_before = HostPool::instance().stats().bytes_in_use;
    const double faults_before = minor_faults();
    for (auto _ : state) setup->run(Training);
    state.counters["page_faults"] = benchmark::Counter(minor_faults() - faults_before, benchmark::Counter::kAvgIterations);
    const double pool_peak = double(HostPool::instance().stats().peak_bytes_in_use);
    state.counters["peak_rss_MiB"] = proc_status_mib("VmHWM:") - rss_before;
    state.counters["pool_peak_MiB"] = pool_peak / double(1 << 20);
    state.counters["pool_working_MiB"] = (pool_peak - double(pool_before)) / double(1 << 20);
    const PoolStats end = HostPool::instance().stats();
    state.counters["pool_reserved_MiB"] = double(end.bytes_in_use + end.bytes_cached) / double(1 << 20);
}

void register_cases() {
    auto add = [](const char* name, auto fn) {
        benchmark::RegisterBenchmark(name, fn)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
    };
    add("unet_dlmbmap_128/forward_f32", unet_case<train::Fp32, false>);
    add("unet_dlmbmap_128/forward_bf16", unet_case<train::Bf16Mixed, false>);
    add("unet_dlmbmap_128/step_f32", unet_case<train::Fp32, true>);
    add("unet_dlmbmap_128/step_bf16", unet_case<train::Bf16Mixed, true>);
}

}  // namespace

int main(int argc, char** argv) {
    register_cases();
    return axonseg::bench::run_benchmarks(argc, argv);
}
