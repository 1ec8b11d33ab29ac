// The augmentations of augment/: the random draws, quarter turns and flips against index
// arithmetic, crops, the affine warp and histogram matching against scipy and scikit-image
// (tests/fixtures/augment.fix from tools/fixtures/prep_augment.py), CutMix, local contrast
// weakening against its formula, and min-max normalisation, with their error messages.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/augment/affine.hpp"
#include "axonseg/augment/contrast.hpp"
#include "axonseg/augment/cutmix.hpp"
#include "axonseg/augment/geometry.hpp"
#include "axonseg/augment/histogram_match.hpp"
#include "axonseg/augment/normalise.hpp"

#include <map>
#include <set>

using namespace axonseg;
using namespace axonseg::augment;
using namespace axonseg::test;

namespace {

// A volume whose every voxel holds its own position code.
Tensor<float> position_volume(Index D, Index H, Index W) {
    Tensor<float> v({D, H, W});
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) v(z, y, x) = float(z * 10000 + y * 100 + x);
    return v;
}

Sample sample_of(Tensor<float> image) {
    Tensor<std::uint8_t> label(image.shape());
    for (Index i = 0; i < image.numel(); ++i) label.data()[i] = std::uint8_t(Index(image.data()[i]) % 7 == 0);
    return {std::move(image), std::move(label)};
}

}  // namespace

TEST_CASE("The random draws stay in range, are uniform enough and repeat with the seed") {
    Rng a(11), b(11);
    std::map<Index, int> counts;
    for (int i = 0; i < 60000; ++i) {
        const Index v = uniform_int(a, -2, 3);
        CHECK(v == uniform_int(b, -2, 3));
        ++counts[v];
        const double u = uniform(a, 1.0, 1.2);
        CHECK((u >= 1.0 && u < 1.2));
        (void)uniform(b, 1.0, 1.2);
    }
    REQUIRE(counts.size() == 6);
    for (const auto& [v, n] : counts) CHECK(std::abs(n - 10000) < 500);  // 5 sigma is about 450
    CHECK_THROWS_WITH_AS(uniform_int(a, 3, 2), doctest::Contains("empty range [3, 2]"), Error);
}

TEST_CASE("Quarter turns in (y, x) and flips move voxels as numpy.rot90 and numpy.flip do") {
    const Tensor<float> v = position_volume(2, 3, 4);
    const Tensor<float> r1 = rot90_yx(v.view(), 1);
    REQUIRE(r1.shape() == Shape{2, 4, 3});
    for (Index z = 0; z < 2; ++z)
        for (Index i = 0; i < 4; ++i)
            for (Index j = 0; j < 3; ++j) CHECK(r1(z, i, j) == v(z, j, 4 - 1 - i));
    // Four turns, and a turn by -1 after a turn by 1, are the identity; two turns flip y and x.
    Tensor<float> r = clone(v.view());
    for (int k = 0; k < 4; ++k) r = rot90_yx(r.view(), 1);
    CHECK(closeness<float, float>(r, v).max_abs_error == 0);
    CHECK(closeness<float, float>(rot90_yx(r1.view(), -1), v).max_abs_error == 0);
    const Tensor<float> r2 = rot90_yx(v.view(), 2), fy = flip(v.view(), 1), fyx = flip(fy.view(), 2);
    CHECK(closeness<float, float>(r2, fyx).max_abs_error == 0);
    const Tensor<float> fz = flip(v.view(), 0);
    CHECK(fz(0, 1, 2) == v(1, 1, 2));
    CHECK_THROWS_WITH_AS(flip(v.view(), 3), doctest::Contains("axis 3 of volume (2,3,4)"), Error);
}

