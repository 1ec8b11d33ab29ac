// Trilinear resampling: the backward against central differences and as the forward's transpose,
// the per-axis weights as a law over all sizes, cpu against the reference (both layouts, a strided
// view, accumulate), against PyTorch's interpolate, and the argument checks.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/resample_trilinear.hpp"

using namespace axonseg;
using namespace axonseg::test;

namespace {

const Shape k_sizes[] = {{13, 17, 20}, {3, 4, 5}, {7, 4, 16}, {1, 9, 2}, {7, 9, 11}};

std::string describe(const Shape& to, bool align) {
    return "to " + to_string(to) + (align ? " align_corners" : "");
}

}  // namespace

TEST_CASE("resample_trilinear backward matches float64 central differences (reference)") {
    const Shape shape{1, 2, 4, 5, 6};
    for (const Shape to : {Shape{1, 2, 7, 3, 9}, Shape{1, 2, 2, 5, 4}})
        for (bool align : {false, true}) {
            Tensor<double> x = random_tensor<double>(shape, 1), y(to), w = random_tensor<double>(to, 2);
            const ResampleParams p{.align_corners = align};
            auto loss = [&] {
                resample_trilinear_forward(reference, x, y, p);
                return weighted_sum(y, w);
            };
            Tensor<double> numeric = numeric_gradient(x, loss);
            Tensor<double> dx = sentinel_tensor<double>(shape, 1e30);
            resample_trilinear_backward(reference, w, dx, p);
            check_close(dx.view(), numeric.view(), 1e-8, "dx vs central differences " + describe(to, align));
        }
}

TEST_CASE("resample_trilinear backward is the forward's transpose: <A x, g> == <x, A^T g> (cpu)") {
    const Shape shape{2, 3, 7, 9, 11};
    for (const Shape& s : k_sizes)
        for (bool align : {false, true}) {
            const Shape to{2, 3, s[0], s[1], s[2]};
            Tensor<double> x = random_tensor<double>(shape, 3), g = random_tensor<double>(to, 4);
            Tensor<double> y(to), dx(shape);
            resample_trilinear_forward(cpu, x, y, {.align_corners = align});
            resample_trilinear_backward(cpu, g, dx, {.align_corners = align});
            const double lhs = weighted_sum(y, g), rhs = weighted_sum(x, dx);
            INFO(describe(to, align), ": ", lhs, " vs ", rhs);
            CHECK(std::abs(lhs - rhs) <= 1e-12 * (std::abs(lhs) + 1));
        }
}

TEST_CASE("linear taps: the law over every size pair up to 64") {
    for (bool align : {false, true})
        for (Index in = 1; in <= 64; ++in)
            for (Index out = 1; out <= 64; ++out)
                for (Index i = 0; i < out; ++i) {
                    const auto t = backend::linear_tap<double>(i, in, out, align);
                    INFO("in ", in, ", out ", out, ", i ", i, align ? " align_corners" : "");
                    REQUIRE((0 <= t.i0 && t.i0 <= t.i1 && t.i1 <= t.i0 + 1 && t.i1 < in));
                    REQUIRE((t.w0 >= 0 && t.w1 >= 0));
                    REQUIRE(t.w0 + t.w1 == doctest::Approx(1.0).epsilon(1e-15));
                    // The weighted position is the source position the convention defines.
                    const double source = align ? (out > 1 ? double(i) * double(in - 1) / double(out - 1) : 0.0)
                                                : std::max((double(i) + 0.5) * double(in) / double(out) - 0.5, 0.0);
                    REQUIRE(t.w0 * double(t.i0) + t.w1 * double(t.i1) ==
                            doctest::Approx(in == out ? double(i) : std::min(source, double(in - 1))).epsilon(1e-12));
                }
}

