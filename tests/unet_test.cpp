// The Generic U-Net against nnU-Net v1's own Generic_UNet (tools/fixtures/make_unet_fixture.py):
// parameter names and shapes, deep-supervision outputs, the deep-supervised Dice + CE loss, every
// parameter gradient and three AMSGrad Adam steps, for an isotropic and an anisotropic plan; the
// backward against float64 central differences; inference and bf16 against training's output; bad
// inputs; learning a small segmentation through train::train_step in fp32 and in bf16 mixed precision.
#include "support/checks.hpp"
#include "support/fixture.hpp"
#include "support/unet_fixture.hpp"

#include "axonseg/loss/deep_supervision.hpp"
#include "axonseg/loss/dice_ce.hpp"
#include "axonseg/nn/unet.hpp"
#include "axonseg/ops/downsample_nearest.hpp"
#include "axonseg/optim/adam.hpp"
#include "axonseg/train/train_step.hpp"

#include <algorithm>

using namespace axonseg;
using namespace axonseg::test;
using nn::Mode;
using nn::UNet;
using nn::UNetTopology;

namespace {

double max_abs(TensorView<const float> t) {
    double m = 0;
    for (Index i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(double(t.data()[i])));
    return m;
}

// A conv bias right before an instance norm has no effect on the output, so its exact gradient is
// zero and what both sides compute is rounding noise: it is checked against the scale of the
// weight's gradient instead of element by element.
bool is_conv_bias(const std::string& name) { return name.ends_with("conv.bias"); }

template <class T>
std::vector<TensorView<const T>> views_of(const std::vector<Tensor<T>>& ts) {
    return {ts.begin(), ts.end()};
}

}  // namespace

TEST_CASE("UNet builds nnU-Net's D-LMBmap network with PyTorch's names and shapes") {
    UNet<float> net(UNetTopology::dlmbmap(), 1);
    CHECK(net.parameters().size() == 5 * 2 * 4 + 2 * 4 + 5 * 2 * 4 + 5 + 5);
    CHECK(net.parameter("conv_blocks_context.0.blocks.0.conv.weight").value.shape() == Shape{32, 1, 3, 3, 3});
    CHECK(net.parameter("conv_blocks_context.4.blocks.1.instnorm.bias").value.shape() == Shape{320});
    CHECK(net.parameter("conv_blocks_context.5.0.blocks.0.conv.weight").value.shape() == Shape{320, 320, 3, 3, 3});
    CHECK(net.parameter("module.conv_blocks_context.5.1.blocks.0.conv.bias").value.shape() == Shape{320});
    CHECK(net.parameter("tu.0.weight").value.shape() == Shape{320, 320, 2, 2, 2});
    CHECK(net.parameter("tu.1.weight").value.shape() == Shape{320, 256, 2, 2, 2});
    CHECK(net.parameter("tu.4.weight").value.shape() == Shape{64, 32, 2, 2, 2});
    CHECK(net.parameter("conv_blocks_localization.0.0.blocks.0.conv.weight").value.shape() ==
          Shape{320, 640, 3, 3, 3});
    CHECK(net.parameter("conv_blocks_localization.4.1.blocks.0.conv.weight").value.shape() ==
          Shape{32, 32, 3, 3, 3});
    CHECK(net.parameter("seg_outputs.4.weight").value.shape() == Shape{2, 32, 1, 1, 1});
    CHECK_THROWS_WITH_AS(net.parameter("seg_outputs.5.weight"), doctest::Contains("no parameter named"), Error);

    // He initialisation: std sqrt(2 / (1 + 1e-4)) / sqrt(fan_in), fan_in from dimension 1 (also for
    // the transposed conv); biases 0, norm weights 1.
    auto spread = [](const Tensor<float>& w) {
        double s = 0;
        for (Index i = 0; i < w.numel(); ++i) s += double(w.data()[i]) * w.data()[i];
        return std::sqrt(s / double(w.numel()));
    };
    const double gain = std::sqrt(2.0 / (1.0 + 1e-4));
    CHECK(spread(net.parameter("conv_blocks_context.5.0.blocks.0.conv.weight").value) ==
          doctest::Approx(gain / std::sqrt(320.0 * 27)).epsilon(0.01));
    CHECK(spread(net.parameter("tu.1.weight").value) == doctest::Approx(gain / std::sqrt(256.0 * 8)).epsilon(0.01));
    CHECK(net.parameter("conv_blocks_context.2.blocks.0.conv.bias").value.data()[5] == 0.0f);
    CHECK(net.parameter("conv_blocks_context.2.blocks.0.instnorm.weight").value.data()[5] == 1.0f);
}

