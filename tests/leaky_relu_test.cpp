// LeakyReLU: the three kinds of operator test (see docs/architecture.md, "Testing an operator").
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/leaky_relu.hpp"

using namespace axonseg;
using namespace axonseg::test;

TEST_CASE("leaky_relu backward matches float64 central differences (reference)") {
    const Shape shape{1, 2, 3, 4, 5};
    Tensor<double> x = random_tensor<double>(shape, 1);
    Tensor<double> w = random_tensor<double>(shape, 2);
    Tensor<double> y(shape), dx(shape);
    auto loss = [&] {
        leaky_relu_forward(reference, x, y);
        return weighted_sum(y, w);
    };
    Tensor<double> numeric = numeric_gradient(x, loss);
    leaky_relu_backward(reference, x, w, dx);
    check_close(dx.view(), numeric.view(), 1e-7, "dx vs central differences");
}

TEST_CASE_TEMPLATE("leaky_relu cpu matches the reference", T, float, bfloat16) {
    for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
        const Shape shape{2, 3, 7, 9, 11};
        const std::string name = std::string(to_string(dtype_v<T>)) + " " + to_string(layout);
        Tensor<T> x = random_tensor<T>(shape, 3, layout), dy = random_tensor<T>(shape, 4, layout);
        Tensor<T> y_ref = sentinel_tensor<T>(shape, 1e30, layout), y_cpu = sentinel_tensor<T>(shape, -1e30, layout);
        leaky_relu_forward(reference, x, y_ref);
        leaky_relu_forward(cpu, x, y_cpu);
        check_close(y_cpu.view(), y_ref.view(), 0.0, "forward " + name);
        Tensor<T> dx_ref = sentinel_tensor<T>(shape, 1e30, layout), dx_cpu = sentinel_tensor<T>(shape, -1e30, layout);
        leaky_relu_backward(reference, x, dy, dx_ref);
        leaky_relu_backward(cpu, x, dy, dx_cpu);
        check_close(dx_cpu.view(), dx_ref.view(), 0.0, "backward " + name);
    }
}

TEST_CASE("leaky_relu cpu on a non-contiguous input (a channel range)") {
    Tensor<float> big = random_tensor<float>({1, 5, 4, 5, 6}, 5);
    auto x = big.narrow(1, 1, 3);  // (1,3,4,5,6) with the parent's strides
    Tensor<float> y_ref({1, 3, 4, 5, 6}), y_cpu = sentinel_tensor<float>({1, 3, 4, 5, 6}, 7.0);
    leaky_relu_forward(reference, x, y_ref);
    leaky_relu_forward(cpu, x, y_cpu);
    check_close(y_cpu.view(), y_ref.view(), 0.0, "narrowed input");
}

TEST_CASE_TEMPLATE("leaky_relu matches PyTorch", T, float, bfloat16) {
    Fixture fx(fixture_path("leaky_relu.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    const double rtol = default_rtol<T>();
    Tensor<T> x = fx.tensor<T>("x"), dy = fx.tensor<T>("dy");
    Tensor<T> y(x.shape()), dx(x.shape());
    leaky_relu_forward(cpu, x, y);
    leaky_relu_backward(cpu, x, dy, dx);
    check_close(y.view(), fx.tensor<float>("y_" + tag).view(), rtol, "forward " + tag);
    check_close(dx.view(), fx.tensor<float>("dx_" + tag).view(), rtol, "backward " + tag);
}

TEST_CASE("leaky_relu rejects a shape mismatch with a clear message") {
    Tensor<float> x({1, 1, 2, 2, 2}), y({1, 1, 2, 2, 3});
    CHECK_THROWS_WITH_AS(leaky_relu_forward(cpu, x, y),
                         doctest::Contains("leaky_relu_forward: input (1,1,2,2,2) and output (1,1,2,2,3) differ in shape"),
                         Error);
}
