// Reference channel concatenation and split: element loops over any strides (the specification).
#pragma once

#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg::backend {

namespace detail {
// dst = src, or dst += src when mode is accumulate (same shapes, any strides).
template <class T>
void copy_or_add(ConstView<T> src, TensorView<T> dst, Grad mode) {
    for_each_offsets(
        src.shape(),
        [&](Index a, Index b) {
            dst.data()[b] = mode == Grad::accumulate
                                ? T(compute_t<T>(compute_t<T>(dst.data()[b]) + compute_t<T>(src.data()[a])))
                                : src.data()[a];
        },
        src.strides(), dst.strides());
}
}  // namespace detail

// y[:, :Ca] = a, y[:, Ca:] = b.
template <class T>
void concat_forward(Reference, ConstView<T> a, ConstView<T> b, TensorView<T> y) {
    detail::copy_or_add(a, y.narrow(1, 0, a.dim(1)), Grad::overwrite);
    detail::copy_or_add(b, y.narrow(1, a.dim(1), b.dim(1)), Grad::overwrite);
}

// da = dy[:, :Ca], db = dy[:, C - Cb:] (each skipped when empty), added in when mode is accumulate.
template <class T>
void concat_backward(Reference, ConstView<T> dy, TensorView<T> da, TensorView<T> db, Grad mode) {
    if (!da.empty()) detail::copy_or_add(dy.narrow(1, 0, da.dim(1)), da, mode);
    if (!db.empty()) detail::copy_or_add(dy.narrow(1, dy.dim(1) - db.dim(1), db.dim(1)), db, mode);
}

}  // namespace axonseg::backend
