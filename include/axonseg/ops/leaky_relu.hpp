// LeakyReLU, y = x for x > 0, slope * x otherwise (nnU-Net uses slope 0.01).
// The entry points check shapes, then dispatch on the backend tag to backend/<tag>/leaky_relu_*.
// Any layout and any strides; y may alias x (in place), dx may alias dy.
#pragma once

#include "axonseg/backend/cpu/leaky_relu_cpu.hpp"
#include "axonseg/backend/reference/leaky_relu_ref.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

struct LeakyReluParams {
    double negative_slope = 0.01;
};

// Requires y.shape() == x.shape(). Ensures y = leaky_relu(x).
template <Backend B, Floating T>
void leaky_relu_forward(B backend, Input<T, B> x, Output<T, B> y, LeakyReluParams p = {}) {
    AXONSEG_CHECK(x.shape() == y.shape(), "leaky_relu_forward: input ", x.shape(), " and output ",
                  y.shape(), " differ in shape");
    backend::leaky_relu_forward(backend, x, y, p.negative_slope);
}

// Requires x, dy, dx of one shape (x is the forward input). Ensures dx = dL/dx (overwritten).
template <Backend B, Floating T>
void leaky_relu_backward(B backend, Input<T, B> x, Input<T, B> dy, Output<T, B> dx,
                         LeakyReluParams p = {}) {
    AXONSEG_CHECK(x.shape() == dy.shape() && x.shape() == dx.shape(), "leaky_relu_backward: input ",
                  x.shape(), ", dy ", dy.shape(), " and dx ", dx.shape(), " must share one shape");
    backend::leaky_relu_backward(backend, x, dy, dx, p.negative_slope);
}

}  // namespace axonseg
