// Fused instance norm + LeakyReLU: float64 central differences, cpu against the reference, against
// the unfused pair, PyTorch fixtures, messages.
#include "support/norm_run.hpp"

#include "axonseg/ops/instance_norm_leaky_relu.hpp"
#include "axonseg/ops/leaky_relu.hpp"

using namespace axonseg;
using namespace axonseg::test;

namespace {

template <class T>
using FusedRun = NormRun<T, NormOp::leaky_relu>;

}  // namespace

TEST_CASE("instance_norm_leaky_relu backward matches float64 central differences (reference)") {
    const Shape shape{2, 3, 3, 4, 5};
    const InstanceNormLeakyReluParams p{.eps = 1e-5, .negative_slope = 0.1};
    Tensor<double> x = random_tensor<double>(shape, 1, Layout::contiguous, -1.0, 2.0);
    Tensor<double> gamma = random_tensor<double>({3}, 2, Layout::contiguous, 0.5, 1.5);
    Tensor<double> beta = random_tensor<double>({3}, 3, Layout::contiguous, -0.5, 0.5);
    Tensor<double> w = random_tensor<double>(shape, 4);
    Tensor<double> y(shape), mean({2, 3}), rstd({2, 3}), dx(shape), dgamma({3}), dbeta({3});
    auto loss = [&] {
        instance_norm_leaky_relu_forward(reference, x, gamma, beta, y, Tensor<double>(), Tensor<double>(), p);
        return weighted_sum(y, w);
    };
    instance_norm_leaky_relu_forward(reference, x, gamma, beta, y, mean, rstd, p);
    instance_norm_leaky_relu_backward(reference, x, gamma, beta, mean, rstd, w, dx, dgamma, dbeta, p);
    check_close(dx.view(), numeric_gradient(x, loss).view(), 1e-7, "dx vs central differences");
    check_close(dgamma.view(), numeric_gradient(gamma, loss).view(), 1e-7, "dgamma vs central differences");
    check_close(dbeta.view(), numeric_gradient(beta, loss).view(), 1e-7, "dbeta vs central differences");
}

TEST_CASE_TEMPLATE("instance_norm_leaky_relu cpu matches the reference", T, float, double, bfloat16) {
    check_cpu_against_reference<T, NormOp::leaky_relu>(-0.5, 0.5);
}

TEST_CASE("instance_norm_leaky_relu cpu on a non-contiguous input (a channel range)") {
    Tensor<float> big = random_tensor<float>({2, 6, 5, 6, 7}, 11, Layout::channels_last);
    check_view_against_reference<NormOp::leaky_relu>(big.narrow(1, 2, 3), "narrowed input");
}

TEST_CASE("instance_norm_leaky_relu cpu equals instance_norm then leaky_relu, in place too") {
    const Shape shape{2, 32, 6, 7, 8};
    Tensor<float> x = random_tensor<float>(shape, 15, Layout::channels_last, -1.0, 3.0);
    Tensor<float> dy = random_tensor<float>(shape, 16, Layout::channels_last);
    Tensor<float> gamma = random_tensor<float>({32}, 17), beta = random_tensor<float>({32}, 18);
    FusedRun<float> fused(shape, 1e30, Layout::channels_last), pair(shape, -1e30, Layout::channels_last);
    fused.run(cpu, x, gamma, beta, dy);

    Tensor<float> z(shape, Layout::channels_last), dz(shape, Layout::channels_last);
    instance_norm_forward(cpu, x, gamma, beta, z, pair.mean, pair.rstd);
    leaky_relu_forward(cpu, z, pair.y);
    leaky_relu_backward(cpu, z, dy, dz);
    instance_norm_backward(cpu, x, gamma, pair.mean, pair.rstd, dz, pair.dx, pair.dgamma, pair.dbeta);
    check_runs(fused, pair, 1e-6, "fused vs pair");

    // In place: y over x (inference) and dx over dy.
    Tensor<float> x_in = clone(x.view(), Layout::channels_last), dy_in = clone(dy.view(), Layout::channels_last);
    instance_norm_leaky_relu_forward(cpu, x, gamma, beta, x_in, {}, {});
    instance_norm_leaky_relu_backward(cpu, x, gamma, beta, fused.mean, fused.rstd, dy_in, dy_in, {}, {});
    check_close(x_in.view(), fused.y.view(), 0.0, "y in place");
    check_close(dy_in.view(), fused.dx.view(), 0.0, "dx in place");
}

TEST_CASE_TEMPLATE("instance_norm_leaky_relu matches PyTorch", T, float, bfloat16) {
    check_against_pytorch<T, NormOp::leaky_relu>("instance_norm_leaky_relu.fix");
}

TEST_CASE("instance_norm_leaky_relu rejects bad arguments with a clear message") {
    Tensor<float> x({2, 3, 4, 4, 4}), y({2, 3, 4, 4, 4}), gamma({3}), mean({2, 3}), rstd({2, 3});
    Tensor<float> wrong_beta({2}), other({2, 3, 4, 4, 5}), flat({2, 3, 16});
    CHECK_THROWS_WITH_AS(
        instance_norm_leaky_relu_forward(cpu, flat, {}, {}, flat, {}, {}),
        doctest::Contains("instance_norm_leaky_relu_forward: input (2,3,16) must have rank 5 (N,C,D,H,W)"), Error);
    CHECK_THROWS_WITH_AS(
        instance_norm_leaky_relu_forward(cpu, x, gamma, wrong_beta, y, mean, rstd),
        doctest::Contains("instance_norm_leaky_relu_forward: beta (2) must be empty or (3) for input (2,3,4,4,4)"),
        Error);
    CHECK_THROWS_WITH_AS(
        instance_norm_leaky_relu_backward(cpu, x, gamma, wrong_beta, mean, rstd, y, y, gamma, gamma),
        doctest::Contains("instance_norm_leaky_relu_backward: beta (2) must be empty or (3)"), Error);
    CHECK_THROWS_WITH_AS(
        instance_norm_leaky_relu_backward(cpu, x, gamma, gamma, mean, rstd, y, other, gamma, gamma),
        doctest::Contains("instance_norm_leaky_relu_backward: input (2,3,4,4,4) and dx (2,3,4,4,5) differ in shape"),
        Error);
}
