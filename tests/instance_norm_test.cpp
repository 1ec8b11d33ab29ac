// Instance norm: float64 central differences, cpu against the reference, PyTorch fixtures, messages.
#include "support/norm_run.hpp"

#include "axonseg/ops/instance_norm.hpp"

using namespace axonseg;
using namespace axonseg::test;

namespace {

template <class T>
using PlainRun = NormRun<T, NormOp::plain>;

}  // namespace

TEST_CASE("instance_norm backward matches float64 central differences (reference)") {
    const Shape shape{2, 3, 3, 4, 5};
    Tensor<double> x = random_tensor<double>(shape, 1, Layout::contiguous, -1.0, 2.0);
    Tensor<double> gamma = random_tensor<double>({3}, 2, Layout::contiguous, 0.5, 1.5);
    Tensor<double> beta = random_tensor<double>({3}, 3);
    Tensor<double> w = random_tensor<double>(shape, 4);
    Tensor<double> y(shape), mean({2, 3}), rstd({2, 3}), dx(shape), dgamma({3}), dbeta({3});
    auto loss = [&] {
        instance_norm_forward(reference, x, gamma, beta, y, Tensor<double>(), Tensor<double>());
        return weighted_sum(y, w);
    };
    instance_norm_forward(reference, x, gamma, beta, y, mean, rstd);
    instance_norm_backward(reference, x, gamma, mean, rstd, w, dx, dgamma, dbeta);
    check_close(dx.view(), numeric_gradient(x, loss).view(), 1e-7, "dx vs central differences");
    check_close(dgamma.view(), numeric_gradient(gamma, loss).view(), 1e-7, "dgamma vs central differences");
    check_close(dbeta.view(), numeric_gradient(beta, loss).view(), 1e-7, "dbeta vs central differences");

    SUBCASE("accumulate adds the parameter gradients into what is there") {
        Tensor<double> acc_gamma = Tensor<double>::full({3}, 0.25), acc_beta = Tensor<double>::full({3}, -1.0);
        instance_norm_backward(reference, x, gamma, mean, rstd, w, Tensor<double>(), acc_gamma, acc_beta,
                               Grad::accumulate);
        for (Index c = 0; c < 3; ++c) {
            CHECK(acc_gamma(c) == doctest::Approx(dgamma(c) + 0.25).epsilon(1e-12));
            CHECK(acc_beta(c) == doctest::Approx(dbeta(c) - 1.0).epsilon(1e-12));
        }
    }
}

TEST_CASE("instance_norm without gamma and beta is the affine one with 1 and 0 (cpu)") {
    const Shape shape{1, 3, 4, 5, 6};
    Tensor<float> x = random_tensor<float>(shape, 5, Layout::channels_last), dy = random_tensor<float>(shape, 6, Layout::channels_last);
    Tensor<float> ones = Tensor<float>::full({3}, 1.0f), zeros = Tensor<float>::zeros({3});
    PlainRun<float> plain(shape, 1e30, Layout::channels_last), affine(shape, -1e30, Layout::channels_last);
    plain.run(cpu, x, {}, {}, dy);
    affine.run(cpu, x, ones, zeros, dy);
    check_close(plain.y.view(), affine.y.view(), 0.0, "y");
    check_close(plain.dx.view(), affine.dx.view(), 0.0, "dx");
}

TEST_CASE_TEMPLATE("instance_norm cpu matches the reference", T, float, double, bfloat16) {
    check_cpu_against_reference<T, NormOp::plain>(-1.0, 1.0);
}

TEST_CASE("instance_norm cpu on a non-contiguous input (a spatial box)") {
    Tensor<float> big = random_tensor<float>({1, 3, 6, 7, 8}, 11, Layout::channels_last);
    check_view_against_reference<NormOp::plain>(big.box({0, 0, 1, 0, 2}, {1, 3, 4, 7, 5}), "boxed input");
}

TEST_CASE("instance_norm cpu keeps a 128^3 sample with an offset mean accurate") {
    const Shape shape{1, 2, 128, 128, 128};
    Tensor<float> x = random_tensor<float>(shape, 15, Layout::channels_last, 2.0, 4.0);
    Tensor<float> y_ref(shape, Layout::channels_last), y_cpu(shape, Layout::channels_last);
    Tensor<float> m_ref({1, 2}), r_ref({1, 2}), m_cpu({1, 2}), r_cpu({1, 2});
    instance_norm_forward(reference, x, {}, {}, y_ref, m_ref, r_ref);
    instance_norm_forward(cpu, x, {}, {}, y_cpu, m_cpu, r_cpu);
    check_close(m_cpu.view(), m_ref.view(), 1e-6, "mean");
    check_close(r_cpu.view(), r_ref.view(), 1e-5, "rstd");
    check_close(y_cpu.view(), y_ref.view(), 1e-5, "y");
}

