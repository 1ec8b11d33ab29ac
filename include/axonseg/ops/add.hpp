// Element-wise addition y = a + b (residual and skip sums).
// There is no add_backward: dL/da = dL/db = dL/dy, so a caller passes dy on to both inputs (or adds
// it into their gradient buffers with the consumers' Grad::accumulate).
#pragma once

#include "axonseg/backend/cpu/add_cpu.hpp"
#include "axonseg/backend/reference/add_ref.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

// a, b and y of one shape (any rank), any strides; y may be a or b itself (in place).
// Ensures y = a + b, computed in compute_t<T> and rounded once.
template <Backend B, Floating T>
void add_forward(B backend, Input<T, B> a, Input<T, B> b, Output<T, B> y) {
    AXONSEG_CHECK(a.shape() == b.shape() && a.shape() == y.shape(), "add_forward: a ", a.shape(), ", b ",
                  b.shape(), " and output ", y.shape(), " must share one shape");
    backend::add_forward(backend, a, b, y);
}

}  // namespace axonseg
