// 3-d transposed convolution, as torch.nn.functional.conv_transpose3d without padding, output
// padding or bias (nnU-Net's upsampling: kernel = stride, bias=False). The entry points check shapes,
// then dispatch on the backend tag to backend/<tag>/conv_transpose3d_*.
// NB: the weight is (C_in, C_out, kd, kh, kw), PyTorch's ConvTranspose3d layout, the reverse of
// conv3d's, so state dicts import unchanged.
#pragma once

#include "axonseg/backend/cpu/conv_transpose3d_onednn.hpp"
#include "axonseg/backend/reference/conv_transpose3d_ref.hpp"
#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

struct ConvTranspose3dParams {
    Index3 stride{2, 2, 2};
};

namespace detail {

inline Shape conv_transpose3d_output_shape(const char* op, const Shape& x, const Shape& w,
                                           const ConvTranspose3dParams& p) {
    AXONSEG_CHECK(x.rank() == 5 && w.rank() == 5, op, ": input ", x, " and weight ", w,
                  " must be (N,C_in,D,H,W) and (C_in,C_out,kd,kh,kw)");
    AXONSEG_CHECK(x[1] == w[0], op, ": input ", x, " and weight ", w, " disagree on C_in (", x[1], " vs ",
                  w[0], ")");
    Shape y{x[0], w[1], 0, 0, 0};
    for (int a = 0; a < 3; ++a) {
        AXONSEG_CHECK(p.stride[a] >= 1, op, ": stride ", p.stride, " must be >= 1");
        AXONSEG_CHECK(w[2 + a] >= 1, op, ": weight ", w, " has an empty kernel");
        y[2 + a] = (x[2 + a] - 1) * p.stride[a] + w[2 + a];
    }
    return y;
}

}  // namespace detail

// x (N,Ci,D,H,W), w (Ci,Co,kd,kh,kw) -> (N,Co,(D-1)*stride+kd, ...). Throws axonseg::Error on a
// wrong rank, a C_in mismatch, or a bad stride.
inline Shape conv_transpose3d_output_shape(const Shape& x, const Shape& w, const ConvTranspose3dParams& p) {
    return detail::conv_transpose3d_output_shape("conv_transpose3d_output_shape", x, w, p);
}

// Requires x (N,Ci,D,H,W), w (Ci,Co,kd,kh,kw), y of conv_transpose3d_output_shape.
// Ensures y = conv_transpose3d(x, w) (overwritten); y must not overlap the inputs.
template <Backend B, Floating T>
void conv_transpose3d_forward(B backend, Input<T, B> x, Input<T, B> w, Output<T, B> y,
                              const ConvTranspose3dParams& p) {
    const char* op = "conv_transpose3d_forward";
    const Shape expected = detail::conv_transpose3d_output_shape(op, x.shape(), w.shape(), p);  // (N,Co,...)
    AXONSEG_CHECK(y.shape() == expected, op, ": output ", y.shape(), " should be ", expected, " for input ",
                  x.shape(), ", weight ", w.shape(), ", stride ", p.stride);
    backend::conv_transpose3d_forward(backend, x, w, y, p.stride);
}

// Requires x, w, p as in the forward pass, dy of the forward output's shape, dx of x's shape or `{}`
// (not wanted), dw of w's shape. Ensures dx = dL/dx (overwritten) and dw = dL/dw, overwritten or
// added into per `mode`.
template <Backend B, Floating T>
void conv_transpose3d_backward(B backend, Input<T, B> x, Input<T, B> w, Input<T, B> dy, Output<T, B> dx,
                               Output<T, B> dw, const ConvTranspose3dParams& p, Grad mode = Grad::overwrite) {
    const char* op = "conv_transpose3d_backward";  // an absent dx is the empty view {}, of rank 0
    const Shape y = detail::conv_transpose3d_output_shape(op, x.shape(), w.shape(), p);  // (N,Co,...)
    AXONSEG_CHECK(dy.shape() == y, op, ": dy ", dy.shape(), " should be ", y, " for input ", x.shape(),
                  ", weight ", w.shape(), ", stride ", p.stride);
    AXONSEG_CHECK(dx.empty() || dx.shape() == x.shape(), op, ": dx ", dx.shape(),
                  " should be the input's shape ", x.shape());
    AXONSEG_CHECK(dw.shape() == w.shape(), op, ": dw ", dw.shape(), " should be the weight's shape ",
                  w.shape());
    backend::conv_transpose3d_backward(backend, x, w, dy, dx, dw, p.stride, mode);
}

}  // namespace axonseg