// The fixture holds float64 PyTorch results, from cases its generator checked to be well-conditioned
// in float32 (no LeakyReLU input within float32 rounding of zero, where a float32 run may take the
// other slope and move every gradient below by percents): PyTorch's own float32 gradients, and ours,
// agree with them within 1e-5 relative (per tensor, to its largest element).
constexpr double k_grad_rtol = 1e-4;

// Loads the fixture's parameters into a U-Net on backend B and checks outputs, loss and gradients,
// then (with_adam) inference, bf16 and three Adam steps.
template <Backend B>
void check_against_fixture(B backend, const std::string& name, bool with_adam) {
    INFO("case ", name, ", backend ", B::name);
    Fixture init(fixture_path("unet_" + name + "_init.fix"));
    Fixture grads(fixture_path("unet_" + name + "_grads.fix"));
    Fixture adam(fixture_path("unet_" + name + "_adam.fix"));
    UNet<float, B> net(topology_of(init), 7);

    // Same parameters, in PyTorch's named_parameters() order.
    const auto& order = init.meta()["parameter_order"];
    REQUIRE(net.parameters().size() == order.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        CHECK(net.parameters()[i].name == order[i].get<std::string>());
        net.load(net.parameters()[i].name, init.tensor<float>(net.parameters()[i].name));
    }

    // The targets per output: nnU-Net's centre rule, as our downsampling op computes it.
    const Tensor<float> x = init.tensor<float>("input");
    const Tensor<std::uint8_t> target = init.tensor<std::uint8_t>("target");
    std::vector<Tensor<std::uint8_t>> targets;
    for (int i = 0; init.has("target_" + std::to_string(i)); ++i) {
        targets.push_back(init.tensor<std::uint8_t>("target_" + std::to_string(i)));
        Tensor<std::uint8_t> ours(targets.back().shape());
        downsample_nearest(cpu, target, ours.view(), NearestRule::centre);
        check_close(ours.view(), targets.back().view(), 0, "target " + std::to_string(i));
    }

    net.set_mode(Mode::training);
    std::vector<Tensor<float>> outputs = net.forward(x);
    REQUIRE(outputs.size() == targets.size());
    for (std::size_t i = 0; i < outputs.size(); ++i)
        check_close(outputs[i].view(), grads.tensor<float>("output_" + std::to_string(i)).view(), 1e-4,
                    name + " output " + std::to_string(i));
    std::vector<Tensor<float>> douts;
    const double loss = deep_supervision_loss(backend, outputs, targets, douts);
    CHECK(loss == doctest::Approx(init.meta()["loss"].get<double>()).epsilon(1e-4));
    net.backward(views_of(douts));
    for (const nn::Parameter& p : net.parameters()) {
        INFO(name, " grad ", p.name);
        if (is_conv_bias(p.name)) {
            const std::string weight = p.name.substr(0, p.name.size() - 4) + "weight";
            CHECK(max_abs(p.grad) <= 1e-5 * max_abs(net.parameter(weight).grad));
        } else {
            check_close(p.grad.view(), grads.tensor<float>("grad." + p.name).view(), k_grad_rtol, name + " grad " + p.name);
        }
    }

    if (!with_adam) return;

    // Inference returns the full-resolution output alone, the same logits; bf16 within its precision.
    net.set_mode(Mode::inference);
    std::vector<Tensor<float>> inferred = net.forward(x);
    REQUIRE(inferred.size() == 1);
    check_close(inferred[0].view(), outputs[0].view(), 1e-5, name + " inference");
    UNet<bfloat16, B> half(topology_of(init));
    for (const nn::Parameter& p : net.parameters()) half.load(p.name, p.value);
    const Tensor<bfloat16> xb = to<bfloat16>(x.view(), Layout::channels_last);
    check_close(half.forward(xb)[0].view(), outputs[0].view(), 5e-2, name + " bf16 inference");

    // Three Adam steps on the same batch. PyTorch's lowest-resolution head has no gradient (its
    // loss weight is 0), so torch.optim.Adam skips it entirely, weight decay included: so does
    // trained_parameters.
    const std::vector<optim::ParamRef> refs = train::trained_parameters(net);
    CHECK(refs.size() == net.parameters().size() - 1);
    optim::Adam opt(refs, optim::AdamParams{.lr = 3e-4, .weight_decay = 3e-5, .amsgrad = true});
    for (int step = 0; step < 3; ++step) train::train_step<train::Fp32>(net, opt, refs, x, targets);
    // Adam's first steps move each element by about lr * sign(gradient), so an element whose gradient
    // is within float32 rounding of zero may step the other way (up to 2 lr per step); PyTorch's own
    // float32 run differs from its float64 one that way in up to 14% of a tensor's elements. So: no
    // element may be off by more than those flips allow, and the median element must agree within
    // 1e-4 of the tensor's scale (or a tenth of a step, for norm biases, which start at 0).
    const double lr = 3e-4;
    for (const nn::Parameter& p : net.parameters()) {
        INFO(name, " after Adam ", p.name);
        const Tensor<float> expected = adam.tensor<float>(p.name);
        std::vector<double> err(std::size_t(p.value.numel()));
        for (Index i = 0; i < p.value.numel(); ++i)
            err[std::size_t(i)] = std::abs(double(p.value.data()[i]) - expected.data()[i]);
        std::nth_element(err.begin(), err.begin() + std::ptrdiff_t(err.size() / 2), err.end());
        const double median = err[err.size() / 2], worst = *std::max_element(err.begin(), err.end());
        INFO("median |error| ", median, ", worst ", worst);
        CHECK(worst <= 6 * lr * 1.01);
        if (!is_conv_bias(p.name))  // noise-driven steps: only their size is known
            CHECK(median <= std::max(1e-4 * max_abs(expected), 0.1 * lr));
    }
}

