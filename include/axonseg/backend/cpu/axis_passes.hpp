// One-axis passes over dense 5-d tensors, shared by the separable CPU operators (pooling, trilinear
// resampling). Along a spatial axis a dense tensor is (outer, length, block): `outer` independent
// lines of `length` rows, each row `block` contiguous elements. block is 1 only for W in NCDHW (the
// pass walks single elements); for D and H, and for every axis in NDHWC, the pass combines whole
// rows, which vectorises. A pass changes only its own axis, so its input and output share `outer`
// and `block` whatever order the passes run in; the order is the operator's choice.
#pragma once

#include "axonseg/core/memory.hpp"
#include "axonseg/core/tensor.hpp"

#include <array>
#include <vector>

namespace axonseg::backend {

struct AxisLines {
    Index outer = 1, length = 1, block = 1;
};

// How a dense tensor of this shape and layout divides along spatial `axis` (2, 3 or 4).
inline AxisLines axis_lines(const Shape& shape, Layout layout, int axis) {
    constexpr std::array<int, 5> ncdhw{0, 1, 2, 3, 4}, ndhwc{0, 2, 3, 4, 1};  // outermost first
    const std::array<int, 5>& order = layout == Layout::contiguous ? ncdhw : ndhwc;
    AxisLines l{1, shape[axis], 1};
    bool inside = false;
    for (int dim : order) {
        if (dim == axis)
            inside = true;
        else
            (inside ? l.block : l.outer) *= shape[dim];
    }
    return l;
}

// Runs pass(in, out, lines, axis) once per axis of `axes` (at most 3), in that order, from x
// (x_shape) through temporaries of element type W to y (y_shape); both are dense in `layout`. The
// pass along an axis takes its length from x's to y's (lines describe its input). Axes left out
// must have equal lengths in x and y; if none is left, the W pass runs alone, as an identity.
template <class W, class In, class Out, class Pass>
void run_axis_passes(const In* x, const Shape& x_shape, Out* y, const Shape& y_shape, Layout layout,
                     const std::vector<int>& axes, Pass&& pass) {
    const std::vector<int> list = axes.empty() ? std::vector<int>{4} : axes;
    const std::size_t count = list.size();
    Shape cur = x_shape;
    auto step = [&](const auto* in, auto* out, int axis) {
        pass(in, out, axis_lines(cur, layout, axis), axis);
        cur[axis] = y_shape[axis];
    };
    auto next_numel = [&](int axis) {
        Shape s = cur;
        s[axis] = y_shape[axis];
        return std::size_t(s.numel());
    };
    if (count == 1) return step(x, y, list[0]);
    Buffer<W, Cpu> first(next_numel(list[0]));
    step(x, first.data(), list[0]);
    if (count == 2) return step(static_cast<const W*>(first.data()), y, list[1]);
    Buffer<W, Cpu> second(next_numel(list[1]));
    step(static_cast<const W*>(first.data()), second.data(), list[1]);
    step(static_cast<const W*>(second.data()), y, list[2]);
}

}  // namespace axonseg::backend
