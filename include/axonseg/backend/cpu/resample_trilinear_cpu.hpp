// CPU trilinear resampling, separable: one 1-D interpolation pass per axis computes the reference's
// 8-tap sum (in another order, so up to rounding), two multiply-adds per element of each pass,
// whole rows at a time, with temporaries in compute precision so bf16 rounds once, at the end.
// An axis whose length does not change is skipped: PyTorch's weights there are (1, 0), an exact
// copy for finite values. The backward runs the transposed passes, each a gather (every dx row sums
// the dy rows that read it), so threads never add into one element and the result does not depend
// on the thread count.
#pragma once

#include "axonseg/backend/cpu/axis_passes.hpp"
#include "axonseg/backend/reference/resample_trilinear_ref.hpp"
#include "axonseg/core/parallel.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

namespace axonseg::backend {

// A linear map between the positions of two lines: out[i] = sum of weight[e] * in[source[e]] over
// e in [begin[i], begin[i + 1]).
template <class V>
struct LineWeights {
    std::vector<Index> begin{0};
    std::vector<Index> source;
    std::vector<V> weight;
    Index rows() const { return Index(begin.size()) - 1; }
};

// The forward map along one axis: output i reads taps i0 and i1.
template <class V>
LineWeights<V> linear_weights(Index in, Index out, bool align_corners) {
    LineWeights<V> m;
    for (const LinearTap<V>& t : linear_taps<V>(in, out, align_corners)) {
        m.source.insert(m.source.end(), {t.i0, t.i1});
        m.weight.insert(m.weight.end(), {t.w0, t.w1});
        m.begin.push_back(Index(m.source.size()));
    }
    return m;
}

// The transposed map (the backward along that axis), `in` rows: each input position gathers the
// outputs that read it, in output order.
template <class V>
LineWeights<V> transposed(const LineWeights<V>& m, Index in) {
    LineWeights<V> t;
    std::vector<Index> count(std::size_t(in) + 1, 0);
    for (Index s : m.source) ++count[std::size_t(s) + 1];
    for (Index i = 0; i < in; ++i) count[std::size_t(i) + 1] += count[std::size_t(i)];
    t.begin = count;
    t.source.resize(m.source.size());
    t.weight.resize(m.weight.size());
    for (Index j = 0; j < m.rows(); ++j)
        for (Index e = m.begin[j]; e < m.begin[j + 1]; ++e) {
            const Index at = count[std::size_t(m.source[e])]++;
            t.source[at] = j;
            t.weight[at] = m.weight[e];
        }
    return t;
}

// Applies m along one axis: `lines` describe the input, the output has m.rows() rows per line.
// add: the result is added into out instead of replacing it (Grad::accumulate on the last pass).
template <class V, class In, class Out>
void weighted_pass(const In* in, Out* out, AxisLines l, const LineWeights<V>& m, bool add) {
    const Index rows = m.rows(), len = l.length, block = l.block;
    const Index* begin = m.begin.data();
    const Index* source = m.source.data();
    const V* weight = m.weight.data();
    if (block == 1) {
        parallel_for(0, l.outer, [&](Index o) {
            const In* src = in + o * len;
            Out* dst = out + o * rows;
            for (Index i = 0; i < rows; ++i) {
                V acc = 0;
                for (Index e = begin[i]; e < begin[i + 1]; ++e)
                    acc += V(src[source[e]]) * weight[e];
                dst[i] = Out(add ? V(dst[i]) + acc : acc);
            }
        });
        return;
    }
    parallel_chunks(0, l.outer * rows, [&](Index r0, Index r1, int) {
        std::vector<V> row_sum(static_cast<std::size_t>(block));  // one row of sums, per thread
        V* acc = row_sum.data();
        for (Index r = r0; r < r1; ++r) {
            const Index o = r / rows, i = r - o * rows;
            const In* src = in + o * len * block;
            Out* dst = out + r * block;
            std::fill(acc, acc + block, V(0));
            for (Index e = begin[i]; e < begin[i + 1]; ++e) {
                const In* row = src + source[e] * block;
                const V w = weight[e];
#pragma omp simd
                for (Index b = 0; b < block; ++b) acc[b] += V(row[b]) * w;
            }
            if (add) {
#pragma omp simd
                for (Index b = 0; b < block; ++b) dst[b] = Out(V(dst[b]) + acc[b]);
            } else {
#pragma omp simd
                for (Index b = 0; b < block; ++b) dst[b] = Out(acc[b]);
            }
        }
    });
}

// The axes whose length changes from `from` to `to`, in the order that keeps the work smallest.
// The maps along different axes commute, so any order gives the same sum up to rounding, and a
// pass costs about the size of what it writes: the passes that shrink the most go first. Among
// equal ratios, W (the element-wise gather when W is innermost) runs on the smaller data: last
// when shrinking, first when growing.
inline std::vector<int> pass_order(const Shape& from, const Shape& to) {
    std::vector<int> axes;
    for (int a : {2, 3, 4})
        if (from[a] != to[a]) axes.push_back(a);
    std::sort(axes.begin(), axes.end(), [&](int a, int b) {
        const Index ra = to[a] * from[b], rb = to[b] * from[a];  // ratio a < ratio b iff ra < rb
        if (ra != rb) return ra < rb;
        return to[a] < from[a] ? a < b : a > b;
    });
    return axes;
}

template <class T>
void resample_trilinear_forward(Cpu, ConstView<T> x, TensorView<T> y, bool align_corners) {
    using V = compute_t<T>;
    const std::optional<Layout> layout = common_dense_layout(x, y);
    if (!layout) {
        // A strided input is made dense once; a strided output takes the reference loop.
        const std::optional<Layout> y_layout = common_dense_layout(y);
        if (!y_layout) return resample_trilinear_forward(reference, x, y, align_corners);
        const Tensor<T> dense = clone(x, *y_layout);  // (N,C,D,H,W)
        return resample_trilinear_forward(cpu, ConstView<T>(dense), y, align_corners);
    }
    std::array<LineWeights<V>, 3> maps;
    for (int a : {2, 3, 4}) maps[a - 2] = linear_weights<V>(x.dim(a), y.dim(a), align_corners);
    run_axis_passes<V>(x.data(), x.shape(), y.data(), y.shape(), *layout,
                       pass_order(x.shape(), y.shape()),
                       [&](const auto* in, auto* out, AxisLines lines, int axis) {
                           weighted_pass(in, out, lines, maps[axis - 2], false);
                       });
}

template <class T>
void resample_trilinear_backward(Cpu, ConstView<T> dy, TensorView<T> dx, bool align_corners,
                                 Grad mode) {
    using V = compute_t<T>;
    const std::optional<Layout> layout = common_dense_layout(dy, dx);
    if (!layout) {
        const std::optional<Layout> dx_layout = common_dense_layout(dx);
        if (!dx_layout) return resample_trilinear_backward(reference, dy, dx, align_corners, mode);
        const Tensor<T> dense = clone(dy, *dx_layout);  // (N,C,D',H',W')
        return resample_trilinear_backward(cpu, ConstView<T>(dense), dx, align_corners, mode);
    }
    std::array<LineWeights<V>, 3> maps;
    for (int a : {2, 3, 4})
        maps[a - 2] = transposed(linear_weights<V>(dx.dim(a), dy.dim(a), align_corners), dx.dim(a));
    const void* last = dx.data();  // only the pass that writes dx may add into it
    run_axis_passes<V>(
        dy.data(), dy.shape(), dx.data(), dx.shape(), *layout, pass_order(dy.shape(), dx.shape()),
        [&](const auto* in, auto* out, AxisLines lines, int axis) {
            const bool add = mode == Grad::accumulate && static_cast<const void*>(out) == last;
            weighted_pass(in, out, lines, maps[axis - 2], add);
        });
}

}  // namespace axonseg::backend
