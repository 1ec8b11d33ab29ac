// Element-wise addition: cpu against the reference (exact: one rounding of the same float sum),
// in place, a non-contiguous input, messages. No PyTorch fixture or gradient check: a + b has
// nothing PyTorch could round differently, and its gradient is dy itself (ops/add.hpp).
#include "support/checks.hpp"

#include "axonseg/ops/add.hpp"

using namespace axonseg;
using namespace axonseg::test;

TEST_CASE_TEMPLATE("add cpu matches the reference", T, float, double, bfloat16) {
    for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
        const Shape shape{2, 3, 7, 9, 11};
        const std::string name = std::string(to_string(dtype_v<T>)) + " " + to_string(layout);
        Tensor<T> a = random_tensor<T>(shape, 1, layout), b = random_tensor<T>(shape, 2, layout);
        Tensor<T> y_ref = sentinel_tensor<T>(shape, 1e30, layout), y_cpu = sentinel_tensor<T>(shape, -1e30, layout);
        add_forward(reference, a, b, y_ref);
        add_forward(cpu, a, b, y_cpu);
        check_close(y_cpu.view(), y_ref.view(), 0.0, "forward " + name);
        CHECK(float_of(y_ref(1, 2, 3, 4, 5)) == float_of(T(compute_t<T>(a(1, 2, 3, 4, 5)) + compute_t<T>(b(1, 2, 3, 4, 5)))));
        add_forward(cpu, a, b, a);  // in place
        check_close(a.view(), y_ref.view(), 0.0, "in place " + name);
    }
}

TEST_CASE("add cpu with a non-contiguous input and rank 1") {
    Tensor<float> big = random_tensor<float>({1, 4, 5, 6, 7}, 3);
    auto a = big.box({0, 1, 0, 1, 0}, {1, 2, 5, 4, 7});  // (1,2,5,4,7) with the parent's strides
    Tensor<float> b = random_tensor<float>({1, 2, 5, 4, 7}, 4, Layout::channels_last);
    Tensor<float> y_ref({1, 2, 5, 4, 7}), y_cpu = sentinel_tensor<float>({1, 2, 5, 4, 7}, 9.0);
    add_forward(reference, a, b, y_ref);
    add_forward(cpu, a, b, y_cpu);
    check_close(y_cpu.view(), y_ref.view(), 0.0, "boxed input");

    Tensor<float> u = random_tensor<float>({37}, 5), v = random_tensor<float>({37}, 6), w({37});
    add_forward(cpu, u, v, w);
    CHECK(w(36) == u(36) + v(36));
}

TEST_CASE("add rejects a shape mismatch with a clear message") {
    Tensor<float> a({1, 2, 3, 4, 5}), b({1, 2, 3, 4, 6});
    CHECK_THROWS_WITH_AS(
        add_forward(cpu, a, b, a),
        doctest::Contains("add_forward: a (1,2,3,4,5), b (1,2,3,4,6) and output (1,2,3,4,5) must share one shape"),
        Error);
}
