// 3-d convolution, as torch.nn.functional.conv3d (cross-correlation, zero padding, optional bias).
// The entry points check shapes, then dispatch on the backend tag to backend/<tag>/conv3d_*.
// Any layout and any strides; the CPU backend is fastest when activations are channels-last (the
// primitive runs in the layout of the caller's activations; nothing is converted per call).
#pragma once

#include "axonseg/backend/cpu/conv3d_onednn.hpp"
#include "axonseg/backend/reference/conv3d_ref.hpp"
#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

struct Conv3dParams {
    Index3 stride{1, 1, 1};
    Index3 pad{0, 0, 0};  // zeros on both sides of each axis
};

namespace detail {

inline Shape conv3d_output_shape(const char* op, const Shape& x, const Shape& w, const Conv3dParams& p) {
    AXONSEG_CHECK(x.rank() == 5 && w.rank() == 5, op, ": input ", x, " and weight ", w,
                  " must be (N,C_in,D,H,W) and (C_out,C_in,kd,kh,kw)");
    AXONSEG_CHECK(x[1] == w[1], op, ": input ", x, " and weight ", w, " disagree on C_in (", x[1],
                  " vs ", w[1], ")");
    Shape y{x[0], w[0], 0, 0, 0};
    for (int a = 0; a < 3; ++a) {
        AXONSEG_CHECK(p.stride[a] >= 1 && p.pad[a] >= 0, op, ": stride ", p.stride, " must be >= 1 and pad ",
                      p.pad, " >= 0");
        const Index padded = x[2 + a] + 2 * p.pad[a], k = w[2 + a];
        AXONSEG_CHECK(k >= 1 && k <= padded, op, ": kernel ", w, " does not fit the input ", x,
                      " padded by ", p.pad);
        y[2 + a] = (padded - k) / p.stride[a] + 1;
    }
    return y;
}

}  // namespace detail

// x (N,Ci,D,H,W), w (Co,Ci,kd,kh,kw) -> (N,Co,Do,Ho,Wo), Do = (D + 2 pad - kd) / stride + 1.
// Throws axonseg::Error on a wrong rank, a C_in mismatch, a bad stride or padding, or a kernel
// larger than the padded input.
inline Shape conv3d_output_shape(const Shape& x, const Shape& w, const Conv3dParams& p) {
    return detail::conv3d_output_shape("conv3d_output_shape", x, w, p);
}

// Requires x (N,Ci,D,H,W), w (Co,Ci,kd,kh,kw), bias (Co) or `{}`, y of conv3d_output_shape.
// Ensures y = conv3d(x, w, bias), overwritten or, with Grad::accumulate, added into y (a conv over
// the channels of a concat as the sum of convs over its parts, without forming it); y must not
// overlap the inputs.
template <Backend B, Floating T>
void conv3d_forward(B backend, Input<T, B> x, Input<T, B> w, Input<T, B> bias, Output<T, B> y,
                    const Conv3dParams& p, Grad mode = Grad::overwrite) {
    const char* op = "conv3d_forward";
    const Shape expected = detail::conv3d_output_shape(op, x.shape(), w.shape(), p);  // (N,Co,Do,Ho,Wo)
    AXONSEG_CHECK(bias.empty() || bias.shape() == Shape{w.dim(0)}, op, ": bias ", bias.shape(),
                  " must have C_out = ", w.dim(0), " elements for weight ", w.shape());
    AXONSEG_CHECK(y.shape() == expected, op, ": output ", y.shape(), " should be ", expected, " for input ",
                  x.shape(), ", weight ", w.shape(), ", stride ", p.stride, ", pad ", p.pad);
    backend::conv3d_forward(backend, x, w, bias, y, p.stride, p.pad, mode);
}

// Requires x, w, p as in the forward pass, dy of the forward output's shape, dx of x's shape or `{}`
// (not wanted: a first layer), dw of w's shape, dbias (Co) or `{}` (no bias).
// Ensures dx = dL/dx (overwritten); dw = dL/dw and dbias = dL/dbias, overwritten or added into per
// `mode` (parameter gradients accumulate over uses and micro-batches).
template <Backend B, Floating T>
void conv3d_backward(B backend, Input<T, B> x, Input<T, B> w, Input<T, B> dy, Output<T, B> dx,
                     Output<T, B> dw, Output<T, B> dbias, const Conv3dParams& p,
                     Grad mode = Grad::overwrite) {
    const char* op = "conv3d_backward";
    const Shape y = detail::conv3d_output_shape(op, x.shape(), w.shape(), p);  // (N,Co,Do,Ho,Wo)
    AXONSEG_CHECK(dy.shape() == y, op, ": dy ", dy.shape(), " should be ", y, " for input ", x.shape(),
                  ", weight ", w.shape(), ", stride ", p.stride, ", pad ", p.pad);
    AXONSEG_CHECK(dx.empty() || dx.shape() == x.shape(), op, ": dx ", dx.shape(),
                  " should be the input's shape ", x.shape());
    AXONSEG_CHECK(dw.shape() == w.shape(), op, ": dw ", dw.shape(), " should be the weight's shape ",
                  w.shape());
    AXONSEG_CHECK(dbias.empty() || dbias.shape() == Shape{w.dim(0)}, op, ": dbias ",
                  dbias.shape(), " must have C_out = ", w.dim(0), " elements for weight ", w.shape());
    backend::conv3d_backward(backend, x, w, dy, dx, dw, dbias, p.stride, p.pad, mode);
}

// The data gradient alone, for a caller that computed the parameter gradients with dx = `{}` and
// can then give dx the memory of the input x, which the data gradient does not read.
// Requires w, p as in the forward pass, dx of the input's shape, dy of the output's shape for it.
// Ensures dx = dL/dx (overwritten).
template <Backend B, Floating T>
void conv3d_backward_data(B backend, Input<T, B> w, Input<T, B> dy, Output<T, B> dx, const Conv3dParams& p) {
    const char* op = "conv3d_backward_data";
    const Shape y = detail::conv3d_output_shape(op, dx.shape(), w.shape(), p);  // (N,Co,Do,Ho,Wo)
    AXONSEG_CHECK(dy.shape() == y, op, ": dy ", dy.shape(), " should be ", y, " for dx ", dx.shape(),
                  ", weight ", w.shape(), ", stride ", p.stride, ", pad ", p.pad);
    backend::conv3d_backward_data(backend, w, dy, dx, p.stride, p.pad);
}

}  // namespace axonseg
