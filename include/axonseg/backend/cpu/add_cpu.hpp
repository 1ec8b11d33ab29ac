// CPU element-wise addition: one vectorised, threaded pass when a, b and y share a dense layout;
// other strides take the reference.
#pragma once

#include "axonseg/backend/reference/add_ref.hpp"
#include "axonseg/core/parallel.hpp"

namespace axonseg::backend {

template <class T>
void add_forward(Cpu, ConstView<T> a, ConstView<T> b, TensorView<T> y) {
    if (!common_dense_layout(a, b, y)) return add_forward(reference, a, b, y);
    const T* pa = a.data();
    const T* pb = b.data();
    T* out = y.data();
    parallel_chunks(0, y.numel(), [=](Index s, Index e, int) {
        for (Index i = s; i < e; ++i) out[i] = T(compute_t<T>(pa[i]) + compute_t<T>(pb[i]));
    });
}

}  // namespace axonseg::backend
