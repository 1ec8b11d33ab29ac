// Max and min pooling: gradients against central differences, cpu against the reference (every
// element type, both layouts, a strided view), against PyTorch, the 6-cross laws the metrics rely
// on, and the argument checks.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using namespace axonseg;
using namespace axonseg::test;

namespace {

struct PoolCase {
    const char* name;
    PoolParams params;
};

const PoolCase k_cases[] = {
    {"cube 3 no pad", {}},
    {"cube 3 pad 1", {.pad = {1, 1, 1}}},
    {"line W pad 1", {.kernel = {1, 1, 3}, .pad = {0, 0, 1}}},
    {"line H pad 1", {.kernel = {1, 3, 1}, .pad = {0, 1, 0}}},
    {"line D pad 1", {.kernel = {3, 1, 1}, .pad = {1, 0, 0}}},
    {"cube 2 stride 2", {.kernel = {2, 2, 2}, .stride = {2, 2, 2}}},
    {"cube 5 stride 5", {.kernel = {5, 5, 5}, .stride = {5, 5, 5}}},
    {"cube 7 stride 1", {.kernel = {7, 7, 7}}},
    {"mixed (3,2,5) stride (2,1,3) pad (1,0,2)", {.kernel = {3, 2, 5}, .stride = {2, 1, 3}, .pad = {1, 0, 2}}},
};

// Values k * 0.01 for k a random permutation of 0..n-1: no two equal, none within 0.01 of another,
// so a finite difference never changes which element is a window's extremum.
Tensor<double> distinct_tensor(const Shape& shape, std::uint64_t seed) {
    Tensor<double> t(shape);
    std::vector<Index> k(std::size_t(shape.numel()));
    std::iota(k.begin(), k.end(), Index(0));
    std::shuffle(k.begin(), k.end(), std::mt19937_64(seed));
    for (Index i = 0; i < t.numel(); ++i) t.data()[i] = double(k[std::size_t(i)]) * 0.01 - 1.0;
    return t;
}

// Output pre-fill values no pooling of the test data produces (uint8 data stays below 200).
template <class T>
double sentinel(int backend) {
    if constexpr (std::is_same_v<T, std::uint8_t>) return backend ? 250 : 251;
    else return backend ? 1e30 : -1e30;
}

template <class T>
Tensor<T> test_input(const Shape& shape, std::uint64_t seed, Layout layout = Layout::contiguous) {
    if constexpr (std::is_same_v<T, std::uint8_t>) return random_tensor<T>(shape, seed, layout, 0, 199);
    else return random_tensor<T>(shape, seed, layout);
}

// Whether every window of the case fits in the padded input of this shape.
bool fits(const Shape& shape, const PoolParams& p) {
    for (int a = 0; a < 3; ++a)
        if (p.kernel[a] > shape[2 + a] + 2 * p.pad[a]) return false;
    return true;
}

std::string kind_name(PoolKind kind) { return kind == PoolKind::max ? "max" : "min"; }

}  // namespace

TEST_CASE("pool backward matches float64 central differences (reference), both kinds") {
    const Shape shape{2, 2, 5, 6, 7};
    for (PoolKind kind : {PoolKind::max, PoolKind::min})
        for (const PoolCase& pc : k_cases) {
            if (!fits(shape, pc.params)) continue;
            const std::string name = kind_name(kind) + " " + pc.name;
            Tensor<double> x = distinct_tensor(shape, 1);
            const Shape y_shape = pool_output_shape(shape, pc.params);
            Tensor<double> w = random_tensor<double>(y_shape, 2), y(y_shape);
            auto loss = [&] {
                pool_forward(reference, x, y, kind, pc.params);
                return weighted_sum(y, w);
            };
            Tensor<double> numeric = numeric_gradient(x, loss);
            Tensor<double> dx = sentinel_tensor<double>(shape, 1e30);
            pool_forward(reference, x, y, kind, pc.params);
            pool_backward(reference, x, y, w, dx, kind, pc.params);
            check_close(dx.view(), numeric.view(), 1e-8, "dx vs central differences, " + name);
            // Grad::accumulate adds the same gradient onto what dx held.
            Tensor<double> acc = random_tensor<double>(shape, 3), expected(shape);
            for (Index i = 0; i < acc.numel(); ++i) expected.data()[i] = acc.data()[i] + dx.data()[i];
            pool_backward(cpu, x, y, w, acc, kind, pc.params, Grad::accumulate);
            check_close(acc.view(), expected.view(), 1e-12, "Grad::accumulate, " + name);
        }
}