TEST_CASE("A random crop is a box of the volume, label and image alike, and must fit") {
    Sample s = sample_of(position_volume(9, 8, 7));
    Rng rng(3);
    RandomCrop{5}(s, rng);
    REQUIRE(s.image.shape() == Shape{5, 5, 5});
    const Index code = Index(s.image(0, 0, 0));
    const Index z0 = code / 10000, y0 = code / 100 % 100, x0 = code % 100;
    CHECK((z0 <= 4 && y0 <= 3 && x0 <= 2));
    for (Index z = 0; z < 5; ++z)
        for (Index x = 0; x < 5; ++x) {
            const Index c = (z0 + z) * 10000 + (y0 + 4) * 100 + x0 + x;
            CHECK(s.image(z, 4, x) == float(c));
            CHECK(s.label(z, 4, x) == std::uint8_t(c % 7 == 0));
        }
    Sample small = sample_of(position_volume(4, 8, 8));
    CHECK_THROWS_WITH_AS(RandomCrop{5}(small, rng), doctest::Contains("edge 5 does not fit the volume (4,8,8)"), Error);
}

TEST_CASE("The affine warp matches scipy's affine_transform (order 1 and 0, zero outside)") {
    const Fixture f(fixture_path("augment.fix"));
    WarpMap map;
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) map.m[a][b] = f.meta()["warp_matrix"][a][b].get<double>();
    const Tensor<float> in = f.tensor<float>("warp_in");
    check_close(warp_linear(in, map).view(), f.tensor<double>("warp_linear").view(), 1e-5, "trilinear vs scipy");
    const Tensor<std::uint8_t> label = warp_nearest(f.tensor<std::uint8_t>("warp_label"), map);
    const Tensor<std::uint8_t> expected = f.tensor<std::uint8_t>("warp_nearest");
    Index differ = 0;
    for (Index i = 0; i < label.numel(); ++i) differ += label.data()[i] != expected.data()[i];
    CHECK(differ == 0);
    // The identity map gives the volume back.
    CHECK(closeness<float, float>(warp_linear(in, WarpMap{}), in).max_abs_error == 0);
}

TEST_CASE("RandomAffine draws rotations within the limit and scales in range, keeping labels 0/1") {
    Rng rng(5);
    const RandomAffine affine;
    for (int i = 0; i < 50; ++i) {
        const WarpMap m = affine.draw(rng);
        // m = S^-1 R^T: its rows have norms 1/scale in [1/1.2, 1], and m^T m... checking the rows suffices.
        for (int a = 0; a < 3; ++a) {
            const double norm = std::sqrt(m.m[a][0] * m.m[a][0] + m.m[a][1] * m.m[a][1] + m.m[a][2] * m.m[a][2]);
            CHECK((norm > 1 / 1.2 - 1e-12 && norm <= 1 + 1e-12));
            // Each rotation is at most 10 degrees per plane, so the diagonal of R stays near 1.
            CHECK(m.m[a][a] / norm > std::cos(3 * 10 * std::numbers::pi / 180));
        }
    }
    Sample s = sample_of(position_volume(12, 12, 12));
    affine(s, rng);
    std::set<int> values;
    for (Index i = 0; i < s.label.numel(); ++i) values.insert(s.label.data()[i]);
    CHECK(values == std::set<int>{0, 1});
}

TEST_CASE("Histogram matching matches scikit-image's match_histograms") {
    const Fixture f(fixture_path("augment.fix"));
    for (const std::string prefix : {"match_", "match_float_"}) {
        const Tensor<float> out =
            match_histograms(f.tensor<float>(prefix + "source"), f.tensor<float>(prefix + "reference"));
        check_close(out.view(), f.tensor<double>(prefix + "out").view(), 1e-6, prefix + "vs skimage");
    }
    const Tensor<float> nan = Tensor<float>::full({2, 2, 2}, NAN);
    CHECK_THROWS_WITH_AS(match_histograms(nan, f.tensor<float>("match_reference")),
                         doctest::Contains("the source (2,2,2) holds NaN"), Error);
}