TEST_CASE("instance_norm cpu stays accurate when a slab's first voxel is far from its mean") {
    // In a U-Net the first voxel of a conv output is a zero-padded corner: a statistics pass that
    // shifts by it loses the variance to cancellation (this once gave rstd errors of 4.5e-4).
    for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
        const Shape shape{2, 16, 16, 16, 16};
        Tensor<float> x = random_tensor<float>(shape, 16, layout, -1.0, 1.0);
        for (Index n = 0; n < 2; ++n)
            for (Index c = 0; c < 16; ++c) x(n, c, 0, 0, 0) = 30.0f;
        Tensor<float> y_ref(shape, layout), y_cpu(shape, layout);
        Tensor<float> m_ref({2, 16}), r_ref({2, 16}), m_cpu({2, 16}), r_cpu({2, 16});
        instance_norm_forward(reference, x, {}, {}, y_ref, m_ref, r_ref);
        instance_norm_forward(cpu, x, {}, {}, y_cpu, m_cpu, r_cpu);
        check_close(r_cpu.view(), r_ref.view(), 1e-5, std::string("rstd ") + to_string(layout));
        check_close(y_cpu.view(), y_ref.view(), 1e-5, std::string("y ") + to_string(layout));
    }
}

TEST_CASE_TEMPLATE("instance_norm matches PyTorch", T, float, bfloat16) {
    check_against_pytorch<T, NormOp::plain>("instance_norm.fix");
}

TEST_CASE("instance_norm rejects bad arguments with a clear message") {
    Tensor<float> x({2, 3, 4, 4, 4}), y({2, 3, 4, 4, 4}), gamma({3}), mean({2, 3}), rstd({2, 3});
    Tensor<float> flat({2, 3, 4, 4}), wrong_gamma({4}), wrong_stats({3, 2}), other({2, 3, 4, 4, 5});
    CHECK_THROWS_WITH_AS(instance_norm_forward(cpu, flat, {}, {}, flat, mean, rstd),
                         doctest::Contains("instance_norm_forward: input (2,3,4,4) must have rank 5 (N,C,D,H,W)"),
                         Error);
    CHECK_THROWS_WITH_AS(instance_norm_forward(cpu, x, wrong_gamma, {}, y, mean, rstd),
                         doctest::Contains("instance_norm_forward: gamma (4) must be empty or (3) for input (2,3,4,4,4)"),
                         Error);
    CHECK_THROWS_WITH_AS(instance_norm_forward(cpu, x, gamma, gamma, other, mean, rstd),
                         doctest::Contains("instance_norm_forward: input (2,3,4,4,4) and output (2,3,4,4,5) differ in shape"),
                         Error);
    CHECK_THROWS_WITH_AS(instance_norm_forward(cpu, x, gamma, gamma, y, wrong_stats, rstd),
                         doctest::Contains("instance_norm_forward: saved_mean (3,2) must be empty or (N,C) = (2,3)"),
                         Error);
    CHECK_THROWS_WITH_AS(instance_norm_backward(cpu, x, gamma, mean, Tensor<float>(), y, y, gamma, gamma),
                         doctest::Contains("instance_norm_backward: saved_rstd () must be (N,C) = (2,3)"), Error);
    CHECK_THROWS_WITH_AS(instance_norm_backward(cpu, x, gamma, mean, rstd, other, y, gamma, gamma),
                         doctest::Contains("instance_norm_backward: input (2,3,4,4,4) and dy (2,3,4,4,5) differ in shape"),
                         Error);
    CHECK_THROWS_WITH_AS(instance_norm_backward(cpu, x, gamma, mean, rstd, y, y, wrong_gamma, gamma),
                         doctest::Contains("instance_norm_backward: dgamma (4) must be empty or (3)"), Error);
    Tensor<float> no_voxels({1, 3, 0, 4, 4});
    CHECK_THROWS_WITH_AS(instance_norm_forward(cpu, no_voxels, {}, {}, no_voxels, {}, {}),
                         doctest::Contains("instance_norm_forward: input (1,3,0,4,4) has no voxels to normalise"), Error);
}