TEST_CASE_TEMPLATE("pool cpu matches the reference", T, float, double, bfloat16, std::uint8_t) {
    for (Layout layout : {Layout::contiguous, Layout::channels_last})
        for (Index channels : {1, 3, 32})
            for (PoolKind kind : {PoolKind::max, PoolKind::min})
                for (const PoolCase& pc : k_cases) {
                    const Shape shape{channels == 32 ? 1 : 2, channels, 7, 9, 11};
                    const std::string name = std::string(to_string(dtype_v<T>)) + " " + to_string(layout) +
                                             " C=" + std::to_string(channels) + " " + kind_name(kind) + " " + pc.name;
                    const Shape y_shape = pool_output_shape(shape, pc.params);
                    Tensor<T> x = test_input<T>(shape, 4, layout);
                    Tensor<T> y_ref = sentinel_tensor<T>(y_shape, sentinel<T>(0), layout);
                    Tensor<T> y_cpu = sentinel_tensor<T>(y_shape, sentinel<T>(1), layout);
                    pool_forward(reference, x, y_ref, kind, pc.params);
                    pool_forward(cpu, x, y_cpu, kind, pc.params);
                    check_close(y_cpu.view(), y_ref.view(), 0.0, "forward " + name);
                    if constexpr (Floating<T>) {
                        Tensor<T> dy = random_tensor<T>(y_shape, 5, layout);
                        Tensor<T> dx_ref = sentinel_tensor<T>(shape, 1e30, layout);
                        Tensor<T> dx_cpu = sentinel_tensor<T>(shape, -1e30, layout);
                        pool_backward(reference, x, y_ref, dy, dx_ref, kind, pc.params);
                        pool_backward(cpu, x, y_cpu, dy, dx_cpu, kind, pc.params);
                        check_close(dx_cpu.view(), dx_ref.view(), 0.0, "backward " + name);
                    }
                }
}

TEST_CASE_TEMPLATE("pool cpu on a strided input (a tile of a bigger volume)", T, float, std::uint8_t) {
    Tensor<T> big = test_input<T>({1, 4, 12, 13, 14}, 6);
    auto x = big.box({0, 1, 2, 1, 3}, {1, 2, 7, 9, 11});  // (1,2,7,9,11), the parent's strides
    for (const PoolCase& pc : k_cases) {
        const Shape y_shape = pool_output_shape(x.shape(), pc.params);
        Tensor<T> y_ref = sentinel_tensor<T>(y_shape, sentinel<T>(0));
        Tensor<T> y_cpu = sentinel_tensor<T>(y_shape, sentinel<T>(1));
        pool_forward(reference, x, y_ref, PoolKind::max, pc.params);
        pool_forward(cpu, x, y_cpu, PoolKind::max, pc.params);
        check_close(y_cpu.view(), y_ref.view(), 0.0, std::string("forward ") + pc.name);
        if constexpr (Floating<T>) {
            Tensor<T> dy = random_tensor<T>(y_shape, 7);
            Tensor<T> dx_big = sentinel_tensor<T>(big.shape(), -1e30);
            auto dx = dx_big.box({0, 1, 2, 1, 3}, {1, 2, 7, 9, 11});
            Tensor<T> dx_ref = sentinel_tensor<T>(x.shape(), 1e30);
            pool_backward(reference, x, y_ref, dy, dx_ref, PoolKind::max, pc.params);
            pool_backward(cpu, x, y_cpu, dy, dx, PoolKind::max, pc.params);
            check_close(dx, dx_ref.view(), 0.0, std::string("backward into a view, ") + pc.name);
        }
    }
}

