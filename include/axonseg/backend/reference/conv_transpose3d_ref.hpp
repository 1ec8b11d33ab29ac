// Reference 3-d transposed convolution (PyTorch's conv_transpose3d without padding or bias).
// By definition it is the adjoint of a convolution: with w (Ci,Co,k) read as a conv3d weight
// (C_out = Ci, C_in = Co, the same memory, which is why PyTorch stores it that way), its forward
// pass is conv3d's backward-data pass, its dx is conv3d's forward pass and its dw is conv3d's
// weight gradient with the roles of x and dy exchanged. So the spec is the conv3d spec, no new loops.
#pragma once

#include "axonseg/backend/reference/conv3d_ref.hpp"

namespace axonseg::backend {

// y(n,co,i*stride + k) += x(n,ci,i) * w(ci,co,k), overwriting y.
template <class T>
void conv_transpose3d_forward(Reference, ConstView<T> x, ConstView<T> w, TensorView<T> y, Index3 stride) {
    conv3d_backward_data(reference, w, x, y, stride, Index3{});
}

// dx (overwritten) may be absent (rank 0); dw is overwritten or added into per `mode`.
template <class T>
void conv_transpose3d_backward(Reference, ConstView<T> x, ConstView<T> w, ConstView<T> dy,
                               TensorView<T> dx, TensorView<T> dw, Index3 stride, Grad mode) {
    if (!dx.empty()) conv3d_forward(reference, dy, w, ConstView<T>{}, dx, stride, Index3{});
    conv3d_backward_weights(reference, dy, x, dw, TensorView<T>{}, stride, Index3{}, mode);
}

}  // namespace axonseg::backend
