// The fine-label step: the cross dilation against a brute-force maximum, the whole step against
// the original procedure run with scikit-image (fixture) and against the original's own output
// for a real rough label (../shared/data, skipped when absent).
#include "support/checks.hpp"
#include "support/masks.hpp"

#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/fine_label.hpp"

#include <chrono>
#include <random>

using namespace axonseg;
using namespace axonseg::prep;

TEST_CASE("dilate_cross6 widens a voxel by its six face neighbours, nothing from outside") {
    Tensor<std::uint8_t> in = Tensor<std::uint8_t>::zeros({5, 6, 7});
    in(2, 3, 3) = 200;
    in(0, 0, 6) = 9;  // a corner: three neighbours inside, three outside
    Tensor<std::uint8_t> out = Tensor<std::uint8_t>::full(in.shape(), 77);
    dilate_cross6(in, out);
    Index count_200 = 0, count_9 = 0, count_0 = 0;
    for (Index i = 0; i < out.numel(); ++i) {
        count_200 += out.data()[i] == 200;
        count_9 += out.data()[i] == 9;
        count_0 += out.data()[i] == 0;
    }
    CHECK(count_200 == 7);
    CHECK(count_9 == 4);
    CHECK(count_0 == out.numel() - 11);
    CHECK(out(2, 3, 4) == 200);
    CHECK(out(2, 4, 4) == 0);  // an edge neighbour is not in the cross
    CHECK(out(1, 0, 6) == 9);
}

TEST_CASE("dilate_cross6 equals the maximum over the cross on random grey values, strided input") {
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<int> value(0, 255);
    Tensor<std::uint8_t> big({9, 12, 14});
    for (Index i = 0; i < big.numel(); ++i) big.data()[i] = std::uint8_t(value(rng));
    const ConstView<std::uint8_t> in = big.box({1, 2, 3}, {7, 9, 10});  // (7,9,10), non-contiguous
    Tensor<std::uint8_t> out = Tensor<std::uint8_t>::full(in.shape(), 1);
    dilate_cross6(in, out);
    Index wrong = 0;
    for (Index z = 0; z < 7; ++z)
        for (Index y = 0; y < 9; ++y)
            for (Index x = 0; x < 10; ++x) {
                std::uint8_t m = 0;
                for (int a = -1; a <= 1; ++a)
                    for (int b = -1; b <= 1; ++b)
                        for (int c = -1; c <= 1; ++c) {
                            const Index nz = z + a, ny = y + b, nx = x + c;
                            if (std::abs(a) + std::abs(b) + std::abs(c) > 1) continue;
                            if (nz < 0 || nz >= 7 || ny < 0 || ny >= 9 || nx < 0 || nx >= 10) continue;
                            m = std::max(m, in(nz, ny, nx));
                        }
                wrong += out(z, y, x) != m;
            }
    CHECK(wrong == 0);
}

TEST_CASE("fine_label equals the original procedure run with scikit-image (fixture)") {
    const test::Fixture fx(test::fixture_path("thinning.fix"));
    const Shape shape = Shape::from(fx.meta()["rough_shape"].get<std::vector<Index>>());
    const Tensor<std::uint8_t> rough = test::unpack_mask(fx, "rough_in", shape, 255);
    const Tensor<std::uint8_t> expected = test::unpack_mask(fx, "rough_fine", shape, 255);
    const Tensor<std::uint8_t> fine = fine_label(rough, {.min_size = fx.meta()["min_size"].get<Index>()});
    CHECK(fine.shape() == shape);
    CHECK(test::count_differences(fine, expected) == 0);
    // The size threshold matters: keeping every component changes the result.
    const Tensor<std::uint8_t> all = fine_label(rough, {.min_size = 0});
    CHECK(test::count_differences(all, expected) > 0);
    // The rough label is read, not changed.
    CHECK(test::count_differences(rough, test::unpack_mask(fx, "rough_in", shape, 255)) == 0);
}

TEST_CASE("fine_label reproduces the original's Fine-label of a real rough label") {
    const std::filesystem::path data = test::shared_data_dir();
    if (data.empty()) {
        MESSAGE("skipped: ../shared/data absent");
        return;
    }
    const auto rough = io::read_tiff_stack<std::uint8_t>(data / "dlmbmap/Rough-label/label-1001.tiff");
    const auto expected = io::read_tiff_stack<std::uint8_t>(data / "dlmbmap/Fine-label/label-1001.tiff");
    REQUIRE(rough.shape() == Shape{150, 150, 150});
    const auto start = std::chrono::steady_clock::now();
    const Tensor<std::uint8_t> fine = fine_label(rough);  // (150,150,150)
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("fine_label of a 150^3 cube: ", seconds, " s on ", thread_count(), " threads");
    CHECK(test::count_differences(fine, expected) == 0);
}

TEST_CASE("bad arguments name the operation and the shapes") {
    Tensor<std::uint8_t> a = Tensor<std::uint8_t>::zeros({2, 3, 4});
    Tensor<std::uint8_t> b = Tensor<std::uint8_t>::zeros({2, 3, 5});
    CHECK_THROWS_WITH_AS(dilate_cross6(a, b),
                         doctest::Contains("dilate_cross6: input (2,3,4) and output (2,3,5) differ in shape"),
                         Error);
    CHECK_THROWS_WITH_AS(dilate_cross6(a, a), doctest::Contains("dilate_cross6: output must not share memory"),
                         Error);
    Tensor<std::uint8_t> flat = Tensor<std::uint8_t>::zeros({3, 4});
    CHECK_THROWS_WITH_AS(fine_label(flat),
                         doctest::Contains("fine_label: the rough label must be a (D,H,W) volume, got shape (3,4)"),
                         Error);
}
