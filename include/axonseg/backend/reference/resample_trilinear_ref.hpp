// Reference trilinear resampling, as torch.nn.functional.interpolate(mode='trilinear'): plain loops
// over any strides, the specification for the fast paths. Each output voxel mixes the 8 input
// voxels around its source position; the position and the weights per axis are PyTorch's
// (linear_tap), worked out in compute precision: float for float and bfloat16 (PyTorch's "opmath";
// PyTorch then stores bf16 weights in bf16, a difference far inside bf16 tolerance), double for
// double.
#pragma once

#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace axonseg::backend {

// Output index i along one axis reads input indices i0 and i1 with weights w0 + w1 = 1.
template <class V>
struct LinearTap {
    Index i0 = 0, i1 = 0;
    V w0 = 1, w1 = 0;
};

// PyTorch's compute_source_index_and_lambda for an axis of `in` input and `out` output voxels.
// align_corners = false: source = (i + 0.5) * in / out - 0.5, clamped at 0 (half-pixel centres);
// true: source = i * (in - 1) / (out - 1), so the first and last voxels line up. Equal sizes copy.
// The floor goes through float as PyTorch's floorf does, even for double.
template <class V>
LinearTap<V> linear_tap(Index i, Index in, Index out, bool align_corners) {
    if (out == in) return {i, i, V(1), V(0)};
    V source;
    if (align_corners) {
        source = (out > 1 ? V(in - 1) / V(out - 1) : V(0)) * V(i);
    } else {
        const V scale = V(in) / V(out);
        source = std::max(scale * (V(i) + V(0.5)) - V(0.5), V(0));
    }
    const Index i0 = std::min(Index(std::floor(float(source))), in - 1);
    const V w1 = std::min(std::max(source - V(i0), V(0)), V(1));
    return {i0, i0 < in - 1 ? i0 + 1 : i0, V(1) - w1, w1};
}

template <class V>
std::vector<LinearTap<V>> linear_taps(Index in, Index out, bool align_corners) {
    std::vector<LinearTap<V>> taps;
    for (Index i = 0; i < out; ++i) taps.push_back(linear_tap<V>(i, in, out, align_corners));
    return taps;
}

// Sums in PyTorch's nesting order: W innermost, then H, then D.
template <class T>
void resample_trilinear_forward(Reference, ConstView<T> x, TensorView<T> y, bool align_corners) {
    using V = compute_t<T>;
    const auto td = linear_taps<V>(x.dim(2), y.dim(2), align_corners);
    const auto th = linear_taps<V>(x.dim(3), y.dim(3), align_corners);
    const auto tw = linear_taps<V>(x.dim(4), y.dim(4), align_corners);
    for (Index n = 0; n < y.dim(0); ++n)
        for (Index c = 0; c < y.dim(1); ++c)
            for (Index od = 0; od < y.dim(2); ++od)
                for (Index oh = 0; oh < y.dim(3); ++oh)
                    for (Index ow = 0; ow < y.dim(4); ++ow) {
                        const LinearTap<V>& d = td[od];
                        const LinearTap<V>& h = th[oh];
                        const LinearTap<V>& w = tw[ow];
                        auto line = [&](Index id, Index ih) {
                            return V(x(n, c, id, ih, w.i0)) * w.w0 +
                                   V(x(n, c, id, ih, w.i1)) * w.w1;
                        };
                        auto plane = [&](Index id) {
                            return line(id, h.i0) * h.w0 + line(id, h.i1) * h.w1;
                        };
                        y(n, c, od, oh, ow) = T(plane(d.i0) * d.w0 + plane(d.i1) * d.w1);
                    }
}

// Each dy element goes to its 8 source voxels with the product of the per-axis weights (PyTorch's
// order), summed in compute precision; dx is overwritten or added into as `mode` says.
template <class T>
void resample_trilinear_backward(Reference, ConstView<T> dy, TensorView<T> dx, bool align_corners,
                                 Grad mode) {
    using V = compute_t<T>;
    const auto td = linear_taps<V>(dx.dim(2), dy.dim(2), align_corners);
    const auto th = linear_taps<V>(dx.dim(3), dy.dim(3), align_corners);
    const auto tw = linear_taps<V>(dx.dim(4), dy.dim(4), align_corners);
    Tensor<V> sum = Tensor<V>::zeros(dx.shape());  // (N,C,D,H,W)
    for (Index n = 0; n < dy.dim(0); ++n)
        for (Index c = 0; c < dy.dim(1); ++c)
            for (Index od = 0; od < dy.dim(2); ++od)
                for (Index oh = 0; oh < dy.dim(3); ++oh)
                    for (Index ow = 0; ow < dy.dim(4); ++ow) {
                        const V g = V(dy(n, c, od, oh, ow));
                        const LinearTap<V>& d = td[od];
                        const LinearTap<V>& h = th[oh];
                        const LinearTap<V>& w = tw[ow];
                        for (int a = 0; a < 2; ++a)
                            for (int b = 0; b < 2; ++b)
                                for (int e = 0; e < 2; ++e)
                                    sum(n, c, a ? d.i1 : d.i0, b ? h.i1 : h.i0, e ? w.i1 : w.i0) +=
                                        (a ? d.w1 : d.w0) * (b ? h.w1 : h.w0) * (e ? w.w1 : w.w0) *
                                        g;
                    }
    for_each_offsets(
        dx.shape(),
        [&](Index a, Index b) {
            const V old = mode == Grad::accumulate ? V(dx.data()[b]) : V(0);
            dx.data()[b] = T(old + sum.data()[a]);
        },
        sum.strides(), dx.strides());
}

}  // namespace axonseg::backend
