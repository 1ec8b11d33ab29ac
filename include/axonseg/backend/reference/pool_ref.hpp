// Reference max and min pooling: plain loops over any strides, the specification for the fast
// paths. The window rule is PyTorch's max_pool3d: padding never contributes (as if filled with -inf
// for max, +inf for min), the extremum is the first in window order (d, then h, then w) on ties,
// and a NaN wins over any number (the last NaN in window order, as PyTorch's CPU kernel). The
// backward routes each output's gradient to that element, found again from x, so no index tensor is
// kept. PoolKind and PoolParams live here, beside the specification, because every backend takes
// them; ops/pool.hpp is the public entry point.
#pragma once

#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

#include <algorithm>
#include <array>

namespace axonseg {

enum class PoolKind { max, min };

// Per axis (D, H, W): window size, step between windows, and implicit padding on both sides.
struct PoolParams {
    Index3 kernel{3, 3, 3};
    Index3 stride{1, 1, 1};
    Index3 pad{0, 0, 0};
};

// Output length along one axis (PyTorch's floor rule, no ceil mode, no dilation).
constexpr Index pool_output_length(Index in, Index kernel, Index stride, Index pad) {
    return (in + 2 * pad - kernel) / stride + 1;
}

// Whether v replaces `best` as the window's extremum: strictly better (so ties keep the first), or
// NaN (so a NaN anywhere in the window is the result). For integers v != v is always false.
template <class V>
constexpr bool pool_replaces(PoolKind kind, V v, V best) {
    return (kind == PoolKind::max ? v > best : v < best) || v != v;
}

}  // namespace axonseg

namespace axonseg::backend {

// The window of output o clipped to the input: [lo[a], hi[a]) along spatial axis a.
struct PoolWindow {
    std::array<Index, 3> lo{}, hi{};
};

inline PoolWindow pool_window(const Shape& x, const std::array<Index, 3>& o, const PoolParams& p) {
    PoolWindow win;
    for (int a = 0; a < 3; ++a) {
        const Index start = o[a] * p.stride[a] - p.pad[a];
        win.lo[a] = std::max<Index>(start, 0);
        win.hi[a] = std::min<Index>(start + p.kernel[a], x[2 + a]);
    }
    return win;
}

// Where the extremum of x(n, c, ...) over the window of output o lies: its index
// (d * H + h) * W + w within the (n, c) plane of x (D, H, W are x's sizes).
// Requires the window to hold at least one input element (pad <= kernel / 2 guarantees it).
template <class T>
Index pool_extremum(ConstView<T> x, Index n, Index c, const std::array<Index, 3>& o, PoolKind kind,
                    const PoolParams& p) {
    const auto [lo, hi] = pool_window(x.shape(), o, p);
    const Index H = x.dim(3), W = x.dim(4), sd = x.stride(2), sh = x.stride(3), sw = x.stride(4);
    const T* base = x.data() + n * x.stride(0) + c * x.stride(1);
    compute_t<T> best = base[lo[0] * sd + lo[1] * sh + lo[2] * sw];
    Index at = (lo[0] * H + lo[1]) * W + lo[2];
    for (Index d = lo[0]; d < hi[0]; ++d)
        for (Index h = lo[1]; h < hi[1]; ++h)
            for (Index w = lo[2]; w < hi[2]; ++w) {
                const compute_t<T> v = base[d * sd + h * sh + w * sw];
                if (pool_replaces(kind, v, best)) {
                    best = v;
                    at = (d * H + h) * W + w;
                }
            }
    return at;
}

// The logical (d, h, w) of a position pool_extremum returned, for an input with sizes H, W.
inline std::array<Index, 3> plane_position(Index at, Index H, Index W) {
    return {at / (H * W), at / W % H, at % W};
}

template <class T>
void pool_forward(Reference, ConstView<T> x, TensorView<T> y, PoolKind kind, const PoolParams& p) {
    for (Index n = 0; n < y.dim(0); ++n)
        for (Index c = 0; c < y.dim(1); ++c)
            for (Index od = 0; od < y.dim(2); ++od)
                for (Index oh = 0; oh < y.dim(3); ++oh)
                    for (Index ow = 0; ow < y.dim(4); ++ow) {
                        const auto [d, h, w] = plane_position(
                            pool_extremum(x, n, c, {od, oh, ow}, kind, p), x.dim(3), x.dim(4));
                        y(n, c, od, oh, ow) = x(n, c, d, h, w);
                    }
}

// dx = (mode == accumulate ? dx : 0) + the sum, over outputs, of dy routed to each one's extremum.
// (y is not needed: the reference searches x again.)
template <class T>
void pool_backward(Reference, ConstView<T> x, ConstView<T> /*y*/, ConstView<T> dy, TensorView<T> dx,
                   PoolKind kind, const PoolParams& p, Grad mode) {
    // Sums in compute precision, so bf16 gradients that meet in one element round once.
    Tensor<compute_t<T>> sum = Tensor<compute_t<T>>::zeros(dx.shape());  // (N,C,D,H,W)
    for (Index n = 0; n < dy.dim(0); ++n)
        for (Index c = 0; c < dy.dim(1); ++c)
            for (Index od = 0; od < dy.dim(2); ++od)
                for (Index oh = 0; oh < dy.dim(3); ++oh)
                    for (Index ow = 0; ow < dy.dim(4); ++ow) {
                        const auto [d, h, w] = plane_position(
                            pool_extremum(x, n, c, {od, oh, ow}, kind, p), x.dim(3), x.dim(4));
                        sum(n, c, d, h, w) += compute_t<T>(dy(n, c, od, oh, ow));
                    }
    for_each_offsets(
        dx.shape(),
        [&](Index a, Index b) {
            const compute_t<T> old = mode == Grad::accumulate ? compute_t<T>(dx.data()[b]) : 0;
            dx.data()[b] = T(old + sum.data()[a]);
        },
        sum.strides(), dx.strides());
}

}  // namespace axonseg::backend
