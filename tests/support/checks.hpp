// What operator tests share: seeded random tensors, sentinel-filled outputs, a closeness check
// that names the case and the worst element, float64 central-difference gradients, and skips.
#pragma once

#include "axonseg/backend/cuda/device_memory.hpp"
#include "axonseg/core/tensor.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <string>

namespace axonseg::test {

// Uniform random elements in [lo, hi), reproducible from the seed.
template <class T>
Tensor<T> random_tensor(const Shape& shape, std::uint64_t seed, Layout layout = Layout::contiguous,
                        double lo = -1.0, double hi = 1.0) {
    Tensor<T> t(shape, layout);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    // Fill in logical order so the values do not depend on the layout.
    Tensor<double> logical(shape);
    for (Index i = 0; i < logical.numel(); ++i) logical.data()[i] = dist(rng);
    copy(logical, t.view());
    return t;
}

// Outputs are pre-filled with a value no operator produces, different per backend, so an element
// a backend forgets to write shows up as a mismatch.
template <class T>
Tensor<T> sentinel_tensor(const Shape& shape, double sentinel, Layout layout = Layout::contiguous) {
    return Tensor<T>::full(shape, T(sentinel), layout);
}

template <class T>
double float_of(T v) {
    if constexpr (std::is_same_v<std::remove_const_t<T>, bfloat16>) return double(float(v));
    else return double(v);
}

struct Closeness {
    double max_abs_error = 0;   // max |actual - expected|
    double scale = 0;           // max |expected|
    Index worst = -1;           // logical (row-major) index of the worst element
    bool finite = true;
    double relative() const { return max_abs_error / (scale > 0 ? scale : 1.0); }
};

// Compares element by element in logical order. The error is measured relative to the largest
// expected magnitude, so values near zero do not dominate.
template <class A, class E>
Closeness closeness(TensorView<const A> actual, TensorView<const E> expected) {
    REQUIRE_MESSAGE(actual.shape() == expected.shape(), "shapes differ: ", to_string(actual.shape()),
                    " vs ", to_string(expected.shape()));
    Closeness c;
    Index i = 0;
    for_each_offsets(
        actual.shape(),
        [&](Index a, Index e) {
            const double x = double(float_of(actual.data()[a])), y = double(float_of(expected.data()[e]));
            if (!std::isfinite(x) && std::isfinite(y)) c.finite = false;
            const double err = std::abs(x - y);
            if (!(err <= c.max_abs_error)) {
                c.max_abs_error = std::isfinite(err) ? err : std::numeric_limits<double>::infinity();
                c.worst = i;
            }
            c.scale = std::max(c.scale, std::abs(y));
            ++i;
        },
        actual.strides(), expected.strides());
    return c;
}

// CHECKs that actual matches expected within rtol (relative to max |expected|); `what` names the
// case in the failure report.
template <class A, class E>
void check_close(TensorView<A> actual, TensorView<E> expected, double rtol, const std::string& what) {
    const Closeness c = closeness(TensorView<const A>(actual), TensorView<const E>(expected));
    INFO(what, ": max |error| ", c.max_abs_error, " at logical index ", c.worst, ", scale ", c.scale,
         ", relative ", c.relative(), ", tolerance ", rtol);
    CHECK(c.finite);
    CHECK(c.relative() <= rtol);
}

// Central-difference gradient of a scalar function of x: d f / d x[i] for every element, in
// x's layout. f reads x's current contents; x is restored afterwards.
inline Tensor<double> numeric_gradient(TensorView<double> x, const std::function<double()>& f,
                                       double eps = 1e-6) {
    Tensor<double> g = Tensor<double>::zeros(x.shape());
    Index i = 0;
    for_each_offsets(
        x.shape(),
        [&](Index o) {
            const double saved = x.data()[o];
            x.data()[o] = saved + eps;
            const double up = f();
            x.data()[o] = saved - eps;
            const double down = f();
            x.data()[o] = saved;
            g.data()[i++] = (up - down) / (2 * eps);
        },
        x.strides());
    return g;
}

// sum(w * y): the scalar whose gradient with respect to y is w, used to drive backward passes.
inline double weighted_sum(TensorView<const double> y, TensorView<const double> w) {
    double s = 0;
    for_each_offsets(y.shape(), [&](Index a, Index b) { s += y.data()[a] * w.data()[b]; },
                     y.strides(), w.strides());
    return s;
}

inline bool cuda_present() { return cuda_device_count() > 0; }

// Where the read-only shared data lives (../shared from the project root), or empty if absent.
inline std::filesystem::path shared_data_dir() {
    const std::filesystem::path p = std::filesystem::path(AXONSEG_SOURCE_DIR) / ".." / "shared" / "data";
    return std::filesystem::exists(p) ? p : std::filesystem::path();
}

}  // namespace axonseg::test

// Ends the current test case with a message when no CUDA device is present.
#define AXONSEG_REQUIRE_CUDA_OR_SKIP()                                                      \
    do {                                                                                    \
        if (!::axonseg::test::cuda_present()) {                                             \
            MESSAGE("skipped: no CUDA device (built with CUDA: " << AXONSEG_WITH_CUDA << ")"); \
            return;                                                                         \
        }                                                                                   \
    } while (0)
