// Tensors and views: layouts as strides, views without copies, conversions, and bad arguments.
#include "support/checks.hpp"

#include "axonseg/core/tensor.hpp"

using namespace axonseg;
using namespace axonseg::test;

TEST_CASE("dense strides: contiguous is row-major, channels_last puts C innermost") {
    const Shape s{2, 3, 4, 5, 6};
    const Strides c = dense_strides(s, Layout::contiguous);
    const Strides cl = dense_strides(s, Layout::channels_last);
    CHECK(c == Strides{360, 120, 30, 6, 1});
    CHECK(cl == Strides{360, 1, 90, 18, 3});
}

TEST_CASE("every element of a channels_last tensor has its own offset, covering the block once") {
    const Shape s{2, 3, 4, 5, 6};
    TensorView<float> v(nullptr, s, Layout::channels_last);
    std::vector<int> hits(std::size_t(s.numel()), 0);
    for_each_offsets(s, [&](Index o) { ++hits[std::size_t(o)]; }, v.strides());
    for (int h : hits) REQUIRE(h == 1);
}

TEST_CASE("tensors are 64-byte aligned and views share memory") {
    Tensor<float> t({1, 4, 3, 5, 7}, Layout::channels_last);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    CHECK(t.is_channels_last());
    CHECK_FALSE(t.is_contiguous());
    fill(t.view(), 0.0f);
    auto box = t.box({0, 1, 1, 2, 3}, {1, 2, 2, 3, 4});
    CHECK(box.shape() == Shape{1, 2, 2, 3, 4});
    CHECK_FALSE(box.is_dense());
    fill(box, 2.0f);
    double sum = 0;
    for (Index i = 0; i < t.numel(); ++i) sum += t.data()[i];
    CHECK(sum == 2.0 * 2 * 2 * 3 * 4);
    CHECK(t(0, 1, 1, 2, 3) == 2.0f);
    CHECK(t(0, 0, 1, 2, 3) == 0.0f);
}

TEST_CASE("conversions keep logical order across layouts and round bfloat16 to nearest even") {
    Tensor<float> a = random_tensor<float>({2, 3, 4, 5, 6}, 9);
    Tensor<float> b = to<float>(a.view(), Layout::channels_last);
    for (Index n = 0; n < 2; ++n)
        for (Index c = 0; c < 3; ++c) CHECK(a(n, c, 3, 4, 5) == b(n, c, 3, 4, 5));
    CHECK(float(bfloat16(1.0f + 1.0f / 256)) == 1.0f);          // tie -> even
    CHECK(float(bfloat16(1.0f + 3.0f / 256)) == 1.0f + 4.0f / 256);  // tie -> even (up)
    CHECK(float(bfloat16(1.0f + 1.5f / 256)) == 1.0f + 2.0f / 256);
    CHECK(std::isnan(float(bfloat16(std::nanf("")))));
    Tensor<std::uint8_t> u = to<std::uint8_t>(Tensor<float>::full({4}, 254.6f).view());
    CHECK(u.data()[0] == 255);
    Tensor<std::uint16_t> s = to<std::uint16_t>(Tensor<float>::full({2}, -3.0f).view());
    CHECK(s.data()[1] == 0);
}

TEST_CASE("bad views and shapes give messages naming the operation and the shapes") {
    Tensor<float> t({1, 2, 3, 4, 5});
    CHECK_THROWS_WITH_AS(t.box({0, 0, 0, 0, 0}, {1, 2, 4, 4, 5}),
                         doctest::Contains("box: [0, 4) leaves dimension 2 of (1,2,3,4,5)"), Error);
    CHECK_THROWS_WITH_AS(t.narrow(1, 1, 2), doctest::Contains("narrow: range [1, 3) outside dimension 1"),
                         Error);
    CHECK_THROWS_WITH_AS((Shape{1, 2, 3, 4, 5, 6}), doctest::Contains("Shape: rank 6 exceeds 5"), Error);
    CHECK_THROWS_WITH_AS((Shape{2, -1}), doctest::Contains("Shape: negative dimension -1"), Error);
    Tensor<float> other({1, 2, 3, 4, 6});
    CHECK_THROWS_WITH_AS(copy(t.view(), other.view()),
                         doctest::Contains("copy: source (1,2,3,4,5) and destination (1,2,3,4,6) differ in shape"),
                         Error);
    CHECK_THROWS_WITH_AS(Tensor<float>({4, 4}, Layout::channels_last),
                         doctest::Contains("channels_last needs rank >= 3"), Error);
}

TEST_CASE("a moved tensor leaves an empty one behind") {
    Tensor<float> a({3, 3});
    float* p = a.data();
    Tensor<float> b = std::move(a);
    CHECK(b.data() == p);
    CHECK(a.data() == nullptr);  // NOLINT: checking the moved-from state on purpose
    CHECK(a.rank() == 0);
}

TEST_CASE("without a GPU, device memory reports the reason instead of crashing") {
    if (cuda_present()) {
        MESSAGE("skipped: a CUDA device is present");
        return;
    }
    // Built with CUDA: the driver's reason for the failed cudaMalloc; built without: that it was not.
    CHECK_THROWS_WITH_AS((Tensor<float, Cuda>({4})), doctest::Contains("cuda"), Error);
}
