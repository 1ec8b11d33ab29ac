// Nearest-neighbour resampling: the index rule as a law over all sizes, cpu against the reference
// (every element type, both layouts, a strided view), against PyTorch's 'nearest' and
// 'nearest-exact' and nnU-Net v1's skimage targets, and the argument checks.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/ops/downsample_nearest.hpp"

#include <cstdint>

using namespace axonseg;
using namespace axonseg::test;

namespace {

const char* rule_name(NearestRule rule) { return rule == NearestRule::floor ? "floor" : "centre"; }

template <class T>
Tensor<T> test_input(const Shape& shape, std::uint64_t seed, Layout layout = Layout::contiguous) {
    if constexpr (std::is_same_v<T, std::uint8_t>) return random_tensor<T>(shape, seed, layout, 0, 199);
    else return random_tensor<T>(shape, seed, layout);
}

template <class T>
double sentinel(int backend) {
    if constexpr (std::is_same_v<T, std::uint8_t>) return backend ? 250 : 251;
    else return backend ? 1e30 : -1e30;
}

}  // namespace

TEST_CASE("nearest source index: the law over every size pair up to 96") {
    for (Index in = 1; in <= 96; ++in)
        for (Index out = 1; out <= 96; ++out)
            for (Index i = 0; i < out; ++i) {
                const Index f = nearest_source_index(i, in, out, NearestRule::floor);
                const Index c = nearest_source_index(i, in, out, NearestRule::centre);
                INFO("in ", in, ", out ", out, ", i ", i);
                // floor: the input voxel holding the output voxel's start, i * in / out
                REQUIRE((f * out <= i * in && i * in < (f + 1) * out));
                // centre: the input voxel holding the output voxel's centre, (i + 1/2) * in / out
                REQUIRE((2 * c * out <= (2 * i + 1) * in && (2 * i + 1) * in < 2 * (c + 1) * out));
                REQUIRE((0 <= f && f <= c && c < in));
                if (in % out == 0) {  // an integer factor k keeps voxel k*i (floor) or k*i + k/2
                    const Index k = in / out;
                    REQUIRE(f == k * i);
                    REQUIRE(c == k * i + k / 2);
                }
            }
}

TEST_CASE_TEMPLATE("downsample_nearest cpu matches the reference", T, float, double, bfloat16, std::uint8_t) {
    const Shape outs[] = {{3, 4, 5}, {4, 5, 6}, {1, 1, 1}, {7, 9, 11}, {13, 17, 20}, {2, 9, 22}};
    for (Layout layout : {Layout::contiguous, Layout::channels_last})
        for (Index channels : {1, 3, 32})
            for (NearestRule rule : {NearestRule::floor, NearestRule::centre})
                for (const Shape& o : outs) {
                    const Shape shape{2, channels, 7, 9, 11}, y_shape{2, channels, o[0], o[1], o[2]};
                    const std::string name = std::string(to_string(dtype_v<T>)) + " " + to_string(layout) + " C=" +
                                             std::to_string(channels) + " " + rule_name(rule) + " to " + to_string(y_shape);
                    Tensor<T> x = test_input<T>(shape, 1, layout);
                    Tensor<T> y_ref = sentinel_tensor<T>(y_shape, sentinel<T>(0), layout);
                    Tensor<T> y_cpu = sentinel_tensor<T>(y_shape, sentinel<T>(1), layout);
                    downsample_nearest(reference, x, y_ref, rule);
                    downsample_nearest(cpu, x, y_cpu, rule);
                    check_close(y_cpu.view(), y_ref.view(), 0.0, name);
                    // The output in the other layout than the input.
                    const Layout other = layout == Layout::contiguous ? Layout::channels_last : Layout::contiguous;
                    Tensor<T> y_other = sentinel_tensor<T>(y_shape, sentinel<T>(1), other);
                    downsample_nearest(cpu, x, y_other, rule);
                    check_close(y_other.view(), y_ref.view(), 0.0, name + " into the other layout");
                }
}

TEST_CASE_TEMPLATE("downsample_nearest cpu on strided views", T, float, std::uint8_t) {
    Tensor<T> big = test_input<T>({2, 5, 12, 13, 14}, 2);
    auto x = big.box({0, 1, 2, 1, 3}, {2, 3, 7, 9, 11});  // (2,3,7,9,11), the parent's strides
    Tensor<T> y_big = sentinel_tensor<T>({2, 4, 5, 6, 7}, sentinel<T>(1));
    auto y = y_big.narrow(1, 1, 3).box({0, 0, 1, 1, 1}, {2, 3, 4, 5, 6});  // (2,3,4,5,6)
    Tensor<T> y_ref = sentinel_tensor<T>({2, 3, 4, 5, 6}, sentinel<T>(0));
    for (NearestRule rule : {NearestRule::floor, NearestRule::centre}) {
        downsample_nearest(reference, x, y_ref, rule);
        downsample_nearest(cpu, x, y, rule);
        check_close(y, y_ref.view(), 0.0, std::string("strided view, ") + rule_name(rule));
    }
}