TEST_CASE("UNet reproduces nnU-Net's Generic_UNet: outputs, loss, gradients, Adam steps") {
    check_against_fixture(cpu, "iso", true);
    check_against_fixture(cpu, "aniso", true);
}

TEST_CASE("UNet on the reference backend reproduces nnU-Net's outputs, loss and gradients") {
    check_against_fixture(reference, "iso", false);
    check_against_fixture(reference, "aniso", false);
}

TEST_CASE("UNet backward matches float64 central differences (reference backend)") {
    // Anisotropic, three convs per stage, deep supervision: every construction rule is exercised.
    UNetTopology top{.input_channels = 2,
                     .classes = 3,
                     .pool_strides = {{1, 2, 2}, {2, 2, 2}},
                     .conv_kernels = {{1, 3, 3}, {3, 3, 3}, {3, 1, 3}},
                     .base_features = 2,
                     .max_features = 3,
                     .convs_per_stage = 3};
    UNet<double, Reference> net(top, 3);
    net.set_mode(Mode::training);
    const Tensor<double> x = random_tensor<double>({2, 2, 2, 8, 4}, 11, Layout::channels_last);
    std::vector<Tensor<std::uint8_t>> targets;
    for (const Shape& s : {Shape{2, 1, 2, 8, 4}, Shape{2, 1, 2, 4, 2}}) {
        targets.emplace_back(s);
        std::mt19937_64 rng(s[3]);
        for (Index i = 0; i < s.numel(); ++i) targets.back().data()[i] = std::uint8_t(rng() % 3);
    }
    // nnU-Net masks the lowest output; weight it here so every head gets a gradient.
    auto loss_of = [&](const std::vector<Tensor<double>>& out, std::vector<Tensor<double>>* douts) {
        double loss = 0;
        for (std::size_t i = 0; i < out.size(); ++i) {
            const double w = 1.0 / double(i + 1);
            TensorView<double> d;
            if (douts) d = (*douts)[i] = Tensor<double>(out[i].shape(), Layout::channels_last);
            loss += w * dice_ce_loss(reference, out[i], targets[i], d, {}, w).loss;
        }
        return loss;
    };
    std::vector<Tensor<double>> douts(2);
    loss_of(net.forward(x), &douts);
    net.backward(views_of(douts));

    int checked = 0;
    for (std::size_t i = 0; i < net.parameters().size(); ++i) {
        TensorView<double> w = net.working_value(i);
        const Index n = w.numel();
        for (Index k : {Index(0), n / 2, n - 1}) {
            const double analytic = net.working_grad(i).data()[k];
            const double saved = w.data()[k], eps = 1e-6;
            w.data()[k] = saved + eps;
            const double up = loss_of(net.forward(x), nullptr);
            w.data()[k] = saved - eps;
            const double down = loss_of(net.forward(x), nullptr);
            w.data()[k] = saved;
            const double numeric = (up - down) / (2 * eps);
            INFO(net.parameters()[i].name, "[", k, "]: analytic ", analytic, ", numeric ", numeric);
            CHECK(std::abs(analytic - numeric) <= 1e-6 + 1e-5 * std::abs(numeric));
            ++checked;
        }
    }
    CHECK(checked > 100);
}

