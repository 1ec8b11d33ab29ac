// CPU LeakyReLU: one vectorised, threaded pass when the tensors share a dense layout; any other
// strides take the reference loop (correct, slower: views that odd are rare between layers).
#pragma once

#include "axonseg/backend/reference/leaky_relu_ref.hpp"
#include "axonseg/core/parallel.hpp"

namespace axonseg::backend {

template <class T>
void leaky_relu_forward(Cpu, ConstView<T> x, TensorView<T> y, double slope) {
    if (!(x.is_dense() && x.strides() == y.strides()))
        return leaky_relu_forward(reference, x, y, slope);
    const T* in = x.data();
    T* out = y.data();
    const compute_t<T> a = compute_t<T>(slope);
    parallel_chunks(0, x.numel(), [&](Index b, Index e, int) {
#pragma omp simd
        for (Index i = b; i < e; ++i) {
            const compute_t<T> v = in[i];
            out[i] = T(v > 0 ? v : v * a);
        }
    });
}

template <class T>
void leaky_relu_backward(Cpu, ConstView<T> x, ConstView<T> dy, TensorView<T> dx, double slope) {
    if (!(x.is_dense() && x.strides() == dy.strides() && x.strides() == dx.strides()))
        return leaky_relu_backward(reference, x, dy, dx, slope);
    const T* in = x.data();
    const T* g = dy.data();
    T* out = dx.data();
    const compute_t<T> a = compute_t<T>(slope);
    parallel_chunks(0, x.numel(), [&](Index b, Index e, int) {
#pragma omp simd
        for (Index i = b; i < e; ++i) {
            const compute_t<T> gi = g[i];
            out[i] = T(compute_t<T>(in[i]) > 0 ? gi : gi * a);
        }
    });
}

}  // namespace axonseg::backend
