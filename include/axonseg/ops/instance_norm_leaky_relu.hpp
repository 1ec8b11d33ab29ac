// nnU-Net's conv block tail, instance norm then LeakyReLU, as one operator:
//   y = leaky_relu(gamma * (x - mean) * rstd + beta, negative_slope).
// Why fused: the pair is memory-bound, and fusing walks the activation twice each way (forward:
// statistics, then normalise-and-activate; backward: reductions, then dx) instead of four times.
// The backward recomputes the pre-activation's sign from x, the saved statistics, gamma and beta, so
// training keeps only x (the conv output) and the statistics, not the normalised tensor.
#pragma once

#include "axonseg/ops/instance_norm.hpp"

namespace axonseg {

struct InstanceNormLeakyReluParams {
    double eps = 1e-5;
    double negative_slope = 0.01;
};

// x (N,C,D,H,W) with D*H*W > 0, any strides; gamma, beta (C) or empty (1 and 0); y like x (may be
// x itself, for inference); saved_mean, saved_rstd (N,C) or empty (not needed).
// Ensures y as above and the statistics saved (as instance_norm_forward saves them).
template <Backend B, Floating T>
void instance_norm_leaky_relu_forward(B backend, Input<T, B> x, Input<T, B> gamma, Input<T, B> beta,
                                      Output<T, B> y, Output<stat_t<T>, B> saved_mean,
                                      Output<stat_t<T>, B> saved_rstd,
                                      const InstanceNormLeakyReluParams& p = {}) {
    detail::check_forward_call("instance_norm_leaky_relu_forward", x, gamma, beta, y, saved_mean, saved_rstd);
    backend::instance_norm_forward(backend, x, gamma, beta, y, saved_mean, saved_rstd, p.eps,
                                   p.negative_slope);
}

// x, gamma, beta and the statistics as the forward had and saved them; dy like x. Ensures dx (like
// x, overwritten, may be dy itself), dgamma and dbeta ((C), added in when mode is accumulate); any
// of the three may be empty (not wanted). p.eps is unused (rstd is saved) but kept so one params
// value serves both directions.
template <Backend B, Floating T>
void instance_norm_leaky_relu_backward(B backend, Input<T, B> x, Input<T, B> gamma, Input<T, B> beta,
                                       Input<stat_t<T>, B> saved_mean, Input<stat_t<T>, B> saved_rstd,
                                       Input<T, B> dy, Output<T, B> dx, Output<T, B> dgamma,
                                       Output<T, B> dbeta, const InstanceNormLeakyReluParams& p = {},
                                       Grad mode = Grad::overwrite) {
    constexpr const char* op = "instance_norm_leaky_relu_backward";
    detail::check_norm_forward(op, x, gamma, beta);
    detail::check_backward_rest(op, x, saved_mean, saved_rstd, dy, dx, dgamma, dbeta);
    backend::instance_norm_backward(backend, x, gamma, beta, saved_mean, saved_rstd, dy, dx, dgamma, dbeta,
                                    p.negative_slope, mode);
}

}  // namespace axonseg