TEST_CASE_TEMPLATE("pool matches PyTorch", T, float, bfloat16) {
    Fixture fx(fixture_path("pool.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    const double rtol = default_rtol<T>();
    Tensor<T> x = fx.tensor<T>("x");
    for (const auto& c : fx.meta()["cases"]) {
        const std::string name = c["name"];
        auto index3 = [&](const char* key) { return Index3{c[key][0], c[key][1], c[key][2]}; };
        const PoolParams p{.kernel = index3("kernel"), .stride = index3("stride"), .pad = index3("pad")};
        const PoolKind kind = c["kind"] == "max" ? PoolKind::max : PoolKind::min;
        Tensor<T> dy = fx.tensor<T>(name + "_dy");
        Tensor<T> y(dy.shape()), dx(x.shape());
        pool_forward(cpu, x, y, kind, p);
        pool_backward(cpu, x, y, dy, dx, kind, p);
        check_close(y.view(), fx.tensor<float>(name + "_y_" + tag).view(), rtol, "forward " + name + " " + tag);
        check_close(dx.view(), fx.tensor<float>(name + "_dx_" + tag).view(), rtol, "backward " + name + " " + tag);
    }
}

// The metrics' dilation by the 6-cross: the max of the three line pools of length 3.
template <Backend B>
Tensor<std::uint8_t> dilate6(B backend, const Tensor<std::uint8_t>& mask) {
    Tensor<std::uint8_t> out = Tensor<std::uint8_t>::zeros(mask.shape()), line(mask.shape());
    for (PoolParams p : {PoolParams{.kernel = {1, 1, 3}, .pad = {0, 0, 1}}, PoolParams{.kernel = {1, 3, 1}, .pad = {0, 1, 0}},
                         PoolParams{.kernel = {3, 1, 1}, .pad = {1, 0, 0}}}) {
        pool_forward(backend, mask, line, PoolKind::max, p);
        for (Index i = 0; i < out.numel(); ++i) out.data()[i] = std::max(out.data()[i], line.data()[i]);
    }
    return out;
}

TEST_CASE("6-cross dilation of any single voxel is exactly its 7-voxel cross, clipped at the borders") {
    const Shape shape{1, 1, 4, 5, 6};
    Tensor<std::uint8_t> mask = Tensor<std::uint8_t>::zeros(shape);
    for (Index d = 0; d < shape[2]; ++d)
        for (Index h = 0; h < shape[3]; ++h)
            for (Index w = 0; w < shape[4]; ++w) {
                mask(0, 0, d, h, w) = 1;
                auto check_cross = [&](const Tensor<std::uint8_t>& grown, const char* backend) {
                    Index wrong = 0, on = 0;
                    for (Index i = 0; i < shape[2]; ++i)
                        for (Index j = 0; j < shape[3]; ++j)
                            for (Index k = 0; k < shape[4]; ++k) {
                                const Index dist = std::abs(i - d) + std::abs(j - h) + std::abs(k - w);
                                wrong += grown(0, 0, i, j, k) != (dist <= 1 ? 1 : 0);
                                on += grown(0, 0, i, j, k);
                            }
                    const Index inside = 1 + (d > 0) + (d + 1 < shape[2]) + (h > 0) + (h + 1 < shape[3]) +
                                         (w > 0) + (w + 1 < shape[4]);
                    INFO(backend, ", seed voxel (", d, ",", h, ",", w, ")");
                    CHECK(wrong == 0);
                    CHECK(on == inside);
                };
                check_cross(dilate6(cpu, mask), "cpu");
                check_cross(dilate6(reference, mask), "reference");
                mask(0, 0, d, h, w) = 0;
            }
}

TEST_CASE_TEMPLATE("erosion is the dual of dilation: min_pool(x) == -max_pool(-x)", T, float, double, bfloat16) {
    for (Layout layout : {Layout::contiguous, Layout::channels_last})
        for (const PoolCase& pc : k_cases) {
            const Shape shape{2, 3, 7, 9, 11};
            Tensor<T> x = random_tensor<T>(shape, 8, layout), neg(shape, layout);
            for_each_offsets(shape, [&](Index a, Index b) { neg.data()[b] = T(-compute_t<T>(x.data()[a])); },
                             x.strides(), neg.strides());
            const Shape y_shape = pool_output_shape(shape, pc.params);
            Tensor<T> eroded(y_shape, layout), dilated_neg(y_shape, layout), expected(y_shape, layout);
            pool_forward(cpu, x, eroded, PoolKind::min, pc.params);
            pool_forward(cpu, neg, dilated_neg, PoolKind::max, pc.params);
            for_each_offsets(y_shape, [&](Index a, Index b) { expected.data()[b] = T(-compute_t<T>(dilated_neg.data()[a])); },
                             dilated_neg.strides(), expected.strides());
            check_close(eroded.view(), expected.view(), 0.0, std::string(to_string(layout)) + " " + pc.name);
        }
}

TEST_CASE("pool padding never contributes: a max pool of negative values stays negative") {
    Tensor<float> x = Tensor<float>::full({1, 1, 3, 3, 3}, -5.0f), y({1, 1, 3, 3, 3});
    pool_forward(cpu, x, y, PoolKind::max, {.pad = {1, 1, 1}});
    for (Index i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == -5.0f);
    Tensor<float> z = Tensor<float>::full({1, 1, 3, 3, 3}, 5.0f);
    pool_forward(cpu, z, y, PoolKind::min, {.pad = {1, 1, 1}});
    for (Index i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == 5.0f);
}

TEST_CASE("pool sends the gradient to the first of tied elements, as PyTorch") {
    Tensor<float> x = Tensor<float>::full({1, 1, 1, 1, 4}, 1.0f), y({1, 1, 1, 1, 2});
    Tensor<float> dy = Tensor<float>::full({1, 1, 1, 1, 2}, 1.0f), dx({1, 1, 1, 1, 4});
    const PoolParams p{.kernel = {1, 1, 3}, .pad = {0, 0, 0}};
    pool_forward(cpu, x, y, PoolKind::max, p);
    pool_backward(cpu, x, y, dy, dx, PoolKind::max, p);
    CHECK(dx(0, 0, 0, 0, 0) == 1.0f);
    CHECK(dx(0, 0, 0, 0, 1) == 1.0f);
    CHECK(dx(0, 0, 0, 0, 2) == 0.0f);
    CHECK(dx(0, 0, 0, 0, 3) == 0.0f);
}

TEST_CASE("pool rejects bad arguments with clear messages") {
    Tensor<float> x({1, 2, 4, 5, 6});
    Tensor<float> y({1, 2, 4, 5, 6});
    Tensor<float> flat({2, 4, 5, 6});
    CHECK_THROWS_WITH_AS(pool_forward(cpu, flat, y, PoolKind::max, {.pad = {1, 1, 1}}),
                         doctest::Contains("pool_forward: input (2,4,5,6) and output (1,2,4,5,6) must have rank 5"), Error);
    Tensor<float> y3({1, 3, 4, 5, 6});
    CHECK_THROWS_WITH_AS(pool_forward(cpu, x, y3, PoolKind::max, {.pad = {1, 1, 1}}),
                         doctest::Contains("pool_forward: input (1,2,4,5,6) and output (1,3,4,5,6) disagree on N or C"), Error);
    Tensor<float> y1({1, 2, 1, 1, 1});
    CHECK_THROWS_WITH_AS(pool_forward(cpu, x, y1, PoolKind::max, {.kernel = {5, 5, 5}, .stride = {5, 5, 5}}),
                         doctest::Contains("pool_forward: kernel (5,5,5) is larger than the padded input (1,2,4,5,6) with pad (0,0,0)"), Error);
    CHECK_THROWS_WITH_AS(pool_forward(cpu, x, y, PoolKind::max, {.kernel = {1, 1, 3}, .pad = {0, 0, 2}}),
                         doctest::Contains("pool_forward: pad (0,0,2) must be at most half the kernel (1,1,3)"), Error);
    CHECK_THROWS_WITH_AS(pool_forward(cpu, x, y, PoolKind::min, {}),
                         doctest::Contains("pool_forward: output (1,2,4,5,6) must be (1,2,2,3,4) for input (1,2,4,5,6), kernel (3,3,3), stride (1,1,1), pad (0,0,0)"), Error);
    CHECK_THROWS_WITH_AS(pool_forward(cpu, x, y, PoolKind::max, {.stride = {0, 1, 1}, .pad = {1, 1, 1}}),
                         doctest::Contains("pool_forward: kernel (3,3,3) and stride (0,1,1) must be positive"), Error);
    Tensor<float> dy({1, 2, 4, 5, 6}), dx({1, 2, 4, 5, 5});
    CHECK_THROWS_WITH_AS(pool_backward(cpu, x, y, dy, dx, PoolKind::max, {.pad = {1, 1, 1}}),
                         doctest::Contains("pool_backward: dy (1,2,4,5,6) and dx (1,2,4,5,5) must have the shapes of output (1,2,4,5,6) and input (1,2,4,5,6)"), Error);
}

TEST_CASE("pool with NaN inputs: NaN wins its windows and takes their gradient, cpu as the reference") {
    for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
        const Shape shape{1, 3, 7, 9, 11};
        Tensor<float> x = random_tensor<float>(shape, 9, layout);
        x(0, 1, 3, 4, 5) = std::numeric_limits<float>::quiet_NaN();
        x(0, 1, 3, 4, 6) = std::numeric_limits<float>::quiet_NaN();
        x(0, 2, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();
        for (PoolKind kind : {PoolKind::max, PoolKind::min})
            for (const PoolCase& pc : k_cases) {
                const std::string name = std::string(to_string(layout)) + " " + kind_name(kind) + " " + pc.name;
                const Shape y_shape = pool_output_shape(shape, pc.params);
                Tensor<float> y_ref(y_shape, layout), y_cpu(y_shape, layout), dy = random_tensor<float>(y_shape, 10, layout);
                pool_forward(reference, x, y_ref, kind, pc.params);
                pool_forward(cpu, x, y_cpu, kind, pc.params);
                Index nan_ref = 0, nan_cpu = 0;
                for (Index i = 0; i < y_ref.numel(); ++i) {
                    nan_ref += std::isnan(y_ref.data()[i]);
                    nan_cpu += std::isnan(y_cpu.data()[i]);
                }
                INFO(name);
                CHECK(nan_ref > 0);
                CHECK(nan_cpu == nan_ref);
                Tensor<float> dx_ref(shape, layout), dx_cpu(shape, layout);
                pool_backward(reference, x, y_ref, dy, dx_ref, kind, pc.params);
                pool_backward(cpu, x, y_cpu, dy, dx_cpu, kind, pc.params);
                check_close(dx_cpu.view(), dx_ref.view(), 0.0, "backward " + name);
            }
    }
}
