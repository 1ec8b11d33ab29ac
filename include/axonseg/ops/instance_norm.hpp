// Instance normalisation, as torch.nn.InstanceNorm3d (affine or not, no running statistics): each
// (n, c) slab of D*H*W voxels is shifted by its mean, divided by sqrt(biased variance + eps), then
// scaled by gamma[c] and shifted by beta[c].
// The forward saves mean and rstd = 1/sqrt(var + eps) per (n, c) and the backward reuses them.
// They are stat_t<T>: float for float and bfloat16, double for double (float statistics would cap
// a float64 gradient check near 1e-7). nnU-Net's conv block (norm then LeakyReLU) is the fused
// ops/instance_norm_leaky_relu.hpp, which training should prefer: one pass fewer each way.
#pragma once

#include "axonseg/backend/cpu/instance_norm_cpu.hpp"
#include "axonseg/backend/reference/instance_norm_ref.hpp"
#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

// The element type of the saved statistics (mean, rstd) for activations of type T.
template <class T>
using stat_t = compute_t<T>;

struct InstanceNormParams {
    double eps = 1e-5;
};

namespace detail {

// Shape checks shared by the plain and the fused norm; `op` names the entry point in messages.
template <class X>
void check_norm_input(const char* op, const X& x) {
    AXONSEG_CHECK(x.rank() == 5, op, ": input ", x.shape(), " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(x.dim(2) * x.dim(3) * x.dim(4) > 0, op, ": input ", x.shape(),
                  " has no voxels to normalise");
}

// A per-channel vector (gamma, beta and their gradients): empty, or (C).
template <class X, class V>
void check_channel_vector(const char* op, const char* role, const X& x, const V& v) {
    AXONSEG_CHECK(v.empty() || v.shape() == Shape{x.dim(1)}, op, ": ", role, " ", v.shape(),
                  " must be empty or (", x.dim(1), ") for input ", x.shape());
}

// Saved statistics: (N,C); `optional` allows empty (a forward whose caller needs no backward).
template <class X, class V>
void check_stats(const char* op, const char* role, const X& x, const V& v, bool optional) {
    AXONSEG_CHECK((optional && v.empty()) || v.shape() == (Shape{x.dim(0), x.dim(1)}), op, ": ", role,
                  " ", v.shape(), " must be ", optional ? "empty or " : "", "(N,C) = (", x.dim(0), ",",
                  x.dim(1), ") for input ", x.shape());
}

template <class X, class V>
void check_like_input(const char* op, const char* role, const X& x, const V& v, bool optional) {
    AXONSEG_CHECK((optional && v.empty()) || v.shape() == x.shape(), op, ": input ", x.shape(),
                  " and ", role, " ", v.shape(), " differ in shape");
}

template <class X, class V>
void check_norm_forward(const char* op, const X& x, const V& gamma, const V& beta) {
    check_norm_input(op, x);
    check_channel_vector(op, "gamma", x, gamma);
    check_channel_vector(op, "beta", x, beta);
}

// Every check of a forward call (plain or fused); the statistics may be empty (not needed).
template <class T, class S, class D>
void check_forward_call(const char* op, TensorView<const T, D> x, TensorView<const T, D> gamma,
                        TensorView<const T, D> beta, TensorView<T, D> y, TensorView<S, D> saved_mean,
                        TensorView<S, D> saved_rstd) {
    check_norm_forward(op, x, gamma, beta);
    check_like_input(op, "output", x, y, false);
    check_stats(op, "saved_mean", x, saved_mean, true);
    check_stats(op, "saved_rstd", x, saved_rstd, true);
}

// The checks a backward call (plain or fused) shares after its inputs x, gamma (and beta).
template <class T, class S, class D>
void check_backward_rest(const char* op, TensorView<const T, D> x, TensorView<const S, D> saved_mean,
                         TensorView<const S, D> saved_rstd, TensorView<const T, D> dy, TensorView<T, D> dx,
                         TensorView<T, D> dgamma, TensorView<T, D> dbeta) {
    check_stats(op, "saved_mean", x, saved_mean, false);
    check_stats(op, "saved_rstd", x, saved_rstd, false);
    check_like_input(op, "dy", x, dy, false);
    check_like_input(op, "dx", x, dx, true);
    check_channel_vector(op, "dgamma", x, dgamma);
    check_channel_vector(op, "dbeta", x, dbeta);
}

}  // namespace detail

// x (N,C,D,H,W) with D*H*W > 0, any strides; gamma, beta (C) or empty (not affine: 1 and 0);
// y like x (may be x itself, for inference); saved_mean, saved_rstd (N,C) or empty (not needed).
// Ensures y = gamma * (x - mean) * rstd + beta per (n, c), and the statistics saved.
template <Backend B, Floating T>
void instance_norm_forward(B backend, Input<T, B> x, Input<T, B> gamma, Input<T, B> beta, Output<T, B> y,
                           Output<stat_t<T>, B> saved_mean, Output<stat_t<T>, B> saved_rstd,
                           const InstanceNormParams& p = {}) {
    detail::check_forward_call("instance_norm_forward", x, gamma, beta, y, saved_mean, saved_rstd);
    backend::instance_norm_forward(backend, x, gamma, beta, y, saved_mean, saved_rstd, p.eps, 1.0);
}

// x, gamma and the statistics as the forward had and saved them; dy like x. Ensures dx (like x,
// overwritten, may be dy itself), dgamma and dbeta ((C), added in when mode is accumulate); any of
// the three may be empty (not wanted).
template <Backend B, Floating T>
void instance_norm_backward(B backend, Input<T, B> x, Input<T, B> gamma, Input<stat_t<T>, B> saved_mean,
                            Input<stat_t<T>, B> saved_rstd, Input<T, B> dy, Output<T, B> dx,
                            Output<T, B> dgamma, Output<T, B> dbeta, Grad mode = Grad::overwrite) {
    constexpr const char* op = "instance_norm_backward";
    detail::check_norm_input(op, x);
    detail::check_channel_vector(op, "gamma", x, gamma);
    detail::check_backward_rest(op, x, saved_mean, saved_rstd, dy, dx, dgamma, dbeta);
    // Slope 1: the fused backward with an identity activation, so beta does not matter.
    backend::instance_norm_backward(backend, x, gamma, {}, saved_mean, saved_rstd, dy, dx, dgamma, dbeta,
                                    1.0, mode);
}

}  // namespace axonseg
