// The synthetic-data generator: determinism per seed, the ground truth's laws (0/255 values, the
// centreline inside the label, label growing with density), image statistics (axons brighter than
// background, saturation present but rare), odd shapes, bad parameters, and the `axonseg synth`
// command's files read back equal to the library's output.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/synth.hpp"

#include <cstdlib>
#include <cstring>

using namespace axonseg;
using namespace axonseg::prep;

namespace {

template <class T>
bool same_bytes(const Tensor<T>& a, const Tensor<T>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.numel()) * sizeof(T)) == 0;
}

double label_fraction(const SynthVolume& v) {
    Index n = 0;
    for (Index i = 0; i < v.label.numel(); ++i) n += v.label.data()[i] != 0;
    return double(n) / double(v.label.numel());
}

}  // namespace

TEST_CASE("synthesize: the same seed gives identical bytes, another seed different ones") {
    const SynthParams p{.shape = {24, 40, 36}, .seed = 7};
    const SynthVolume a = synthesize(p), b = synthesize(p);
    CHECK(same_bytes(a.volume, b.volume));
    CHECK(same_bytes(a.label, b.label));
    CHECK(same_bytes(a.centerline, b.centerline));
    // ... and on another thread count: noise is seeded per slice, not per thread.
    const int threads = thread_count();
    set_thread_count(1);
    const SynthVolume c = synthesize(p);
    set_thread_count(threads);
    CHECK(same_bytes(a.volume, c.volume));
    CHECK(same_bytes(a.label, c.label));

    const SynthVolume other = synthesize(SynthParams{.shape = {24, 40, 36}, .seed = 8});
    CHECK_FALSE(same_bytes(a.volume, other.volume));
    CHECK_FALSE(same_bytes(a.label, other.label));
}

TEST_CASE("synthesize: shapes as requested, odd ones included, and the ground truth's laws") {
    for (const Index3 shape : {Index3{17, 33, 40}, Index3{1, 1, 1}, Index3{5, 64, 3}, Index3{48, 48, 48}})
        for (const double artifacts : {0.0, 1.0}) {
            CAPTURE(shape);
            CAPTURE(artifacts);
            const SynthVolume v =
                synthesize({.shape = shape, .seed = 3, .artifacts = artifacts, .alignment = artifacts});
            const Shape expected{shape.d, shape.h, shape.w};
            REQUIRE(v.volume.shape() == expected);
            REQUIRE(v.label.shape() == expected);
            REQUIRE(v.centerline.shape() == expected);
            Index centre = 0, outside = 0, odd_values = 0;
            for (Index i = 0; i < v.label.numel(); ++i) {
                const std::uint8_t l = v.label.data()[i], c = v.centerline.data()[i];
                odd_values += (l != 0 && l != 255) + (c != 0 && c != 255);
                centre += c != 0;
                outside += c != 0 && l == 0;  // every centreline voxel lies inside the label
            }
            CHECK(odd_values == 0);
            CHECK(outside == 0);
            CHECK(centre > 0);  // at least the first axon's start sample
        }
}

TEST_CASE("synthesize: the label grows with density") {
    double previous = -1;
    for (const double density : {0.0, 0.5, 1.5, 4.0}) {
        CAPTURE(density);
        const double f = label_fraction(synthesize({.shape = {48, 64, 64}, .seed = 11, .density = density}));
        CHECK(f > previous);
        previous = f;
    }
    CHECK(previous > 0.02);
}

