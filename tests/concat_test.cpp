// Concatenation along channels and its split: cpu against the reference, PyTorch fixture, messages.
// (No gradient check by differences: the backward is a copy, compared exactly.)
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/concat.hpp"

using namespace axonseg;
using namespace axonseg::test;

TEST_CASE_TEMPLATE("concat cpu matches the reference", T, float, double, bfloat16) {
    for (auto [ca, cb] : {std::pair<Index, Index>{1, 3}, {3, 1}, {32, 32}})
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const std::string name = std::string(to_string(dtype_v<T>)) + " " + std::to_string(ca) + "+" +
                                     std::to_string(cb) + " " + to_string(layout);
            const Shape sa{2, ca, 7, 9, 11}, sb{2, cb, 7, 9, 11}, sy{2, ca + cb, 7, 9, 11};
            Tensor<T> a = random_tensor<T>(sa, 1, layout), b = random_tensor<T>(sb, 2, layout);
            Tensor<T> y_ref = sentinel_tensor<T>(sy, 1e30, layout), y_cpu = sentinel_tensor<T>(sy, -1e30, layout);
            concat_forward(reference, a, b, y_ref);
            concat_forward(cpu, a, b, y_cpu);
            check_close(y_cpu.view(), y_ref.view(), 0.0, "forward " + name);
            check_close(y_ref.narrow(1, 0, ca), a.view(), 0.0, "a part " + name);
            check_close(y_ref.narrow(1, ca, cb), b.view(), 0.0, "b part " + name);

            Tensor<T> dy = random_tensor<T>(sy, 3, layout);
            for (Grad mode : {Grad::overwrite, Grad::accumulate}) {
                const std::string case_name = name + (mode == Grad::overwrite ? " overwrite" : " accumulate");
                Tensor<T> da_ref = random_tensor<T>(sa, 4, layout), db_ref = random_tensor<T>(sb, 5, layout);
                Tensor<T> da_cpu = clone(da_ref.view(), layout), db_cpu = clone(db_ref.view(), layout);
                concat_backward(reference, dy, da_ref, db_ref, mode);
                concat_backward(cpu, dy, da_cpu, db_cpu, mode);
                check_close(da_cpu.view(), da_ref.view(), 0.0, "da " + case_name);
                check_close(db_cpu.view(), db_ref.view(), 0.0, "db " + case_name);
            }
        }
}

TEST_CASE("concat_backward splits into one part when the other is not wanted") {
    Tensor<float> dy = random_tensor<float>({1, 5, 3, 4, 5}, 6, Layout::channels_last);
    Tensor<float> db = sentinel_tensor<float>({1, 2, 3, 4, 5}, 1e30, Layout::channels_last);
    Tensor<float> da = sentinel_tensor<float>({1, 3, 3, 4, 5}, 1e30, Layout::channels_last);
    concat_backward(cpu, dy, {}, db);
    concat_backward(cpu, dy, da, {});
    check_close(db.view(), dy.narrow(1, 3, 2), 0.0, "db alone");
    check_close(da.view(), dy.narrow(1, 0, 3), 0.0, "da alone");
}

TEST_CASE("concat cpu with a non-contiguous input (a channel range)") {
    Tensor<float> big = random_tensor<float>({2, 6, 4, 5, 6}, 7, Layout::channels_last);
    auto a = big.narrow(1, 1, 2);  // (2,2,4,5,6) with the parent's strides
    Tensor<float> b = random_tensor<float>({2, 3, 4, 5, 6}, 8, Layout::channels_last);
    Tensor<float> y_ref({2, 5, 4, 5, 6}), y_cpu = sentinel_tensor<float>({2, 5, 4, 5, 6}, 9.0);
    concat_forward(reference, a, b, y_ref);
    concat_forward(cpu, a, b, y_cpu);
    check_close(y_cpu.view(), y_ref.view(), 0.0, "narrowed input");
}

TEST_CASE_TEMPLATE("concat matches PyTorch", T, float, bfloat16) {
    Fixture fx(fixture_path("concat.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
        const std::string name = tag + " " + to_string(layout);
        Tensor<T> a = to<T>(fx.tensor<float>("a").view(), layout), b = to<T>(fx.tensor<float>("b").view(), layout);
        Tensor<T> dy = to<T>(fx.tensor<float>("dy").view(), layout);
        Tensor<T> y({2, 5, 5, 6, 7}, layout), da(a.shape(), layout), db(b.shape(), layout);
        concat_forward(cpu, a, b, y);
        concat_backward(cpu, dy, da, db);
        check_close(y.view(), fx.tensor<float>("y_" + tag).view(), 0.0, "forward " + name);
        check_close(da.view(), fx.tensor<float>("da_" + tag).view(), 0.0, "da " + name);
        check_close(db.view(), fx.tensor<float>("db_" + tag).view(), 0.0, "db " + name);
    }
}

TEST_CASE("concat rejects bad arguments with a clear message") {
    Tensor<float> a({1, 2, 4, 4, 4}), b({1, 3, 4, 4, 4}), y({1, 5, 4, 4, 4});
    Tensor<float> other_batch({2, 3, 4, 4, 4}), other_voxels({1, 3, 4, 4, 5}), wrong_y({1, 4, 4, 4, 4});
    Tensor<float> flat({1, 2, 64});
    CHECK_THROWS_WITH_AS(concat_forward(cpu, a, other_batch, y),
                         doctest::Contains("concat_forward: inputs (1,2,4,4,4) and (2,3,4,4,4) disagree on N, D, H or W"),
                         Error);
    CHECK_THROWS_WITH_AS(concat_forward(cpu, a, other_voxels, y),
                         doctest::Contains("concat_forward: inputs (1,2,4,4,4) and (1,3,4,4,5) disagree on N, D, H or W"),
                         Error);
    CHECK_THROWS_WITH_AS(concat_forward(cpu, flat, b, y),
                         doctest::Contains("concat_forward: inputs (1,2,64) and (1,3,4,4,4) must have rank 5"), Error);
    CHECK_THROWS_WITH_AS(concat_forward(cpu, a, b, wrong_y),
                         doctest::Contains("concat_forward: output (1,4,4,4,4) must be (1,5,4,4,4) for inputs"), Error);
    CHECK_THROWS_WITH_AS(concat_backward(cpu, y, a, other_voxels),
                         doctest::Contains("concat_backward: db (1,3,4,4,5) and dy (1,5,4,4,4) disagree on rank, N, D, H or W"),
                         Error);
    CHECK_THROWS_WITH_AS(concat_backward(cpu, y, a, a),
                         doctest::Contains("concat_backward: da (1,2,4,4,4) and db (1,2,4,4,4) split dy (1,5,4,4,4) into 4 channels, not 5"),
                         Error);
}
