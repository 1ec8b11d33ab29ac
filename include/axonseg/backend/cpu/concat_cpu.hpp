// CPU channel concatenation and split. When a, b and y share a dense layout, y is a sequence of
// units, each Ka elements of a then Kb of b: a voxel's channels in NDHWC (K = C), a whole sample in
// NCDHW (K = C * D*H*W). Each thread copies an equal share of y in runs; other strides take the
// reference.
#pragma once

#include "axonseg/backend/reference/concat_ref.hpp"
#include "axonseg/core/parallel.hpp"

#include <algorithm>
#include <array>

namespace axonseg::backend {

namespace detail {

// Calls f(part, offset in the part (0 = a, 1 = b), offset in y, count) for runs covering y once.
template <class F>
void for_each_concat_run(Index units, Index ka, Index kb, F f) {
    parallel_segments(units, ka + kb, [&](Index u, Index j0, Index j1, int) {
        if (j0 < ka) f(0, u * ka + j0, u * (ka + kb) + j0, std::min(j1, ka) - j0);
        if (j1 > ka) {
            const Index j = std::max(j0, ka);
            f(1, u * kb + j - ka, u * (ka + kb) + j, j1 - j);
        }
    });
}

// The unit count and the a and b run lengths of a dense layout (see the file comment).
inline std::array<Index, 3> concat_units(Layout layout, const Shape& y, Index ca, Index cb) {
    const Index s = y[2] * y[3] * y[4];
    if (layout == Layout::channels_last) return {y[0] * s, ca, cb};
    return {y[0], ca * s, cb * s};
}

}  // namespace detail

template <class T>
void concat_forward(Cpu, ConstView<T> a, ConstView<T> b, TensorView<T> y) {
    const std::optional<Layout> layout = common_dense_layout(a, b, y);
    if (!layout) return concat_forward(reference, a, b, y);
    const auto [units, ka, kb] = detail::concat_units(*layout, y.shape(), a.dim(1), b.dim(1));
    const T* src[2] = {a.data(), b.data()};
    detail::for_each_concat_run(units, ka, kb, [&](int part, Index from, Index to, Index n) {
        std::copy(src[part] + from, src[part] + from + n, y.data() + to);
    });
}

template <class T>
void concat_backward(Cpu, ConstView<T> dy, TensorView<T> da, TensorView<T> db, Grad mode) {
    const std::optional<Layout> layout = common_dense_layout(dy, da, db);
    if (!layout) return concat_backward(reference, dy, da, db, mode);
    const Index cb = db.empty() ? dy.dim(1) - da.dim(1) : db.dim(1);
    const auto [units, ka, kb] = detail::concat_units(*layout, dy.shape(), dy.dim(1) - cb, cb);
    T* dst[2] = {da.empty() ? nullptr : da.data(), db.empty() ? nullptr : db.data()};
    detail::for_each_concat_run(units, ka, kb, [&](int part, Index to, Index from, Index n) {
        T* out = dst[part];
        const T* in = dy.data() + from;
        if (!out) return;
        if (mode == Grad::overwrite) {
            std::copy(in, in + n, out + to);
            return;
        }
#pragma omp simd
        for (Index i = 0; i < n; ++i) out[to + i] = T(compute_t<T>(out[to + i]) + compute_t<T>(in[i]));
    });
}

}  // namespace axonseg::backend
