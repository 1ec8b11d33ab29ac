// Reference nearest-neighbour resampling (labels for deep supervision): plain loops over any
// strides, the specification for the fast paths. Output voxel i along an axis copies input voxel
// nearest_source_index(i, in, out, rule); the two rules differ by half a voxel, see NearestRule.
// NearestRule lives here, beside the specification, because every backend takes it;
// ops/downsample_nearest.hpp is the public entry point.
#pragma once

#include "axonseg/core/tensor.hpp"

namespace axonseg {

enum class NearestRule {
    // PyTorch's interpolate(mode='nearest'): src = floor(i * in / out), the output's first voxel on
    // the input's first (a factor-2 reduction keeps the even voxels).
    floor,
    // Half-pixel centres: src = floor((i + 0.5) * in / out), the rule of nnU-Net v1's deep
    // supervision targets (skimage resize, order 0) and of PyTorch's mode='nearest-exact' (a
    // factor-2 reduction keeps the odd voxels: the centre of each pair, rounded up).
    centre,
};

// The input index that output index i copies, for an axis of `in` input and `out` output voxels,
// in exact integer arithmetic, so the answer never depends on the element type. PyTorch agrees for
// float64 tensors; for float32, bf16 and uint8 it works in float32 and lands one voxel lower where
// the exact index is a whole number float32 rounds below (26 -> 22 with floor at i = 11, 26 -> 11
// with centre at i = 5). Power-of-two factors and exact multiples never meet that case.
inline Index nearest_source_index(Index i, Index in, Index out, NearestRule rule) {
    return rule == NearestRule::floor ? i * in / out : (2 * i + 1) * in / (2 * out);
}

}  // namespace axonseg

namespace axonseg::backend {

template <class T>
void downsample_nearest(Reference, ConstView<T> x, TensorView<T> y, NearestRule rule) {
    for (Index n = 0; n < y.dim(0); ++n)
        for (Index c = 0; c < y.dim(1); ++c)
            for (Index d = 0; d < y.dim(2); ++d)
                for (Index h = 0; h < y.dim(3); ++h)
                    for (Index w = 0; w < y.dim(4); ++w)
                        y(n, c, d, h, w) =
                            x(n, c, nearest_source_index(d, x.dim(2), y.dim(2), rule),
                              nearest_source_index(h, x.dim(3), y.dim(3), rule),
                              nearest_source_index(w, x.dim(4), y.dim(4), rule));
}

}  // namespace axonseg::backend