TEST_CASE("UNet rejects inputs that do not fit the network, naming the shapes") {
    UNetTopology top{.input_channels = 1, .classes = 2, .pool_strides = {{1, 2, 2}, {2, 2, 2}},
                     .conv_kernels = std::vector<Index3>(3, Index3::all(3)), .base_features = 2};
    UNet<float> net(top);
    CHECK_THROWS_WITH_AS(net.forward(Tensor<float>::zeros({1, 2, 4, 8, 8})),
                         doctest::Contains("input (1,2,4,8,8) has 2 channels, the network expects 1"), Error);
    CHECK_THROWS_WITH_AS(net.forward(Tensor<float>::zeros({1, 1, 4, 8, 6})),
                         doctest::Contains("spatial size (4,8,6); each axis must be a positive multiple of the "
                                           "total pooling (2,4,4)"),
                         Error);
    CHECK_THROWS_WITH_AS(net.forward(Tensor<float>::zeros({1, 1, 4})), doctest::Contains("must be (N,C,D,H,W)"),
                         Error);
    CHECK_THROWS_WITH_AS(net.backward({}), doctest::Contains("needs a training-mode forward first"), Error);
    net.set_mode(Mode::training);
    std::vector<Tensor<float>> out = net.forward(Tensor<float>::zeros({1, 1, 4, 8, 8}));
    std::vector<TensorView<const float>> wrong{out[0], out[0]};
    CHECK_THROWS_WITH_AS(net.backward(wrong),
                         doctest::Contains("gradient 1 (1,2,4,8,8) should be dense and (1,2,4,4,4) like output 1"),
                         Error);
    top.conv_kernels.pop_back();
    CHECK_THROWS_WITH_AS(UNet<float>{top}, doctest::Contains("2 poolings need 3 conv kernels, got 2"), Error);
}

