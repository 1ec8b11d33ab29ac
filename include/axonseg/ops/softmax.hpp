// Softmax over the channels (dim 1) of (N,C,D,H,W) logits, voxel by voxel:
//   y = exp(x - max_c x) / sum_c exp(x - max_c x),
// as torch.softmax(x, 1). The backward takes the forward's output y, not x (all it needs, and what
// the loss keeps): dx = y * (dy - sum_c y * dy).
#pragma once

#include "axonseg/backend/cpu/softmax_cpu.hpp"
#include "axonseg/backend/reference/softmax_ref.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

// x (N,C,D,H,W), any strides; y like x (may be x itself). Ensures y = softmax of x over C.
template <Backend B, Floating T>
void softmax_forward(B backend, Input<T, B> x, Output<T, B> y) {
    AXONSEG_CHECK(x.rank() == 5, "softmax_forward: input ", x.shape(), " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(x.shape() == y.shape(), "softmax_forward: input ", x.shape(), " and output ", y.shape(),
                  " differ in shape");
    backend::softmax_forward(backend, x, y);
}

// y the forward's output, dy and dx like y (dx may be dy itself). Ensures dx = dL/dx (overwritten).
template <Backend B, Floating T>
void softmax_backward(B backend, Input<T, B> y, Input<T, B> dy, Output<T, B> dx) {
    AXONSEG_CHECK(y.rank() == 5, "softmax_backward: output ", y.shape(), " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(y.shape() == dy.shape() && y.shape() == dx.shape(), "softmax_backward: output ",
                  y.shape(), ", dy ", dy.shape(), " and dx ", dx.shape(), " must share one shape");
    backend::softmax_backward(backend, y, dy, dx);
}

}  // namespace axonseg
