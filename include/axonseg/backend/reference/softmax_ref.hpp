// Reference softmax over channels: plain loops over any strides, in double whatever T is.
// The specification the fast paths are tested against.
#pragma once

#include "axonseg/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace axonseg::backend {

namespace detail {
// Calls f(n, d, h, w) for every voxel of an (N,C,D,H,W) shape.
template <class F>
void for_each_voxel(const Shape& s, F f) {
    for (Index n = 0; n < s[0]; ++n)
        for (Index d = 0; d < s[2]; ++d)
            for (Index h = 0; h < s[3]; ++h)
                for (Index w = 0; w < s[4]; ++w) f(n, d, h, w);
}
}  // namespace detail

// y[n,:,d,h,w] = exp(x - max) / sum exp(x - max) over the channels.
template <class T>
void softmax_forward(Reference, ConstView<T> x, TensorView<T> y) {
    const Index C = x.dim(1);
    std::vector<double> e(static_cast<std::size_t>(C));
    detail::for_each_voxel(x.shape(), [&](Index n, Index d, Index h, Index w) {
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (Index c = 0; c < C; ++c) mx = std::max(mx, double(compute_t<T>(x(n, c, d, h, w))));
        for (Index c = 0; c < C; ++c) sum += e[c] = std::exp(double(compute_t<T>(x(n, c, d, h, w))) - mx);
        for (Index c = 0; c < C; ++c) y(n, c, d, h, w) = T(compute_t<T>(e[c] / sum));
    });
}

// dx = y * (dy - sum_c y * dy), from the forward's output y.
template <class T>
void softmax_backward(Reference, ConstView<T> y, ConstView<T> dy, TensorView<T> dx) {
    const Index C = y.dim(1);
    detail::for_each_voxel(y.shape(), [&](Index n, Index d, Index h, Index w) {
        double dot = 0;
        for (Index c = 0; c < C; ++c)
            dot += double(compute_t<T>(y(n, c, d, h, w))) * double(compute_t<T>(dy(n, c, d, h, w)));
        for (Index c = 0; c < C; ++c) {
            const double yc = double(compute_t<T>(y(n, c, d, h, w)));
            dx(n, c, d, h, w) = T(compute_t<T>(yc * (double(compute_t<T>(dy(n, c, d, h, w))) - dot)));
        }
    });
}

}  // namespace axonseg::backend
