// CPU 3-d transposed convolution through oneDNN's deconvolution, float and bfloat16 (double takes
// the reference loops). PyTorch runs this op through im2col; oneDNN runs it as a direct kernel.
// NB: PyTorch stores the weight as (Ci,Co,k...), oneDNN's deconvolution wants (OC=Co, IC=Ci, k...).
// The weight and its gradient are passed as views with the first two dimensions swapped (strides
// swapped too), so the same memory is read and written without a transposing copy of our own.
// The backward pass with kernel == stride and channels-last x (nnU-Net's upsampling) runs as matrix
// products instead (conv_transpose3d_matmul.hpp): 2.6's deconvolution backward-weights kernel is slow.
// The forward pass stays a deconvolution: as a matmul it measured 1.2-1.6x slower (see there).
#pragma once

#include "axonseg/backend/cpu/conv3d_onednn.hpp"
#include "axonseg/backend/cpu/conv_transpose3d_matmul.hpp"
#include "axonseg/backend/reference/conv_transpose3d_ref.hpp"

namespace axonseg::backend {

namespace onednn {

// The view of a (Ci,Co,k...) weight as (Co,Ci,k...): the same elements, dimensions 0 and 1 swapped.
template <class T>
TensorView<T> swap_in_out(TensorView<T> w) {
    const Shape& s = w.shape();
    return TensorView<T>(w.data(), Shape{s[1], s[0], s[2], s[3], s[4]},
                         Strides{w.stride(1), w.stride(0), w.stride(2), w.stride(3), w.stride(4)});
}

}  // namespace onednn

template <class T>
void conv_transpose3d_forward(Cpu, ConstView<T> x, ConstView<T> w, TensorView<T> y, Index3 stride) {
    if constexpr (!onednn::has_data_type<T>)
        conv_transpose3d_forward(reference, x, w, y, stride);
    else
        onednn::conv_forward<onednn::Deconvolution>("conv_transpose3d_forward", x, onednn::swap_in_out(w),
                                                    ConstView<T>{}, y, {stride, Index3{}});
}

template <class T>
void conv_transpose3d_backward(Cpu, ConstView<T> x, ConstView<T> w, ConstView<T> dy, TensorView<T> dx,
                               TensorView<T> dw, Index3 stride, Grad mode) {
    if constexpr (!onednn::has_data_type<T>)
        conv_transpose3d_backward(reference, x, w, dy, dx, dw, stride, mode);
    else if (onednn::is_matmul_upsampling(x, w.shape(), stride, ConstView<T>(dx)))
        onednn::conv_transpose3d_matmul_backward(x, w, dy, dx, dw, stride, mode);
    else
        onednn::conv_backward<onednn::Deconvolution>("conv_transpose3d_backward", x, onednn::swap_in_out(w),
                                                     dy, dx, onednn::swap_in_out(dw), TensorView<T>{},
                                                     {stride, Index3{}}, mode);
}

}  // namespace axonseg::backend
