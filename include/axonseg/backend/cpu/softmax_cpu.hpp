// CPU softmax over channels for the two dense layouts, any other strides take the reference.
// Each thread takes an equal share of the voxels and works through blocks of k_softmax_block voxels:
// the channel loop is outside, the voxel loop inside and vectorised, so the same code is a stream
// in NCDHW and an L1-resident strided walk in NDHWC (where C, the class count, is small).
#pragma once

#include "axonseg/backend/reference/softmax_ref.hpp"
#include "axonseg/core/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace axonseg::backend {

namespace detail {

constexpr Index k_softmax_block = 128;

// Offsets of element (n, c, s) of a dense (N,C,S) tensor: n * C * S + c * channel + s * voxel.
struct ChannelGeometry {
    Index N, C, S, channel, voxel;
    ChannelGeometry(const Shape& shape, Layout layout)
        : N(shape[0]), C(shape[1]), S(shape[2] * shape[3] * shape[4]),
          channel(layout == Layout::channels_last ? 1 : S), voxel(layout == Layout::channels_last ? C : 1) {}
};

// Calls f(first element offset, block length, thread) for blocks of voxels of one sample, the
// blocks of each thread's equal share of all voxels.
template <class F>
void for_each_voxel_block(const ChannelGeometry& g, F f) {
    parallel_segments(g.N, g.S, [&](Index n, Index q0, Index q1, int t) {
        for (Index b = q0; b < q1; b += k_softmax_block)
            f(n * g.C * g.S + b * g.voxel, std::min(k_softmax_block, q1 - b), t);
    });
}

}  // namespace detail

template <class T>
void softmax_forward(Cpu, ConstView<T> x, TensorView<T> y) {
    const std::optional<Layout> layout = common_dense_layout(x, y);
    if (!layout) return softmax_forward(reference, x, y);
    using A = compute_t<T>;
    const detail::ChannelGeometry g(x.shape(), *layout);
    // Per thread: the block's exponentials (C x block) and running max and sum per voxel.
    std::vector<A> scratch(std::size_t(thread_count() * (g.C + 2) * detail::k_softmax_block));
    detail::for_each_voxel_block(g, [&](Index first, Index len, int t) {
        // Locals, not closure members, in the loops: GCC vectorises no loop that loads through one.
        const Index C = g.C, cs = g.channel, vs = g.voxel, B = detail::k_softmax_block;
        const T* in = x.data() + first;
        T* out = y.data() + first;
        A* e = scratch.data() + std::size_t(t) * (C + 2) * B;  // (C, B)
        A* mx = e + C * B;
        A* sum = mx + B;
        std::fill(mx, mx + len, -std::numeric_limits<A>::infinity());
        std::fill(sum, sum + len, A(0));
        for (Index c = 0; c < C; ++c)
#pragma omp simd
            for (Index j = 0; j < len; ++j) mx[j] = std::max(mx[j], A(in[c * cs + j * vs]));
        for (Index c = 0; c < C; ++c)
            for (Index j = 0; j < len; ++j) {
                e[c * B + j] = std::exp(A(in[c * cs + j * vs]) - mx[j]);
                sum[j] += e[c * B + j];
            }
#pragma omp simd
        for (Index j = 0; j < len; ++j) sum[j] = A(1) / sum[j];
        for (Index c = 0; c < C; ++c)
#pragma omp simd
            for (Index j = 0; j < len; ++j) out[c * cs + j * vs] = T(e[c * B + j] * sum[j]);
    });
}

template <class T>
void softmax_backward(Cpu, ConstView<T> y, ConstView<T> dy, TensorView<T> dx) {
    const std::optional<Layout> layout = common_dense_layout(y, dy, dx);
    if (!layout) return softmax_backward(reference, y, dy, dx);
    using A = compute_t<T>;
    const detail::ChannelGeometry g(y.shape(), *layout);
    std::vector<A> scratch(std::size_t(thread_count() * detail::k_softmax_block));
    detail::for_each_voxel_block(g, [&](Index first, Index len, int t) {
        const Index C = g.C, cs = g.channel, vs = g.voxel;  // locals: see softmax_forward
        const T* yv = y.data() + first;
        const T* gv = dy.data() + first;
        T* out = dx.data() + first;
        A* dot = scratch.data() + std::size_t(t) * detail::k_softmax_block;
        std::fill(dot, dot + len, A(0));
        for (Index c = 0; c < C; ++c)
#pragma omp simd
            for (Index j = 0; j < len; ++j) dot[j] += A(yv[c * cs + j * vs]) * A(gv[c * cs + j * vs]);
        // dx may alias dy: each element's dy is read before its dx is written.
        for (Index c = 0; c < C; ++c)
#pragma omp simd
            for (Index j = 0; j < len; ++j) {
                const Index i = c * cs + j * vs;
                out[i] = T(A(yv[i]) * (A(gv[i]) - dot[j]));
            }
    });
}

}  // namespace axonseg::backend