TEST_CASE_TEMPLATE("downsample_nearest matches PyTorch's nearest and nearest-exact", T, float, bfloat16) {
    Fixture fx(fixture_path("downsample_nearest.fix"));
    for (const auto& c : fx.meta()["cases"]) {
        const std::string name = c["name"], input = c["input"];
        if (input == "tie") continue;  // float64 only, below
        Tensor<T> x = fx.tensor<T>("in_" + input);
        Tensor<T> y({x.dim(0), x.dim(1), c["size"][0], c["size"][1], c["size"][2]});
        for (NearestRule rule : {NearestRule::floor, NearestRule::centre}) {
            downsample_nearest(cpu, x, y, rule);
            const std::string what = name + "_" + rule_name(rule);
            check_close(y.view(), fx.tensor<T>(what).view(), 0.0, what);
        }
    }
}

TEST_CASE("downsample_nearest of uint8 labels by 2: nnU-Net v1 keeps the odd voxels (rule centre)") {
    Fixture fx(fixture_path("downsample_nearest.fix"));
    Tensor<std::uint8_t> labels = fx.tensor<std::uint8_t>("in_labels"), y({1, 1, 8, 8, 8});
    downsample_nearest(cpu, labels, y, NearestRule::centre);
    check_close(y.view(), fx.tensor<std::uint8_t>("labels_half_centre").view(), 0.0, "PyTorch nearest-exact");
    check_close(y.view(), fx.tensor<std::uint8_t>("labels_half_nnunet").view(), 0.0, "nnU-Net v1 (skimage order 0)");
    downsample_nearest(cpu, labels, y, NearestRule::floor);
    check_close(y.view(), fx.tensor<std::uint8_t>("labels_half_floor").view(), 0.0, "PyTorch nearest");
}

TEST_CASE("downsample_nearest at sizes where PyTorch's float32 index rounding misses (computed exactly)") {
    Fixture fx(fixture_path("downsample_nearest.fix"));
    Tensor<double> index = fx.tensor<double>("in_tie");  // voxel k holds k
    struct Tie {
        const char* name;
        NearestRule rule;
        Shape size;
    };
    for (const Tie& t : {Tie{"tie_floor", NearestRule::floor, {1, 1, 22, 3, 5}},
                         Tie{"tie_centre", NearestRule::centre, {1, 1, 11, 3, 5}}}) {
        Tensor<double> y(t.size);
        downsample_nearest(cpu, index, y, t.rule);
        const std::string name = std::string(t.name) + "_" + rule_name(t.rule);
        // PyTorch on float64 tensors computes the index in float64 and agrees everywhere.
        check_close(y.view(), fx.tensor<double>(name).view(), 0.0, name + " vs PyTorch float64");
        // PyTorch on float32 (and bf16, uint8) tensors rounds the index down one voxel somewhere here.
        const Closeness c = closeness(ConstView<double>(y), ConstView<double>(fx.tensor<double>(name + "_f32")));
        CHECK_MESSAGE(c.max_abs_error > 0, name, ": PyTorch float32 was expected to differ at this size");
    }
    Tensor<double> y({1, 1, 11, 3, 5});
    downsample_nearest(cpu, index, y, NearestRule::centre);
    check_close(y.view(), fx.tensor<double>("tie_centre_nnunet").view(), 0.0, "nnU-Net v1 (skimage) at the tie size");
}

TEST_CASE("downsample_nearest rejects bad arguments with clear messages") {
    Tensor<float> x({1, 2, 4, 5, 6});
    Tensor<float> flat({2, 4, 5, 6}), y({1, 2, 2, 2, 3}), y3({1, 3, 2, 2, 3});
    CHECK_THROWS_WITH_AS(downsample_nearest(cpu, flat, y, NearestRule::centre),
                         doctest::Contains("downsample_nearest: input (2,4,5,6) and output (1,2,2,2,3) must have rank 5"), Error);
    CHECK_THROWS_WITH_AS(downsample_nearest(cpu, x, y3, NearestRule::centre),
                         doctest::Contains("downsample_nearest: input (1,2,4,5,6) and output (1,3,2,2,3) disagree on N or C"), Error);
    Tensor<float> empty({1, 2, 0, 5, 6});
    CHECK_THROWS_WITH_AS(downsample_nearest(cpu, empty, y, NearestRule::floor),
                         doctest::Contains("downsample_nearest: input (1,2,0,5,6) has no voxels to fill output (1,2,2,2,3) from"), Error);
}