TEST_CASE_TEMPLATE("resample_trilinear cpu matches the reference", T, float, double, bfloat16) {
    const double rtol = std::is_same_v<T, double> ? 1e-12 : default_rtol<T>();
    for (Layout layout : {Layout::contiguous, Layout::channels_last})
        for (Index channels : {1, 3, 32})
            for (bool align : {false, true})
                for (const Shape& s : k_sizes) {
                    const Shape shape{2, channels, 7, 9, 11}, to{2, channels, s[0], s[1], s[2]};
                    const std::string name = std::string(to_string(dtype_v<T>)) + " " + to_string(layout) + " C=" +
                                             std::to_string(channels) + " " + describe(to, align);
                    const ResampleParams p{.align_corners = align};
                    Tensor<T> x = random_tensor<T>(shape, 5, layout), dy = random_tensor<T>(to, 6, layout);
                    Tensor<T> y_ref = sentinel_tensor<T>(to, 1e30, layout), y_cpu = sentinel_tensor<T>(to, -1e30, layout);
                    resample_trilinear_forward(reference, x, y_ref, p);
                    resample_trilinear_forward(cpu, x, y_cpu, p);
                    check_close(y_cpu.view(), y_ref.view(), rtol, "forward " + name);
                    Tensor<T> dx_ref = sentinel_tensor<T>(shape, 1e30, layout), dx_cpu = sentinel_tensor<T>(shape, -1e30, layout);
                    resample_trilinear_backward(reference, dy, dx_ref, p);
                    resample_trilinear_backward(cpu, dy, dx_cpu, p);
                    check_close(dx_cpu.view(), dx_ref.view(), rtol, "backward " + name);
                    // Grad::accumulate adds the same gradient onto what dx held.
                    Tensor<T> acc_ref = random_tensor<T>(shape, 7, layout), acc_cpu = clone(acc_ref.view(), layout);
                    resample_trilinear_backward(reference, dy, acc_ref, p, Grad::accumulate);
                    resample_trilinear_backward(cpu, dy, acc_cpu, p, Grad::accumulate);
                    check_close(acc_cpu.view(), acc_ref.view(), rtol, "backward, Grad::accumulate, " + name);
                }
}

TEST_CASE("resample_trilinear cpu on strided views (a tile in, a channel range out)") {
    Tensor<float> big = random_tensor<float>({1, 4, 12, 13, 14}, 8);
    auto x = big.box({0, 1, 2, 1, 3}, {1, 2, 7, 9, 11});  // (1,2,7,9,11), the parent's strides
    Tensor<float> y_big = sentinel_tensor<float>({1, 5, 13, 17, 20}, -1e30);
    auto y = y_big.narrow(1, 2, 2);  // (1,2,13,17,20)
    Tensor<float> y_ref = sentinel_tensor<float>({1, 2, 13, 17, 20}, 1e30);
    resample_trilinear_forward(reference, x, y_ref);
    resample_trilinear_forward(cpu, x, y);
    check_close(y, y_ref.view(), 1e-5, "forward, strided input and output");
    Tensor<float> dx_ref = sentinel_tensor<float>({1, 2, 7, 9, 11}, 1e30), dx = sentinel_tensor<float>({1, 2, 7, 9, 11}, -1e30);
    resample_trilinear_backward(reference, y, dx_ref);
    resample_trilinear_backward(cpu, y, dx);
    check_close(dx.view(), dx_ref.view(), 1e-5, "backward, strided dy");
}

TEST_CASE_TEMPLATE("resample_trilinear matches PyTorch", T, float, bfloat16) {
    Fixture fx(fixture_path("resample_trilinear.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    const double rtol = default_rtol<T>();
    for (const auto& c : fx.meta()["cases"]) {
        const std::string name = c["name"], input = c["input"];
        const ResampleParams p{.align_corners = c["align_corners"].get<bool>()};
        Tensor<T> x = fx.tensor<T>("in_" + input), dy = fx.tensor<T>(name + "_dy");
        Tensor<T> y(dy.shape()), dx(x.shape());
        resample_trilinear_forward(cpu, x, y, p);
        resample_trilinear_backward(cpu, dy, dx, p);
        check_close(y.view(), fx.tensor<float>(name + "_y_" + tag).view(), rtol, "forward " + name + " " + tag);
        check_close(dx.view(), fx.tensor<float>(name + "_dx_" + tag).view(), rtol, "backward " + name + " " + tag);
    }
}

TEST_CASE("resample_trilinear rejects bad arguments with clear messages") {
    Tensor<float> x({1, 2, 4, 5, 6});
    Tensor<float> flat({2, 4, 5, 6}), y({1, 2, 8, 10, 12}), y3({1, 3, 8, 10, 12});
    CHECK_THROWS_WITH_AS(resample_trilinear_forward(cpu, flat, y),
                         doctest::Contains("resample_trilinear_forward: input (2,4,5,6) and output (1,2,8,10,12) must have rank 5"), Error);
    CHECK_THROWS_WITH_AS(resample_trilinear_forward(cpu, x, y3),
                         doctest::Contains("resample_trilinear_forward: input (1,2,4,5,6) and output (1,3,8,10,12) disagree on N or C"), Error);
    Tensor<float> empty({1, 2, 4, 0, 6});
    CHECK_THROWS_WITH_AS(resample_trilinear_forward(cpu, empty, y),
                         doctest::Contains("resample_trilinear_forward: input (1,2,4,0,6) has no voxels to resample to output (1,2,8,10,12)"), Error);
    CHECK_THROWS_WITH_AS(resample_trilinear_backward(cpu, y3, x),
                         doctest::Contains("resample_trilinear_backward: dx (1,2,4,5,6) and dy (1,3,8,10,12) disagree on N or C"), Error);
}
