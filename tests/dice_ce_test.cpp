// Dice + cross-entropy loss: float64 gradient check, nnU-Net's own loss class as the fixture,
// deep-supervision weights, and bad targets.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/loss/deep_supervision.hpp"
#include "axonseg/loss/dice_ce.hpp"

using namespace axonseg;
using namespace axonseg::test;

namespace {
Tensor<std::uint8_t> random_labels(const Shape& shape, int classes, std::uint64_t seed) {
    Tensor<std::uint8_t> t(shape);
    std::mt19937_64 rng(seed);
    for (Index i = 0; i < t.numel(); ++i) t.data()[i] = std::uint8_t(rng() % std::uint64_t(classes));
    return t;
}
}  // namespace

TEST_CASE("dice_ce_loss gradient matches float64 central differences") {
    for (bool batch_dice : {false, true})
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const Shape shape{2, 3, 3, 4, 5};
            Tensor<double> x = random_tensor<double>(shape, 3, layout, -2, 2);
            Tensor<std::uint8_t> y = random_labels({2, 1, 3, 4, 5}, 3, 4);
            const DiceCeParams p{.batch_dice = batch_dice};
            Tensor<double> dx(shape, layout);
            dice_ce_loss(cpu, x, y, dx, p, 0.7);
            Tensor<double> numeric = numeric_gradient(x, [&] {
                return 0.7 * dice_ce_loss(cpu, x, y, TensorView<double>{}, p).loss;
            });
            check_close(dx.view(), numeric.view(), 1e-6,
                        std::string("batch_dice ") + (batch_dice ? "on " : "off ") + to_string(layout));
        }
}

TEST_CASE("dice_ce_loss matches nnU-Net's DC_and_CE_loss and its autograd gradient") {
    Fixture fx(fixture_path("dice_ce.fix"));
    for (const std::string name : {"ps_k2", "batch_k2", "ps_k3"}) {
        Tensor<float> logits = fx.tensor<float>(name + "_logits");
        Tensor<std::uint8_t> target = fx.tensor<std::uint8_t>(name + "_target");
        Tensor<float> cl = to<float>(logits.view(), Layout::channels_last);
        Tensor<float> dx(logits.shape(), Layout::channels_last);
        const DiceCeParams p{.batch_dice = fx.meta()[name]["batch_dice"].get<bool>()};
        const DiceCeValue v = dice_ce_loss(cpu, cl, target, dx, p);
        INFO(name);
        CHECK(v.loss == doctest::Approx(fx.meta()[name]["loss"].get<double>()).epsilon(1e-5));
        check_close(dx.view(), fx.tensor<float>(name + "_dlogits").view(), 1e-5, name + " dlogits");
        const DiceCeValue r = dice_ce_loss(reference, logits, target, TensorView<float>{}, p);
        CHECK(r.loss == doctest::Approx(v.loss).epsilon(1e-6));
    }
}

TEST_CASE("dice_ce_loss is deterministic and agrees in bfloat16 within its precision") {
    Tensor<float> x = random_tensor<float>({1, 2, 9, 8, 7}, 8, Layout::channels_last, -3, 3);
    Tensor<std::uint8_t> y = random_labels({1, 1, 9, 8, 7}, 2, 9);
    Tensor<bfloat16> xb = to<bfloat16>(x.view(), Layout::channels_last);
    Tensor<float> xr = to<float>(xb.view(), Layout::channels_last);  // the same values in float
    const double a = dice_ce_loss(cpu, xr, y, TensorView<float>{}).loss;
    const double b = dice_ce_loss(cpu, xb, y, TensorView<bfloat16>{}).loss;
    CHECK(a == dice_ce_loss(cpu, xr, y, TensorView<float>{}).loss);
    CHECK(b == doctest::Approx(a).epsilon(1e-6));
}

TEST_CASE("deep supervision weights halve per level, mask the lowest and sum to one") {
    const std::vector<double> w = deep_supervision_weights(5);
    REQUIRE(w.size() == 5);
    CHECK(w[0] == doctest::Approx(1 / 1.875));
    CHECK(w[1] == doctest::Approx(0.5 / 1.875));
    CHECK(w[3] == doctest::Approx(0.125 / 1.875));
    CHECK(w[4] == 0.0);
    CHECK(deep_supervision_weights(1)[0] == 1.0);
}

TEST_CASE("dice_ce_loss rejects targets that do not fit the logits") {
    Tensor<float> x({1, 2, 4, 4, 4});
    fill(x.view(), 0.0f);
    Tensor<std::uint8_t> wrong({1, 1, 4, 4, 5});
    CHECK_THROWS_WITH_AS(dice_ce_loss(cpu, x, wrong, TensorView<float>{}),
                         doctest::Contains("dice_ce_loss: target (1,1,4,4,5) does not fit logits (1,2,4,4,4)"),
                         Error);
    Tensor<std::uint8_t> y = Tensor<std::uint8_t>::full({1, 1, 4, 4, 4}, 2);
    CHECK_THROWS_WITH_AS(dice_ce_loss(cpu, x, y, TensorView<float>{}),
                         doctest::Contains("target holds a class index >= K = 2"), Error);
}