TEST_CASE("synthesize: axons stand out from the background; saturation is present but rare") {
    const SynthVolume v = synthesize({.shape = {64, 96, 96}, .seed = 5});
    double inside = 0, outside = 0;
    Index n_inside = 0, saturated = 0;
    for (Index i = 0; i < v.volume.numel(); ++i) {
        const double x = v.volume.data()[i];
        if (v.label.data()[i]) {
            inside += x;
            ++n_inside;
        } else {
            outside += x;
        }
        saturated += v.volume.data()[i] == 65535;
    }
    inside /= double(n_inside);
    outside /= double(v.volume.numel() - n_inside);
    CAPTURE(inside);
    CAPTURE(outside);
    CHECK(outside > 700);   // like the brain example's background: ~1000-2500
    CHECK(outside < 4000);
    CHECK(inside > 2.0 * outside);
    CHECK(saturated > 0);
    CHECK(double(saturated) < 1e-3 * double(v.volume.numel()));
    // Without artefacts only the brightest axons can saturate.
    const SynthVolume clean = synthesize({.shape = {64, 96, 96}, .seed = 5, .artifacts = 0});
    const auto clean_saturated =
        std::count(clean.volume.data(), clean.volume.data() + clean.volume.numel(), std::uint16_t(65535));
    CHECK(double(clean_saturated) < 1e-3 * double(clean.volume.numel()));
}

TEST_CASE("synthesize: bad parameters are refused with a message naming them") {
    CHECK_THROWS_WITH_AS(synthesize({.shape = {0, 8, 8}}),
                         doctest::Contains("synthesize: shape (0,8,8) must be at least 1 voxel along every axis"),
                         Error);
    CHECK_THROWS_WITH_AS(synthesize({.shape = {8, -3, 8}}),
                         doctest::Contains("synthesize: shape (8,-3,8) must be at least 1 voxel"), Error);
    CHECK_THROWS_WITH_AS(synthesize({.shape = {8, 8, 8}, .density = -0.5}),
                         doctest::Contains("synthesize: density -0.5 must be a finite number >= 0"), Error);
    CHECK_THROWS_WITH_AS(synthesize({.shape = {8, 8, 8}, .artifacts = -1}),
                         doctest::Contains("synthesize: artifacts -1 must be a finite number >= 0"), Error);
    CHECK_THROWS_WITH_AS(synthesize({.shape = {8, 8, 8}, .alignment = 1.5}),
                         doctest::Contains("synthesize: alignment 1.5 must lie in [0, 1]"), Error);
    CHECK_THROWS_WITH_AS(synthesize({.shape = {8, 8, 8}, .radius_min = 0.5}),
                         doctest::Contains("synthesize: radii [0.5, 3] must satisfy 1 <= radius_min <= radius_max"),
                         Error);
}

#ifdef AXONSEG_CLI
// examples/CMakeLists.txt defines AXONSEG_CLI (the axonseg executable) when it builds the command.
TEST_CASE("axonseg synth writes the three files, equal to synthesize(), and refuses to replace them") {
    const test::ScratchDir dir("synth_cli");
    const std::string out = (dir / "out").string();
    const std::string command = std::string(AXONSEG_CLI) + " synth --out " + out + " --shape 17,33,40 --seed 9";
    REQUIRE(std::system((command + " > /dev/null").c_str()) == 0);
    const SynthVolume expected = synthesize({.shape = {17, 33, 40}, .seed = 9});
    CHECK(same_bytes(io::read_tiff_stack<std::uint16_t>(dir / "out/volume.tiff"), expected.volume));
    CHECK(same_bytes(io::read_tiff_stack<std::uint8_t>(dir / "out/label.tiff"), expected.label));
    CHECK(same_bytes(io::read_tiff_stack<std::uint8_t>(dir / "out/centerline.tiff"), expected.centerline));
    // An existing output stops the run (exit code 1); --overwrite replaces it.
    CHECK(std::system((command + " > /dev/null 2>&1").c_str()) != 0);
    CHECK(std::system((command + " --overwrite > /dev/null").c_str()) == 0);

    const std::string slices = std::string(AXONSEG_CLI) + " synth --out " + out + " --shape 4,8,9 --layout slices";
    REQUIRE(std::system((slices + " > /dev/null").c_str()) == 0);
    const io::SliceFolder label(dir / "out/label");
    CHECK(label.depth() == 4);
    CHECK(label.height() == 8);
    CHECK(label.width() == 9);
    CHECK(std::filesystem::exists(dir / "out/volume/0003.tiff"));
    CHECK(std::filesystem::exists(dir / "out/centerline/0000.tiff"));
}
#endif
