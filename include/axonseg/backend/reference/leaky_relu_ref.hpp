// Reference LeakyReLU: plain loops over any strides, the specification for the fast paths.
#pragma once

#include "axonseg/core/tensor.hpp"

namespace axonseg::backend {

template <class T>
void leaky_relu_forward(Reference, ConstView<T> x, TensorView<T> y, double slope) {
    for_each_offsets(
        x.shape(),
        [&](Index a, Index b) {
            const compute_t<T> v = x.data()[a];
            y.data()[b] = T(v > 0 ? v : v * compute_t<T>(slope));
        },
        x.strides(), y.strides());
}

template <class T>
void leaky_relu_backward(Reference, ConstView<T> x, ConstView<T> dy, TensorView<T> dx, double slope) {
    for_each_offsets(
        x.shape(),
        [&](Index a, Index b, Index c) {
            const compute_t<T> g = dy.data()[b];
            dx.data()[c] = T(x.data()[a] > T(0) ? g : g * compute_t<T>(slope));
        },
        x.strides(), dy.strides(), dx.strides());
}

}  // namespace axonseg::backend
