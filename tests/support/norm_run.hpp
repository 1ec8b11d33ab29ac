// What the two instance-norm test files share: one forward and backward of the plain or the fused
// (norm + LeakyReLU) operator with every output pre-filled by a sentinel, the comparison of two
// such runs, and the comparison against a PyTorch fixture written by tools/fixtures/ops/instance_norm.py.
#pragma once

#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/instance_norm.hpp"
#include "axonseg/ops/instance_norm_leaky_relu.hpp"

namespace axonseg::test {

enum class NormOp { plain, leaky_relu };

template <class T, NormOp Op>
struct NormRun {
    Tensor<T> y, dx, dgamma, dbeta;
    Tensor<stat_t<T>> mean, rstd;
    NormRun(const Shape& shape, double sentinel, Layout layout)
        : y(sentinel_tensor<T>(shape, sentinel, layout)), dx(sentinel_tensor<T>(shape, sentinel, layout)),
          dgamma(sentinel_tensor<T>({shape[1]}, sentinel)), dbeta(sentinel_tensor<T>({shape[1]}, sentinel)),
          mean(sentinel_tensor<stat_t<T>>({shape[0], shape[1]}, sentinel)),
          rstd(sentinel_tensor<stat_t<T>>({shape[0], shape[1]}, sentinel)) {}

    template <class B>
    void run(B backend, ConstView<T> x, ConstView<T> gamma, ConstView<T> beta, ConstView<T> dy) {
        if constexpr (Op == NormOp::plain) {
            instance_norm_forward(backend, x, gamma, beta, y, mean, rstd);
            instance_norm_backward(backend, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
        } else {
            instance_norm_leaky_relu_forward(backend, x, gamma, beta, y, mean, rstd);
            instance_norm_leaky_relu_backward(backend, x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta);
        }
    }
};

template <class T, NormOp Op>
void check_runs(const NormRun<T, Op>& actual, const NormRun<T, Op>& expected, double rtol, const std::string& name) {
    check_close(actual.y.view(), expected.y.view(), rtol, "y " + name);
    check_close(actual.mean.view(), expected.mean.view(), rtol, "mean " + name);
    check_close(actual.rstd.view(), expected.rstd.view(), rtol, "rstd " + name);
    check_close(actual.dx.view(), expected.dx.view(), rtol, "dx " + name);
    check_close(actual.dgamma.view(), expected.dgamma.view(), rtol, "dgamma " + name);
    check_close(actual.dbeta.view(), expected.dbeta.view(), rtol, "dbeta " + name);
}

// The cpu backend against the reference over odd and lane-filling sizes, C = 1, 3, 32, both layouts.
// 7 x 9 x 11: odd sizes; 4 x 6 x 8: channels-last rows of 256 lanes (the register-sum path).
template <class T, NormOp Op>
void check_cpu_against_reference(double beta_lo, double beta_hi) {
    for (Index C : {1, 3, 32})
        for (Index3 dhw : {Index3{7, 9, 11}, Index3{4, 6, 8}})
            for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
                const Shape shape{2, C, dhw.d, dhw.h, dhw.w};
                const std::string name = std::string(to_string(dtype_v<T>)) + " " + to_string(shape) + " " +
                                         to_string(layout);
                Tensor<T> x = random_tensor<T>(shape, 7, layout, -1.0, 3.0), dy = random_tensor<T>(shape, 8, layout);
                Tensor<T> gamma = random_tensor<T>({C}, 9, Layout::contiguous, 0.5, 1.5);
                Tensor<T> beta = random_tensor<T>({C}, 10, Layout::contiguous, beta_lo, beta_hi);
                NormRun<T, Op> ref(shape, 1e30, layout), fast(shape, -1e30, layout);
                ref.run(reference, x, gamma, beta, dy);
                fast.run(cpu, x, gamma, beta, dy);
                check_runs(fast, ref, default_rtol<T>(), name);
            }
}

// The cpu backend on a non-dense view x against the reference on a dense copy of it.
template <NormOp Op>
void check_view_against_reference(TensorView<float> x, const std::string& name) {
    const Index C = x.dim(1);
    Tensor<float> dense = clone(x), dy = random_tensor<float>(x.shape(), 12);
    Tensor<float> gamma = random_tensor<float>({C}, 13), beta = random_tensor<float>({C}, 14);
    NormRun<float, Op> ref(x.shape(), 1e30, Layout::contiguous), fast(x.shape(), -1e30, Layout::contiguous);
    ref.run(reference, dense, gamma, beta, dy);
    fast.run(cpu, x, gamma, beta, dy);
    check_runs(fast, ref, 1e-5, name);
}

// The cpu backend against a fixture's cases "a" and "b", in both layouts.
template <class T, NormOp Op>
void check_against_pytorch(const std::string& fixture) {
    Fixture fx(fixture_path(fixture));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    for (const std::string c : {"a", "b"})
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const std::string name = c + " " + tag + " " + to_string(layout);
            Tensor<T> x = to<T>(fx.tensor<float>(c + "_x").view(), layout);
            Tensor<T> dy = to<T>(fx.tensor<float>(c + "_dy").view(), layout);
            NormRun<T, Op> run(x.shape(), 1e30, layout);
            run.run(cpu, x, fx.tensor<T>(c + "_gamma"), fx.tensor<T>(c + "_beta"), dy);
            const double rtol = default_rtol<T>();
            check_close(run.y.view(), fx.tensor<float>(c + "_y_" + tag).view(), rtol, "y " + name);
            check_close(run.mean.view(), fx.tensor<double>(c + "_mean").view(), rtol, "mean " + name);
            check_close(run.rstd.view(), fx.tensor<double>(c + "_rstd").view(), rtol, "rstd " + name);
            check_close(run.dx.view(), fx.tensor<float>(c + "_dx_" + tag).view(), rtol, "dx " + name);
            check_close(run.dgamma.view(), fx.tensor<float>(c + "_dgamma_" + tag).view(), rtol, "dgamma " + name);
            check_close(run.dbeta.view(), fx.tensor<float>(c + "_dbeta_" + tag).view(), rtol, "dbeta " + name);
        }
}

}  // namespace axonseg::test