namespace {

// Bright tubes (intensity 1, radius 1.5 voxels, along random axes) in Gaussian noise of sigma 0.5,
// and their mask.
void tube_volume(std::mt19937_64& rng, TensorView<float> image, TensorView<std::uint8_t> mask) {
    const Index N = image.dim(0), D = image.dim(2), H = image.dim(3), W = image.dim(4);
    std::normal_distribution<float> noise(0.0f, 0.5f);
    std::uniform_real_distribution<double> pos(2.0, double(std::min({D, H, W})) - 2.0);
    for (Index n = 0; n < N; ++n) {
        struct Tube { int axis; double u, v; };
        std::vector<Tube> tubes;
        for (int t = 0; t < 3; ++t) tubes.push_back({int(rng() % 3), pos(rng), pos(rng)});
        for (Index d = 0; d < D; ++d)
            for (Index h = 0; h < H; ++h)
                for (Index w = 0; w < W; ++w) {
                    const double c[3] = {double(d), double(h), double(w)};
                    bool inside = false;
                    for (const Tube& t : tubes) {
                        const double du = c[(t.axis + 1) % 3] - t.u, dv = c[(t.axis + 2) % 3] - t.v;
                        inside = inside || du * du + dv * dv <= 2.25;
                    }
                    mask(n, 0, d, h, w) = inside;
                    image(n, 0, d, h, w) = (inside ? 1.0f : 0.0f) + noise(rng);
                }
    }
}

// Trains through train::train_step in precision P: the loss falls and the foreground Dice of fresh
// volumes passes 0.8.
template <train::Precision P>
void check_learns_tubes() {
    using T = typename P::compute;
    UNetTopology top{.input_channels = 1, .classes = 2, .pool_strides = std::vector<Index3>(3, Index3::all(2)),
                     .conv_kernels = std::vector<Index3>(4, Index3::all(3)), .base_features = 8};
    UNet<T> net(top, 21);
    const std::vector<optim::ParamRef> refs = train::trained_parameters(net);
    optim::Adam opt(refs, optim::AdamParams{.lr = 3e-3, .weight_decay = 3e-5, .amsgrad = true});

    std::mt19937_64 rng(5);
    const Shape shape{2, 1, 32, 32, 32};
    Tensor<float> image(shape, Layout::channels_last);
    Tensor<std::uint8_t> mask(shape);
    double first = 0, last = 0;
    const int steps = 200, window = 20;
    for (int step = 0; step < steps; ++step) {
        tube_volume(rng, image, mask);
        const Tensor<T> x = to<T>(image.view(), Layout::channels_last);
        const double loss = train::train_step<P>(net, opt, refs, x, train::deep_supervision_targets(cpu, top, mask));
        if (step < window) first += loss / window;
        if (step >= steps - window) last += loss / window;
    }
    MESSAGE(std::string(P::k_name), ": mean loss over the first ", window, " steps ", first, ", over the last ", last);
    CHECK(last < first - 0.5);

    // Foreground Dice of the argmax on fresh volumes, in inference mode.
    net.set_mode(Mode::inference);
    double tp = 0, fp = 0, fn = 0;
    for (int v = 0; v < 4; ++v) {
        tube_volume(rng, image, mask);
        const Tensor<T> logits = std::move(net.forward(to<T>(image.view(), Layout::channels_last))[0]);  // (2,2,32,32,32)
        for (Index n = 0; n < shape[0]; ++n)
            for (Index d = 0; d < shape[2]; ++d)
                for (Index h = 0; h < shape[3]; ++h)
                    for (Index w = 0; w < shape[4]; ++w) {
                        const bool predicted = float(logits(n, 1, d, h, w)) > float(logits(n, 0, d, h, w));
                        const bool truth = mask(n, 0, d, h, w) != 0;
                        tp += predicted && truth;
                        fp += predicted && !truth;
                        fn += !predicted && truth;
                    }
    }
    const double dice = 2 * tp / (2 * tp + fp + fn);
    MESSAGE(std::string(P::k_name), ": foreground Dice ", dice);
    CHECK(dice > 0.8);
}

}  // namespace

TEST_CASE("UNet learns to segment tubes in noise on the CPU") {
    check_learns_tubes<train::Fp32>();
}

TEST_CASE("UNet learns to segment tubes in noise on the CPU in bf16 mixed precision") {
    check_learns_tubes<train::Bf16Mixed>();
}
