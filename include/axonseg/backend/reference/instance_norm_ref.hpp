// Reference instance normalisation, plain and fused with LeakyReLU: plain loops over any strides,
// accumulating in double whatever T is. The specification the fast paths are tested against.
// One function serves both operators: the plain norm is the fused one with negative slope 1
// (LeakyReLU with slope 1 is the identity), so the two cannot drift apart.
#pragma once

#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

#include <cmath>
#include <vector>

namespace axonseg::backend {

// The C values of an optional per-channel vector (gamma, beta), or `fallback` when it is empty.
template <class A, class T>
std::vector<A> channel_values(ConstView<T> v, Index C, double fallback) {
    std::vector<A> out(static_cast<std::size_t>(C), static_cast<A>(fallback));
    if (!v.empty())
        for (Index c = 0; c < C; ++c) out[std::size_t(c)] = A(compute_t<T>(v(c)));
    return out;
}

// Writes (overwrite) or adds (accumulate) the C values `v` into the per-channel gradient g.
template <class T>
void store_channel_grad(TensorView<T> g, const std::vector<double>& v, Grad mode) {
    if (g.empty()) return;
    for (Index c = 0; c < g.dim(0); ++c) {
        const double old = mode == Grad::accumulate ? double(compute_t<T>(g(c))) : 0.0;
        g(c) = T(compute_t<T>(old + v[std::size_t(c)]));
    }
}

namespace detail {
// The D*H*W elements of channel c of sample n, as a (1,1,D,H,W) view.
template <class T>
TensorView<T> slab(TensorView<T> t, Index n, Index c) {
    return t.narrow(0, n, 1).narrow(1, c, 1);
}
}  // namespace detail

// y = leaky_relu(gamma * (x - mean) * rstd + beta, slope), statistics per (n, c) over D*H*W.
// Empty gamma means 1, empty beta 0; empty saved_mean / saved_rstd are not written.
template <class T>
void instance_norm_forward(Reference, ConstView<T> x, ConstView<T> gamma, ConstView<T> beta,
                           TensorView<T> y, TensorView<compute_t<T>> saved_mean,
                           TensorView<compute_t<T>> saved_rstd, double eps, double slope) {
    using S = compute_t<T>;
    const Index N = x.dim(0), C = x.dim(1);
    const double M = double(x.dim(2) * x.dim(3) * x.dim(4));
    const std::vector<double> g = channel_values<double>(gamma, C, 1.0), b = channel_values<double>(beta, C, 0.0);
    for (Index n = 0; n < N; ++n)
        for (Index c = 0; c < C; ++c) {
            const auto xs = detail::slab(x, n, c);  // (1,1,D,H,W)
            const auto ys = detail::slab(y, n, c);  // (1,1,D,H,W)
            double sum = 0, sq = 0;
            for_each_offsets(xs.shape(), [&](Index o) { sum += double(compute_t<T>(xs.data()[o])); }, xs.strides());
            const double mean = sum / M;
            for_each_offsets(
                xs.shape(),
                [&](Index o) {
                    const double d = double(compute_t<T>(xs.data()[o])) - mean;
                    sq += d * d;
                },
                xs.strides());
            const double rstd = 1.0 / std::sqrt(sq / M + eps);
            if (!saved_mean.empty()) saved_mean(n, c) = S(mean);
            if (!saved_rstd.empty()) saved_rstd(n, c) = S(rstd);
            for_each_offsets(
                xs.shape(),
                [&](Index i, Index o) {
                    const double z = (double(compute_t<T>(xs.data()[i])) - mean) * rstd * g[c] + b[c];
                    ys.data()[o] = T(S(z > 0 ? z : z * slope));
                },
                xs.strides(), ys.strides());
        }
}

// With z = gamma * xhat + beta the pre-activation (recomputed from x and the saved statistics) and
// dz = dy * (z > 0 ? 1 : slope):
//   dbeta = sum dz,  dgamma = sum dz * xhat  (over n and D*H*W),
//   dx = gamma * rstd * (dz - mean(dz) - xhat * mean(dz * xhat))  (means over D*H*W).
// Empty dx, dgamma or dbeta are not computed; dgamma, dbeta follow `mode`, dx is overwritten.
template <class T>
void instance_norm_backward(Reference, ConstView<T> x, ConstView<T> gamma, ConstView<T> beta,
                            ConstView<compute_t<T>> saved_mean, ConstView<compute_t<T>> saved_rstd,
                            ConstView<T> dy, TensorView<T> dx, TensorView<T> dgamma, TensorView<T> dbeta,
                            double slope, Grad mode) {
    using S = compute_t<T>;
    const Index N = x.dim(0), C = x.dim(1);
    const double M = double(x.dim(2) * x.dim(3) * x.dim(4));
    const std::vector<double> g = channel_values<double>(gamma, C, 1.0), b = channel_values<double>(beta, C, 0.0);
    std::vector<double> sum_dz(std::size_t(C), 0.0), sum_dz_xhat(std::size_t(C), 0.0);
    for (Index n = 0; n < N; ++n)
        for (Index c = 0; c < C; ++c) {
            const double mean = saved_mean(n, c), rstd = saved_rstd(n, c);
            const auto xs = detail::slab(x, n, c), dys = detail::slab(dy, n, c);  // (1,1,D,H,W)
            auto dz_of = [&](Index i, Index o, double& xhat) {
                xhat = (double(compute_t<T>(xs.data()[i])) - mean) * rstd;
                const double z = xhat * g[c] + b[c], d = double(compute_t<T>(dys.data()[o]));
                return z > 0 ? d : d * slope;
            };
            double a = 0, s = 0;
            for_each_offsets(
                xs.shape(),
                [&](Index i, Index o) {
                    double xhat;
                    const double dz = dz_of(i, o, xhat);
                    a += dz;
                    s += dz * xhat;
                },
                xs.strides(), dys.strides());
            sum_dz[c] += a;
            sum_dz_xhat[c] += s;
            if (dx.empty()) continue;
            const auto dxs = detail::slab(dx, n, c);  // (1,1,D,H,W)
            for_each_offsets(
                xs.shape(),
                [&](Index i, Index o, Index w) {
                    double xhat;
                    const double dz = dz_of(i, o, xhat);
                    dxs.data()[w] = T(S(g[c] * rstd * (dz - a / M - xhat * s / M)));
                },
                xs.strides(), dys.strides(), dxs.strides());
        }
    store_channel_grad(dgamma, sum_dz_xhat, mode);
    store_channel_grad(dbeta, sum_dz, mode);
}

}  // namespace axonseg::backend
