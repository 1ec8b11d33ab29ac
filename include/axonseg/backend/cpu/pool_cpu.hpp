// CPU max and min pooling. The forward is separable, and exactly so: the extremum over a box is the
// extremum along D of extrema along H of extrema along W (a NaN survives every stage), so a 3^3
// window costs 3 + 3 + 3 comparisons instead of 27, and an axis with kernel 1, stride 1 and no
// padding costs nothing: a line window such as (1,1,3) is a single pass over the data.
// The backward finds each output's extremum as the first window element equal to y (threads over
// outputs), then adds dy into one (n, c) plane per thread in output order, summing in compute
// precision as the reference does, so the two agree bit for bit and no two threads touch one
// element.
#pragma once

#include "axonseg/backend/cpu/axis_passes.hpp"
#include "axonseg/backend/reference/pool_ref.hpp"
#include "axonseg/core/parallel.hpp"

#include <algorithm>
#include <optional>
#include <vector>

namespace axonseg::backend {

// A 1-D pool along one axis: output row j is the extremum of input rows
// [j*s - p, j*s - p + k) clipped to [0, length), in window order.
template <PoolKind K, class T>
void pool_pass(const T* in, T* out, AxisLines l, Index out_length, Index k, Index s, Index p) {
    using V = compute_t<T>;
    const Index len = l.length, block = l.block;
    auto pick = [](T best, T v) { return pool_replaces(K, V(v), V(best)) ? v : best; };
    if (block == 1) {
        // Windows wholly inside the line (j in [full_begin, full_end)) take a branch-free loop over
        // j, one window offset at a time, which vectorises; the clipped ones at the ends do not.
        const Index full_begin = std::min((p + s - 1) / s, out_length);
        const Index last_full = len + p - k >= 0 ? (len + p - k) / s + 1 : 0;
        const Index full_end = std::max(full_begin, std::min(out_length, last_full));
        parallel_for(0, l.outer, [&](Index o) {
            const T* src = in + o * len;
            T* dst = out + o * out_length;
            auto clipped = [&](Index j) {
                const Index lo = std::max<Index>(j * s - p, 0), hi = std::min(j * s - p + k, len);
                T m = src[lo];
                for (Index i = lo + 1; i < hi; ++i) m = pick(m, src[i]);
                dst[j] = m;
            };
            for (Index j = 0; j < full_begin; ++j) clipped(j);
            for (Index j = full_end; j < out_length; ++j) clipped(j);
            for (Index j = full_begin; j < full_end; ++j) dst[j] = src[j * s - p];
            for (Index t = 1; t < k; ++t) {
                const T* shifted = src + t - p;  // shifted[j * s] is window j's element t
                if (s == 1) {  // unit stride: plain loads, which the compiler vectorises
#pragma omp simd
                    for (Index j = full_begin; j < full_end; ++j) dst[j] = pick(dst[j], shifted[j]);
                } else {
                    for (Index j = full_begin; j < full_end; ++j)
                        dst[j] = pick(dst[j], shifted[j * s]);
                }
            }
        });
        return;
    }
    parallel_for(0, l.outer * out_length, [&](Index r) {
        const Index o = r / out_length, j = r - o * out_length;
        const Index lo = std::max<Index>(j * s - p, 0), hi = std::min(j * s - p + k, len);
        const T* src = in + o * len * block;
        T* dst = out + r * block;
        std::copy(src + lo * block, src + (lo + 1) * block, dst);
        for (Index i = lo + 1; i < hi; ++i) {
            const T* row = src + i * block;
#pragma omp simd
            for (Index b = 0; b < block; ++b) dst[b] = pick(dst[b], row[b]);
        }
    });
}

template <class T>
void pool_forward(Cpu, ConstView<T> x, TensorView<T> y, PoolKind kind, const PoolParams& p) {
    const std::optional<Layout> layout = common_dense_layout(x, y);
    if (!layout) {
        // A strided input (a tile of a bigger volume) is made dense once; a strided output is rare
        // enough for the reference loop.
        const std::optional<Layout> y_layout = common_dense_layout(y);
        if (!y_layout) return pool_forward(reference, x, y, kind, p);
        const Tensor<T> dense = clone(x, *y_layout);  // (N,C,D,H,W)
        return pool_forward(cpu, ConstView<T>(dense), y, kind, p);
    }
    std::vector<int> axes;  // W first: with a stride it shrinks the data the later passes read
    for (int a : {4, 3, 2})
        if (!(p.kernel[a - 2] == 1 && p.stride[a - 2] == 1 && p.pad[a - 2] == 0)) axes.push_back(a);
    auto run = [&]<PoolKind K>() {
        run_axis_passes<T>(x.data(), x.shape(), y.data(), y.shape(), *layout, axes,
                           [&](const T* in, T* out, AxisLines lines, int axis) {
                               const int a = axis - 2;
                               pool_pass<K>(in, out, lines, y.dim(axis), p.kernel[a], p.stride[a],
                                            p.pad[a]);
                           });
    };
    kind == PoolKind::max ? run.template operator()<PoolKind::max>()
                          : run.template operator()<PoolKind::min>();
}

// The position (as pool_extremum gives it) of the first element of the window equal to `value`, or
// -1 if none is (value NaN, say).
template <class T>
Index pool_find(ConstView<T> x, Index n, Index c, const PoolWindow& win, compute_t<T> value) {
    const Index H = x.dim(3), W = x.dim(4), sd = x.stride(2), sh = x.stride(3), sw = x.stride(4);
    const T* base = x.data() + n * x.stride(0) + c * x.stride(1);
    for (Index d = win.lo[0]; d < win.hi[0]; ++d)
        for (Index h = win.lo[1]; h < win.hi[1]; ++h) {
            const T* row = base + d * sd + h * sh;
            for (Index w = win.lo[2]; w < win.hi[2]; ++w)
                if (compute_t<T>(row[w * sw]) == value) return (d * H + h) * W + w;
        }
    return -1;
}

template <class T>
void pool_backward(Cpu, ConstView<T> x, ConstView<T> y, ConstView<T> dy, TensorView<T> dx,
                   PoolKind kind, const PoolParams& p, Grad mode) {
    using V = compute_t<T>;
    const Index C = dy.dim(1), Do = dy.dim(2), Ho = dy.dim(3), Wo = dy.dim(4);
    const Index planes = dy.dim(0) * C;
    // Where each output's gradient goes: the position of its extremum within its (n, c) plane. The
    // first window element equal to y is that extremum (ties keep the first); a scan for it stops
    // early and its branches are predictable, unlike the search for the extremum itself, which
    // remains for a NaN y.
    Buffer<Index, Cpu> target(std::size_t(dy.numel()));
    parallel_for(0, planes * Do * Ho, [&](Index r) {
        const Index oh = r % Ho, od = r / Ho % Do, n = r / (Ho * Do) / C, c = r / (Ho * Do) % C;
        for (Index ow = 0; ow < Wo; ++ow) {
            const Index at =
                pool_find(x, n, c, pool_window(x.shape(), {od, oh, ow}, p), V(y(n, c, od, oh, ow)));
            target.data()[r * Wo + ow] =
                at >= 0 ? at : pool_extremum(x, n, c, {od, oh, ow}, kind, p);
        }
    });
    const Shape plane_shape{1, 1, dx.dim(2), dx.dim(3), dx.dim(4)};
    parallel_for(0, planes, [&](Index nc) {
        const Index n = nc / C, c = nc % C;
        Tensor<V> sum = Tensor<V>::zeros(plane_shape);  // (1,1,D,H,W)
        const Index* to = target.data() + nc * Do * Ho * Wo;
        for (Index od = 0; od < Do; ++od)
            for (Index oh = 0; oh < Ho; ++oh)
                for (Index ow = 0; ow < Wo; ++ow, ++to) sum.data()[*to] += V(dy(n, c, od, oh, ow));
        const TensorView<T> out = dx.narrow(0, n, 1).narrow(1, c, 1);  // (1,1,D,H,W)
        for_each_offsets(
            plane_shape,
            [&](Index a, Index b) {
                const V old = mode == Grad::accumulate ? V(out.data()[b]) : V(0);
                out.data()[b] = T(old + sum.data()[a]);
            },
            sum.strides(), out.strides());
    });
}

}  // namespace axonseg::backend
