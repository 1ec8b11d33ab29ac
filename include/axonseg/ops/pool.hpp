// Max and min pooling over 3-d windows, as torch.nn.functional.max_pool3d (min pooling is
// -max_pool3d(-x) without the two negations). Padding never contributes: it acts as -inf for max
// and +inf for min, so nothing comes in from outside the volume (what the soft skeleton's erosion
// and dilation need). Uses in this project: erosion and dilation by the 6-cross are three line
// windows (1,1,3), (1,3,1), (3,1,1) with pad 1 along the line; the soft skeleton's 3^3 max pool
// with pad 1; whole-volume comparison with kernel 5 stride 5 (remainder dropped) or kernel 10.
// The backward sends each output's gradient to the element it came from (first in window order on
// ties, as PyTorch), found again from x and y: no index tensor is saved.
#pragma once

#include "axonseg/backend/cpu/pool_cpu.hpp"
#include "axonseg/backend/reference/pool_ref.hpp"
#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

// The output shape for input shape x (rank 5): N and C kept, each spatial length
// floor((in + 2 pad - kernel) / stride) + 1.
inline Shape pool_output_shape(const Shape& x, const PoolParams& p) {
    return {x[0], x[1], pool_output_length(x[2], p.kernel.d, p.stride.d, p.pad.d),
            pool_output_length(x[3], p.kernel.h, p.stride.h, p.pad.h),
            pool_output_length(x[4], p.kernel.w, p.stride.w, p.pad.w)};
}

namespace detail {

// The checks both directions share: `x` is the pooled input, `y` a tensor of the output's shape
// (`y_role` names it in messages).
template <class X, class Y>
void check_pool(const char* op, const X& x, const Y& y, const char* y_role, const PoolParams& p) {
    AXONSEG_CHECK(x.rank() == 5 && y.rank() == 5, op, ": input ", x.shape(), " and ", y_role, " ",
                  y.shape(), " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(x.dim(0) == y.dim(0) && x.dim(1) == y.dim(1), op, ": input ", x.shape(), " and ",
                  y_role, " ", y.shape(), " disagree on N or C");
    for (int a = 0; a < 3; ++a) {
        AXONSEG_CHECK(p.kernel[a] >= 1 && p.stride[a] >= 1 && p.pad[a] >= 0, op, ": kernel ",
                      p.kernel, " and stride ", p.stride, " must be positive, pad ", p.pad,
                      " not negative");
        AXONSEG_CHECK(2 * p.pad[a] <= p.kernel[a], op, ": pad ", p.pad,
                      " must be at most half the kernel ", p.kernel, " (PyTorch's rule)");
        AXONSEG_CHECK(p.kernel[a] <= x.dim(2 + a) + 2 * p.pad[a], op, ": kernel ", p.kernel,
                      " is larger than the padded input ", x.shape(), " with pad ", p.pad);
    }
    const Shape expected = pool_output_shape(x.shape(), p);
    AXONSEG_CHECK(y.shape() == expected, op, ": ", y_role, " ", y.shape(), " must be ", expected,
                  " for input ", x.shape(), ", kernel ", p.kernel, ", stride ", p.stride, ", pad ",
                  p.pad);
}

}  // namespace detail

// Requires x (N,C,D,H,W) and y of pool_output_shape(x.shape(), p); T any element type (uint8 masks
// included). Ensures y = the max (or min) of x over each window. y must not overlap x.
template <Backend B, Element T>
void pool_forward(B backend, Input<T, B> x, Output<T, B> y, PoolKind kind,
                  const PoolParams& p = {}) {
    detail::check_pool("pool_forward", x, y, "output", p);
    backend::pool_forward(backend, x, y, kind, p);
}

// Requires the forward's x and y, dy of y's shape, dx of x's shape. Ensures dx (overwritten, or
// added into with Grad::accumulate) holds, per element, the sum of dy over the outputs it was the
// extremum of. The CPU backend finds that element as the first in the window equal to y (cheaper
// than searching for the extremum again); the reference searches x.
template <Backend B, Floating T>
void pool_backward(B backend, Input<T, B> x, Input<T, B> y, Input<T, B> dy, Output<T, B> dx,
                   PoolKind kind, const PoolParams& p = {}, Grad mode = Grad::overwrite) {
    detail::check_pool("pool_backward", x, y, "output", p);
    AXONSEG_CHECK(dy.shape() == y.shape() && dx.shape() == x.shape(), "pool_backward: dy ",
                  dy.shape(), " and dx ", dx.shape(), " must have the shapes of output ", y.shape(),
                  " and input ", x.shape());
    backend::pool_backward(backend, x, y, dy, dx, kind, p, mode);
}

}  // namespace axonseg
