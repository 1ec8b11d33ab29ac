// train::train_step in the two precision policies on the small nnU-Net fixture network (iso: 3
// poolings, 8 -> 32 features, batch (2,1,32,32,32)): a bf16 mixed-precision step gives the fp32
// step's loss and master gradients within bf16's precision; its masters stay fp32 and move by the
// optimiser's step, finer than bf16 could hold; the Dice + CE of bf16 logits is the fp32 loss.
// (That both policies learn: tests/unet_test.cpp, "UNet learns to segment tubes".)
#include "support/checks.hpp"
#include "support/fixture.hpp"
#include "support/unet_fixture.hpp"

#include "axonseg/optim/adam.hpp"
#include "axonseg/train/train_step.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

using namespace axonseg;
using namespace axonseg::test;
using nn::UNet;

namespace {

// A network of policy P with the fixture's parameters.
template <train::Precision P>
UNet<typename P::compute> fixture_network(const Fixture& init) {
    UNet<typename P::compute> net(topology_of(init));
    for (const nn::Parameter& p : net.parameters()) net.load(p.name, init.tensor<float>(p.name));
    return net;
}

struct Step {
    double loss;
    std::vector<Tensor<float>> before;  // the masters before the step
};

// One train_step with AMSGrad Adam as nnU-Net's fixture uses it.
template <train::Precision P>
Step one_step(UNet<typename P::compute>& net, const Fixture& init, double lr) {
    using T = typename P::compute;
    Step s;
    for (const nn::Parameter& p : net.parameters()) s.before.push_back(to<float>(p.value.view()));
    const std::vector<optim::ParamRef> refs = train::trained_parameters(net);
    optim::Adam opt(refs, optim::AdamParams{.lr = lr, .weight_decay = 3e-5, .amsgrad = true});
    const Tensor<T> x = to<T>(init.tensor<float>("input").view(), Layout::channels_last);
    const Tensor<std::uint8_t> mask = init.tensor<std::uint8_t>("target");
    s.loss = train::train_step<P>(net, opt, refs, x, train::deep_supervision_targets(cpu, net.topology(), mask));
    return s;
}

double dot(TensorView<const float> a, TensorView<const float> b) {
    double s = 0;
    for (Index i = 0; i < a.numel(); ++i) s += double(a.data()[i]) * double(b.data()[i]);
    return s;
}

}  // namespace

TEST_CASE("A bf16 mixed-precision step gives the fp32 step's loss and gradients within bf16 precision") {
    const Fixture init(fixture_path("unet_iso_init.fix"));
    UNet<float> full = fixture_network<train::Fp32>(init);
    UNet<bfloat16> half = fixture_network<train::Bf16Mixed>(init);
    const double lr = 3e-4;
    const Step f = one_step<train::Fp32>(full, init, lr);
    const Step h = one_step<train::Bf16Mixed>(half, init, lr);
    CHECK(f.loss == doctest::Approx(init.meta()["loss"].get<double>()).epsilon(1e-4));
    CHECK(h.loss == doctest::Approx(f.loss).epsilon(2e-2));

    // The cosine of the angle between the two gradients and the norm of their difference relative
    // to the fp32 gradient's, over all gradients together and per tensor. At initialisation this
    // network's gradients are sums of many nearly cancelling terms, and rounding every activation to
    // 8 bits of mantissa moves them far more than the loss: PyTorch's own bf16 autocast step on this
    // fixture (same loss, fp32 master weights) reaches cosine 0.991 / relative difference 0.13
    // overall against its fp32 step, and per tensor a worst cosine of 0.93 and difference of 0.49.
    // The bounds below hold that level with some room. A conv bias before an instance norm has an
    // exact gradient of zero (both sides compute rounding noise), so it is left out, as is the
    // unused head.
    double aa = 0, bb = 0, ab = 0, worst_cos = 1, worst_rel = 0;
    int compared = 0;
    for (std::size_t i = 0; i < full.parameters().size(); ++i) {
        const nn::Parameter& a = full.parameters()[i];
        const nn::Parameter& b = half.parameters()[i];
        REQUIRE(a.name == b.name);
        if (a.name.ends_with("conv.bias") || a.name == "seg_outputs.0.weight") continue;
        const double a2 = dot(a.grad, a.grad), b2 = dot(b.grad, b.grad), a_b = dot(a.grad, b.grad);
        const double cosine = a_b / std::sqrt(a2 * b2);
        const double rel = std::sqrt(std::max(a2 + b2 - 2 * a_b, 0.0) / a2);
        INFO(a.name, ": cosine ", cosine, ", relative difference ", rel);
        CHECK(cosine > 0.85);
        CHECK(rel < 0.6);
        worst_cos = std::min(worst_cos, cosine);
        worst_rel = std::max(worst_rel, rel);
        aa += a2, bb += b2, ab += a_b;
        ++compared;
    }
    CHECK(compared == 14 * 3 + 3 + 2);  // conv weight and norm parameters of 14 blocks, 3 tu, 2 seg heads
    const double cosine = ab / std::sqrt(aa * bb), rel = std::sqrt(std::max(aa + bb - 2 * ab, 0.0) / aa);
    CHECK(cosine > 0.98);
    CHECK(rel < 0.2);
    MESSAGE("loss fp32 ", f.loss, ", bf16 mixed ", h.loss, "; gradient cosine ", cosine, ", relative difference ",
            rel, "; per tensor worst ", worst_cos, " and ", worst_rel);
}

