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