TEST_CASE("CutMix puts the artefact's corner block in and clears the label there") {
    Sample s = sample_of(position_volume(6, 7, 8));
    fill(s.label.view(), std::uint8_t(1));
    const Tensor<float> artefact = Tensor<float>::full({5, 9, 9}, -1.0f);
    cutmix(s, artefact, {2, 3, 4});
    for (Index z = 0; z < 6; ++z)
        for (Index y = 0; y < 7; ++y)
            for (Index x = 0; x < 8; ++x) {
                const bool inside = z < 2 && y < 3 && x < 4;
                CHECK(s.image(z, y, x) == (inside ? -1.0f : float(z * 10000 + y * 100 + x)));
                CHECK(s.label(z, y, x) == (inside ? 0 : 1));
            }
    Rng rng(1);
    for (int i = 0; i < 100; ++i) {
        const Index3 c = random_cutmix_corner(Shape{6, 7, 8}, artefact.shape(), rng);
        CHECK((c.d <= 5 && c.h <= 7 && c.w <= 8));
    }
    CHECK_THROWS_WITH_AS(cutmix(s, artefact, {6, 1, 1}), doctest::Contains("corner (6,1,1) leaves the cube"), Error);
}

TEST_CASE("Local contrast weakening follows its formula and needs a foreground voxel away from the border") {
    Tensor<float> image({12, 12, 12});
    Rng noise(2);
    for (Index i = 0; i < image.numel(); ++i) image.data()[i] = float(uniform(noise, 0, 100));
    const Tensor<float> before = clone(image.view());
    const Index R = 4;
    weaken_contrast(image, {6, 5, 7}, R, 0.65);
    double mean = 0;
    for (Index z = 2; z < 10; ++z)
        for (Index y = 1; y < 9; ++y)
            for (Index x = 3; x < 11; ++x) mean += before(z, y, x);
    mean /= 512;
    for (Index z = 0; z < 12; ++z)
        for (Index y = 0; y < 12; ++y)
            for (Index x = 0; x < 12; ++x) {
                const bool inside = z >= 2 && z < 10 && y >= 1 && y < 9 && x >= 3 && x < 11;
                const double r = std::sqrt(double((z - 6) * (z - 6) + (y - 5) * (y - 5) + (x - 7) * (x - 7)));
                const double w = inside ? (1 - std::min(r, double(R)) / R) * 0.65 : 0.0;
                CHECK(image(z, y, x) == doctest::Approx(before(z, y, x) + w * (mean - before(z, y, x))).epsilon(1e-6));
            }
    CHECK_THROWS_WITH_AS(weaken_contrast(image, {3, 6, 6}, R, 0.65), doctest::Contains("closer than 4 to a border"),
                         Error);

    // The policy only picks centres on the label, far enough from the border; none: no change.
    Sample s{clone(before.view()), Tensor<std::uint8_t>::zeros({12, 12, 12})};
    s.label(1, 1, 1) = 1;  // too close to the border for radius 4
    Rng rng(9);
    LocalContrastWeakening{.spots = 4, .radius = R}(s, rng);
    CHECK(closeness<float, float>(s.image, before).max_abs_error == 0);
    s.label(6, 6, 6) = 1;
    LocalContrastWeakening{.spots = 1, .radius = R}(s, rng);
    CHECK(s.image(6, 6, 6) != before(6, 6, 6));
    CHECK(s.image(0, 0, 0) == before(0, 0, 0));
}

TEST_CASE("Min-max normalisation maps to [0, 1], a constant image to zeros, and refuses NaN") {
    Sample s = sample_of(position_volume(3, 4, 5));
    Rng rng(0);
    MinMaxNormalise{}(s, rng);
    float lo = 1, hi = 0;
    for (Index i = 0; i < s.image.numel(); ++i) lo = std::min(lo, s.image.data()[i]), hi = std::max(hi, s.image.data()[i]);
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
    for (Index i = 0; i < s.label.numel(); ++i) CHECK(s.label.data()[i] <= 1);
    Tensor<float> flat = Tensor<float>::full({2, 2, 2}, 7.0f);
    min_max_normalise(flat);
    CHECK(closeness<float, float>(flat, Tensor<float>::zeros({2, 2, 2})).max_abs_error == 0);
    flat(1, 1, 1) = NAN;
    CHECK_THROWS_WITH_AS(min_max_normalise(flat), doctest::Contains("holds nan at element 7"), Error);
}