TEST_CASE("bf16 mixed precision keeps fp32 masters that move by the optimiser's step") {
    static_assert(std::is_same_v<decltype(nn::Parameter::value), Tensor<float>>);
    static_assert(std::is_same_v<decltype(nn::Parameter::grad), Tensor<float>>);
    const Fixture init(fixture_path("unet_iso_init.fix"));
    UNet<bfloat16> half = fixture_network<train::Bf16Mixed>(init);
    const double lr = 3e-4;
    const Step h = one_step<train::Bf16Mixed>(half, init, lr);

    // Adam's first step moves an element by lr * g / (|g| + eps): by lr wherever the gradient is not
    // tiny. That is ~0.3% of a typical weight here, below bf16's spacing (2^-8 relative), so masters
    // held in bf16 would mostly not have moved at all.
    for (std::size_t i = 0; i < half.parameters().size(); ++i) {
        const nn::Parameter& p = half.parameters()[i];
        if (p.name.ends_with("conv.bias") || p.name == "seg_outputs.0.weight") continue;
        INFO(p.name);
        std::vector<double> moved(std::size_t(p.value.numel()));
        for (Index k = 0; k < p.value.numel(); ++k)
            moved[std::size_t(k)] = std::abs(double(p.value.data()[k]) - h.before[i].data()[k]);
        std::nth_element(moved.begin(), moved.begin() + std::ptrdiff_t(moved.size() / 2), moved.end());
        CHECK(moved[moved.size() / 2] == doctest::Approx(lr).epsilon(0.01));

        // The working copy was cast from the new masters.
        const Tensor<bfloat16> cast = to<bfloat16>(p.value.view());
        CHECK(std::equal(cast.data(), cast.data() + cast.numel(), half.working_value(i).data(),
                         [](bfloat16 a, bfloat16 b) { return float(a) == float(b); }));
    }
    // The head of loss weight 0 is not optimised at all.
    const nn::Parameter& unused = half.parameter("seg_outputs.0.weight");
    const std::size_t u = std::size_t(&unused - half.parameters().data());
    CHECK(std::equal(unused.value.data(), unused.value.data() + unused.value.numel(), h.before[u].data()));
}

TEST_CASE("The Dice + CE of bf16 logits is the fp32 loss of the same values, its gradient rounded once") {
    const Shape s{2, 2, 5, 6, 7};
    const Tensor<bfloat16> logits = random_tensor<bfloat16>(s, 3, Layout::channels_last, -4, 4);
    Tensor<std::uint8_t> target({2, 1, 5, 6, 7});
    for (Index i = 0; i < target.numel(); ++i) target.data()[i] = std::uint8_t((i * 7) % 3 == 0);
    Tensor<bfloat16> dhalf(s, Layout::channels_last);
    Tensor<float> dfull(s, Layout::channels_last);
    const Tensor<float> widened = to<float>(logits.view(), Layout::channels_last);
    const DiceCeValue h = dice_ce_loss(cpu, logits, target, dhalf.view(), {}, 0.5);
    const DiceCeValue f = dice_ce_loss(cpu, widened, target, dfull.view(), {}, 0.5);
    CHECK(h.loss == f.loss);
    const Tensor<bfloat16> rounded = to<bfloat16>(dfull.view(), Layout::channels_last);
    CHECK(std::equal(rounded.data(), rounded.data() + rounded.numel(), dhalf.data(),
                     [](bfloat16 a, bfloat16 b) { return float(a) == float(b); }));
}

TEST_CASE("The training-step helpers reject targets that do not fit, naming the shapes") {
    const nn::UNetTopology top{.pool_strides = {{2, 2, 2}}, .conv_kernels = {{3, 3, 3}, {3, 3, 3}}, .base_features = 2};
    CHECK_THROWS_WITH_AS(train::deep_supervision_targets(cpu, top, Tensor<std::uint8_t>({1, 2, 4, 4, 4})),
                         doctest::Contains("deep_supervision_targets: mask (1,2,4,4,4) must be (N,1,D,H,W)"), Error);
    std::vector<Tensor<float>> outputs;
    outputs.emplace_back(Shape{1, 2, 4, 4, 4});
    outputs.emplace_back(Shape{1, 2, 2, 2, 2});
    std::vector<Tensor<std::uint8_t>> one;
    one.emplace_back(Shape{1, 1, 4, 4, 4});
    std::vector<Tensor<float>> douts;
    CHECK_THROWS_WITH_AS(deep_supervision_loss(cpu, outputs, one, douts),
                         doctest::Contains("deep_supervision_loss: 2 outputs but 1 targets"), Error);
}
