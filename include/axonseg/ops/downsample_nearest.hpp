// Nearest-neighbour resampling of a volume to the output's size, down or up, for any element type:
// deep-supervision targets (uint8 labels reduced by 2, 4, 8, 16) and label maps generally.
// Which voxel is kept is the NearestRule (backend/reference/downsample_nearest_ref.hpp):
// NearestRule::centre is what nnU-Net v1 does (skimage resize with order 0, half-pixel centres,
// PyTorch's 'nearest-exact'); NearestRule::floor is PyTorch's plain 'nearest'. For a reduction by 2
// they keep different voxels (odd ones and even ones), so the rule is always spelled out.
// No backward: it resamples labels, which carry no gradient.
#pragma once

#include "axonseg/backend/cpu/downsample_nearest_cpu.hpp"
#include "axonseg/backend/reference/downsample_nearest_ref.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

// Requires x (N,C,D,H,W) and y (N,C,D',H',W') with any D', H', W' (none of D, H, W zero unless y is
// empty). Ensures y(n,c,i,j,k) = x(n,c, src(i), src(j), src(k)), src = nearest_source_index(..,
// rule). y must not overlap x.
template <Backend B, Element T>
void downsample_nearest(B backend, Input<T, B> x, Output<T, B> y, NearestRule rule) {
    AXONSEG_CHECK(x.rank() == 5 && y.rank() == 5, "downsample_nearest: input ", x.shape(),
                  " and output ", y.shape(), " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(x.dim(0) == y.dim(0) && x.dim(1) == y.dim(1), "downsample_nearest: input ",
                  x.shape(), " and output ", y.shape(), " disagree on N or C");
    AXONSEG_CHECK(y.empty() || (x.dim(2) > 0 && x.dim(3) > 0 && x.dim(4) > 0),
                  "downsample_nearest: ", "input ", x.shape(), " has no voxels to fill output ",
                  y.shape(), " from");
    backend::downsample_nearest(backend, x, y, rule);
}

}  // namespace axonseg
