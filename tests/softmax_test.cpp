// Softmax over channels: float64 central differences, cpu against the reference, PyTorch fixtures,
// messages.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/softmax.hpp"

using namespace axonseg;
using namespace axonseg::test;

TEST_CASE("softmax backward matches float64 central differences (reference)") {
    const Shape shape{2, 3, 2, 3, 4};
    Tensor<double> x = random_tensor<double>(shape, 1, Layout::contiguous, -3.0, 3.0);
    Tensor<double> w = random_tensor<double>(shape, 2);
    Tensor<double> y(shape), dx(shape);
    auto loss = [&] {
        softmax_forward(reference, x, y);
        return weighted_sum(y, w);
    };
    Tensor<double> numeric = numeric_gradient(x, loss);
    softmax_forward(reference, x, y);
    softmax_backward(reference, y, w, dx);
    check_close(dx.view(), numeric.view(), 1e-7, "dx vs central differences");
}

TEST_CASE_TEMPLATE("softmax cpu matches the reference", T, float, double, bfloat16) {
    for (Index C : {1, 3, 32})
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const Shape shape{2, C, 7, 9, 11};
            const std::string name = std::string(to_string(dtype_v<T>)) + " C=" + std::to_string(C) + " " +
                                     to_string(layout);
            Tensor<T> x = random_tensor<T>(shape, 3, layout, -4.0, 4.0), dy = random_tensor<T>(shape, 4, layout);
            Tensor<T> y_ref = sentinel_tensor<T>(shape, 1e30, layout), y_cpu = sentinel_tensor<T>(shape, -1e30, layout);
            softmax_forward(reference, x, y_ref);
            softmax_forward(cpu, x, y_cpu);
            check_close(y_cpu.view(), y_ref.view(), default_rtol<T>(), "forward " + name);
            Tensor<T> dx_ref = sentinel_tensor<T>(shape, 1e30, layout), dx_cpu = sentinel_tensor<T>(shape, -1e30, layout);
            softmax_backward(reference, y_ref, dy, dx_ref);
            softmax_backward(cpu, y_ref, dy, dx_cpu);
            check_close(dx_cpu.view(), dx_ref.view(), default_rtol<T>(), "backward " + name);
        }
}

TEST_CASE("softmax cpu on a non-contiguous input, and in place") {
    Tensor<float> big = random_tensor<float>({1, 2, 6, 7, 8}, 5, Layout::channels_last, -4.0, 4.0);
    auto x = big.box({0, 0, 1, 1, 1}, {1, 2, 4, 5, 6});  // (1,2,4,5,6) with the parent's strides
    Tensor<float> y_ref({1, 2, 4, 5, 6}), y_cpu = sentinel_tensor<float>({1, 2, 4, 5, 6}, 7.0);
    softmax_forward(reference, x, y_ref);
    softmax_forward(cpu, x, y_cpu);
    check_close(y_cpu.view(), y_ref.view(), 1e-6, "boxed input");

    Tensor<float> logits = random_tensor<float>({2, 3, 5, 6, 7}, 6, Layout::channels_last, -4.0, 4.0);
    Tensor<float> probs(logits.shape(), Layout::channels_last);
    softmax_forward(cpu, logits, probs);
    softmax_forward(cpu, logits, logits);
    check_close(logits.view(), probs.view(), 0.0, "in place");
}

TEST_CASE("softmax is exact where exp would overflow") {
    Tensor<float> x({1, 2, 1, 1, 2});
    x(0, 0, 0, 0, 0) = 1000.0f, x(0, 1, 0, 0, 0) = 1000.0f;
    x(0, 0, 0, 0, 1) = -1000.0f, x(0, 1, 0, 0, 1) = 0.0f;
    Tensor<float> y(x.shape());
    softmax_forward(cpu, x, y);
    CHECK(y(0, 0, 0, 0, 0) == 0.5f);
    CHECK(y(0, 1, 0, 0, 0) == 0.5f);
    CHECK(y(0, 0, 0, 0, 1) == 0.0f);
    CHECK(y(0, 1, 0, 0, 1) == 1.0f);
}

TEST_CASE_TEMPLATE("softmax matches PyTorch", T, float, bfloat16) {
    Fixture fx(fixture_path("softmax.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    for (const std::string c : {"a", "b"})
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const std::string name = c + " " + tag + " " + to_string(layout);
            Tensor<T> x = to<T>(fx.tensor<float>(c + "_x").view(), layout);
            Tensor<T> dy = to<T>(fx.tensor<float>(c + "_dy").view(), layout);
            Tensor<T> y(x.shape(), layout), dx(x.shape(), layout);
            softmax_forward(cpu, x, y);
            softmax_backward(cpu, y, dy, dx);
            check_close(y.view(), fx.tensor<float>(c + "_y_" + tag).view(), default_rtol<T>(), "forward " + name);
            check_close(dx.view(), fx.tensor<float>(c + "_dx_" + tag).view(), default_rtol<T>(), "backward " + name);
        }
}

TEST_CASE("softmax rejects bad arguments with a clear message") {
    Tensor<float> x({1, 2, 3, 4, 5}), other({1, 3, 3, 4, 5}), flat({2, 60});
    CHECK_THROWS_WITH_AS(softmax_forward(cpu, flat, flat),
                         doctest::Contains("softmax_forward: input (2,60) must have rank 5 (N,C,D,H,W)"), Error);
    CHECK_THROWS_WITH_AS(softmax_forward(cpu, x, other),
                         doctest::Contains("softmax_forward: input (1,2,3,4,5) and output (1,3,3,4,5) differ in shape"),
                         Error);
    CHECK_THROWS_WITH_AS(
        softmax_backward(cpu, x, other, x),
        doctest::Contains("softmax_backward: output (1,2,3,4,5), dy (1,3,3,4,5) and dx (1,2,3,4,5) must share one shape"),
        Error);
}
