// Results are identical from run to run for a fixed thread count: the reductions (weight
// gradients, norm statistics, loss sums) combine per-thread partial sums in a fixed order.
// Each case runs twice and compares the bits.
#include "support/checks.hpp"

#include "axonseg/loss/dice_ce.hpp"
#include "axonseg/ops/conv3d.hpp"
#include "axonseg/ops/instance_norm_leaky_relu.hpp"

#include <cstring>

using namespace axonseg;
using namespace axonseg::test;

namespace {
template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.numel()) * sizeof(T)) == 0;
}
}  // namespace

TEST_CASE("conv3d backward gives the same bits twice") {
    const Shape xs{2, 8, 12, 13, 14}, ws{16, 8, 3, 3, 3};
    Tensor<float> x = random_tensor<float>(xs, 1, Layout::channels_last);
    Tensor<float> w = random_tensor<float>(ws, 2);
    const Conv3dParams p{.pad = {1, 1, 1}};
    Tensor<float> dy = random_tensor<float>(conv3d_output_shape(xs, ws, p), 3, Layout::channels_last);
    auto run = [&] {
        Tensor<float> dx(xs, Layout::channels_last), dw(ws), db({16});
        conv3d_backward(cpu, x, w, dy, dx, dw, db, p);
        return std::tuple{std::move(dx), std::move(dw), std::move(db)};
    };
    auto [dx1, dw1, db1] = run();
    auto [dx2, dw2, db2] = run();
    CHECK(same_bits(dx1, dx2));
    CHECK(same_bits(dw1, dw2));
    CHECK(same_bits(db1, db2));
}

TEST_CASE("instance norm + LeakyReLU forward and backward give the same bits twice") {
    const Shape s{2, 32, 20, 21, 22};
    Tensor<float> x = random_tensor<float>(s, 4, Layout::channels_last, -3, 5);
    Tensor<float> dy = random_tensor<float>(s, 5, Layout::channels_last);
    Tensor<float> gamma = random_tensor<float>({32}, 6), beta = random_tensor<float>({32}, 7);
    auto run = [&] {
        Tensor<float> y(s, Layout::channels_last), dx(s, Layout::channels_last), mean({2, 32}), rstd({2, 32});
        Tensor<float> dg({32}), db({32});
        instance_norm_leaky_relu_forward(cpu, x, gamma, beta, y, mean, rstd);
        instance_norm_leaky_relu_backward(cpu, x, gamma, beta, mean, rstd, dy, dx, dg, db);
        return std::tuple{std::move(y), std::move(dx), std::move(dg), std::move(rstd)};
    };
    auto [y1, dx1, dg1, r1] = run();
    auto [y2, dx2, dg2, r2] = run();
    CHECK(same_bits(y1, y2));
    CHECK(same_bits(dx1, dx2));
    CHECK(same_bits(dg1, dg2));
    CHECK(same_bits(r1, r2));
}

TEST_CASE("the Dice + CE loss and its gradient give the same bits twice") {
    const Shape s{2, 2, 17, 18, 19};
    Tensor<float> x = random_tensor<float>(s, 8, Layout::channels_last, -4, 4);
    Tensor<std::uint8_t> t({2, 1, 17, 18, 19});
    for (Index i = 0; i < t.numel(); ++i) t.data()[i] = std::uint8_t((i * 7919) % 5 == 0);
    Tensor<float> d1(s, Layout::channels_last), d2(s, Layout::channels_last);
    const double l1 = dice_ce_loss(cpu, x, t, d1).loss;
    const double l2 = dice_ce_loss(cpu, x, t, d2).loss;
    CHECK(std::memcmp(&l1, &l2, sizeof(double)) == 0);
    CHECK(same_bits(d1, d2));
}
