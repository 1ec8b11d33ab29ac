// Reference element-wise addition: one loop over any strides (the specification).
#pragma once

#include "axonseg/core/tensor.hpp"

namespace axonseg::backend {

template <class T>
void add_forward(Reference, ConstView<T> a, ConstView<T> b, TensorView<T> y) {
    for_each_offsets(
        a.shape(),
        [&](Index i, Index j, Index k) {
            y.data()[k] = T(compute_t<T>(a.data()[i]) + compute_t<T>(b.data()[j]));
        },
        a.strides(), b.strides(), y.strides());
}

}  // namespace axonseg::backend
