// The "fine" label of a training cube (pipeline §3): the rough 0/255 annotation cleaned of specks,
// thinned to centre lines and widened again by one voxel, so the network learns thin axons with
// a constant width. With the defaults it reproduces the original's Fine-label files voxel for
// voxel (scikit-image 0.19's 26-connected small-object removal, skeletonize and a cross dilation).
// NB: the dilation adds nothing from outside the cube (scipy's binary_dilation with its default
// zero border), so a line ending on a face of the cube is not widened through it.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"
#include "axonseg/prep/connected_components.hpp"
#include "axonseg/prep/thinning.hpp"

#include <algorithm>
#include <cstdint>

namespace axonseg::prep {

struct FineLabelParams {
    Index min_size = 10;  // components of fewer voxels are dropped before thinning
    Connectivity connectivity = Connectivity::vertex26;  // of those components
};

// out(z, y, x) = the maximum of `in` over the voxel and its 6 face neighbours inside the volume:
// a grey-value dilation with the 3-D cross, which on a 0/v mask is the binary dilation.
// Requires: in and out rank 3 of one shape, any strides, not overlapping.
inline void dilate_cross6(ConstView<std::uint8_t> in, TensorView<std::uint8_t> out) {
    AXONSEG_CHECK(in.rank() == 3, "dilate_cross6: input must be a (D,H,W) volume, got shape ", in.shape());
    AXONSEG_CHECK(in.shape() == out.shape(), "dilate_cross6: input ", in.shape(), " and output ",
                  out.shape(), " differ in shape");
    AXONSEG_CHECK(in.empty() || in.data() != out.data(),
                  "dilate_cross6: output must not share memory with the input, shape ", in.shape());
    const Index D = in.dim(0), H = in.dim(1), W = in.dim(2);
    parallel_for(0, D, [&](Index z) {
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) {
                std::uint8_t v = in(z, y, x);
                if (z > 0) v = std::max(v, in(z - 1, y, x));
                if (z + 1 < D) v = std::max(v, in(z + 1, y, x));
                if (y > 0) v = std::max(v, in(z, y - 1, x));
                if (y + 1 < H) v = std::max(v, in(z, y + 1, x));
                if (x > 0) v = std::max(v, in(z, y, x - 1));
                if (x + 1 < W) v = std::max(v, in(z, y, x + 1));
                out(z, y, x) = v;
            }
    });
}

// The fine label of a rough (D,H,W) mask (any strides; non-zero = foreground): components of
// fewer than p.min_size voxels removed, the rest thinned (thin_lee), then dilated by the cross.
// Ensures: a new contiguous (D,H,W) tensor of 0 and 255; `rough` is not modified.
inline Tensor<std::uint8_t> fine_label(ConstView<std::uint8_t> rough, const FineLabelParams& p = {}) {
    AXONSEG_CHECK(rough.rank() == 3, "fine_label: the rough label must be a (D,H,W) volume, got shape ",
                  rough.shape());
    Tensor<std::uint8_t> skeleton(rough.shape());  // (D,H,W)
    copy(rough, skeleton.view());
    remove_small_components(skeleton, p.min_size, p.connectivity);
    thin_lee(skeleton);
    for (Index i = 0; i < skeleton.numel(); ++i) skeleton.data()[i] *= 255;  // 0/1 -> 0/255
    Tensor<std::uint8_t> out(rough.shape());  // (D,H,W)
    dilate_cross6(skeleton, out);
    return out;
}

}  // namespace axonseg::prep
