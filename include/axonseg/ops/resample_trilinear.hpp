// Trilinear resampling to the output's size, up or down, as torch.nn.functional.interpolate(
// mode='trilinear', align_corners=...) given a size: data augmentation (scaling, low-resolution
// simulation) and resampling a case to the plan's spacing. align_corners = false (PyTorch's
// default) places voxel centres at (i + 0.5) * in / out - 0.5 and does no anti-aliasing when it
// shrinks, so a reduction by more than 2 skips input voxels, exactly as PyTorch does.
#pragma once

#include "axonseg/backend/cpu/resample_trilinear_cpu.hpp"
#include "axonseg/backend/reference/resample_trilinear_ref.hpp"
#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

struct ResampleParams {
    bool align_corners = false;
};

namespace detail {

// x is the side at the forward input's size (input or dx), y the side at its output's size.
template <class X, class Y>
void check_resample(const char* op, const char* x_role, const X& x, const char* y_role,
                    const Y& y) {
    AXONSEG_CHECK(x.rank() == 5 && y.rank() == 5, op, ": ", x_role, " ", x.shape(), " and ", y_role,
                  " ", y.shape(), " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(x.dim(0) == y.dim(0) && x.dim(1) == y.dim(1), op, ": ", x_role, " ", x.shape(),
                  " and ", y_role, " ", y.shape(), " disagree on N or C");
    AXONSEG_CHECK(y.empty() || (x.dim(2) > 0 && x.dim(3) > 0 && x.dim(4) > 0), op, ": ", x_role,
                  " ", x.shape(), " has no voxels to resample to ", y_role, " ", y.shape());
}

}  // namespace detail

// Requires x (N,C,D,H,W) and y (N,C,D',H',W'), any sizes. Ensures y = x resampled trilinearly.
// y must not overlap x.
template <Backend B, Floating T>
void resample_trilinear_forward(B backend, Input<T, B> x, Output<T, B> y, ResampleParams p = {}) {
    detail::check_resample("resample_trilinear_forward", "input", x, "output", y);
    backend::resample_trilinear_forward(backend, x, y, p.align_corners);
}

// Requires dy of the forward output's shape and dx of its input's shape. Ensures dx (overwritten,
// or added into with Grad::accumulate) = the transpose of the forward map applied to dy.
template <Backend B, Floating T>
void resample_trilinear_backward(B backend, Input<T, B> dy, Output<T, B> dx, ResampleParams p = {},
                                 Grad mode = Grad::overwrite) {
    detail::check_resample("resample_trilinear_backward", "dx", dx, "dy", dy);
    backend::resample_trilinear_backward(backend, dy, dx, p.align_corners, mode);
}

}  // namespace axonseg
