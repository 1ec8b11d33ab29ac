// The synthetic-data generator: determinism per seed, the ground truth's laws (0/255 values, the
// centreline inside the label, label growing with density), image statistics calibrated against the
// D-LMBmap brain example (docs/synthetic_data.md: background, noise, foreground, contrast,
// saturation, z blur wider than x blur), odd shapes, bad parameters, and the `axonseg synth`
// command's files read back equal to the library's output.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/high_pass.hpp"
#include "axonseg/prep/synth.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

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

double median(std::vector<double> values) {
    const auto mid = values.begin() + std::ptrdiff_t(values.size() / 2);
    std::nth_element(values.begin(), mid, values.end());
    return *mid;
}

// What tools/compare_synth.py measures, in the simplest form that tells realistic from broken.
struct ImageStats {
    double background = 0;  // median of all voxels, ADU
    double noise = 0;       // sigma from all x-neighbour differences (1.4826 MAD / sqrt 2)
    double foreground = 0;  // fraction where the rough annotation's response exceeds 6 noise sigmas
    double contrast = 0;    // (median of those voxels - background) / background
    double saturated = 0;   // fraction at 65535
    double z_over_yx = 0;   // the fall 2 voxels off the centreline along z over that across it in (y, x)
};

ImageStats image_stats(const SynthVolume& v) {
    const Tensor<std::uint16_t>& img = v.volume;  // (D,H,W)
    const Index d = img.dim(0), h = img.dim(1), w = img.dim(2);
    ImageStats s;
    s.background = median(std::vector<double>(img.data(), img.data() + img.numel()));
    std::vector<double> diffs;
    for (Index i = 0; i + 1 < img.numel(); ++i)
        if ((i + 1) % w != 0) diffs.push_back(double(img.data()[i + 1]) - double(img.data()[i]));
    const double centre = median(diffs);
    for (double& x : diffs) x = std::abs(x - centre);
    s.noise = 1.4826 * median(diffs) / std::sqrt(2.0);
    const Tensor<std::uint16_t> response = high_pass_response(img);  // (D,H,W)
    std::vector<double> bright;
    for (Index i = 0; i < img.numel(); ++i) {
        if (double(response.data()[i]) > 6 * s.noise) bright.push_back(img.data()[i]);
        s.saturated += img.data()[i] == 65535;
    }
    s.foreground = double(bright.size()) / double(img.numel());
    s.contrast = bright.empty() ? 0 : (median(bright) - s.background) / s.background;
    s.saturated /= double(img.numel());
    double fall_z = 0, fall_yx = 0;
    for (Index z = 2; z + 2 < d; ++z)
        for (Index y = 2; y + 2 < h; ++y)
            for (Index x = 2; x + 2 < w; ++x) {
                if (!v.centerline(z, y, x)) continue;
                const auto fall = [&](Index dz, Index dy, Index dx) {
                    return double(img(z, y, x)) -
                           0.5 * (double(img(z - dz, y - dy, x - dx)) + double(img(z + dz, y + dy, x + dx)));
                };
                fall_z += fall(2, 0, 0);
                fall_yx += std::max(fall(0, 2, 0), fall(0, 0, 2));  // the larger is the one across the axon
            }
    s.z_over_yx = fall_z / fall_yx;
    return s;
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

// The ranges are the brain example's statistics (docs/synthetic_data.md, tools/compare_synth.py on
// all 100 x 600 x 600 voxels), checked on the mean of seeds 1-3 (their tissue edges and axons
// differ, as in the document's table): ± 25 % for background and noise; foreground and contrast
// from 0.75 to 1.75 x, because in this volume, a quarter of the voxels, the bright tissue edge takes
// a larger share (at the full size they are within 25 %). Saturation and the blur's shape are
// checked per seed. A change that makes the defaults unrealistic fails here.
TEST_CASE("synthesize: the defaults look like the brain example (background, noise, axons, saturation, blur)") {
    ImageStats mean;
    constexpr int k_seeds = 3;
    for (const std::uint64_t seed : {1, 2, 3}) {
        CAPTURE(seed);
        const ImageStats s = image_stats(synthesize({.shape = {50, 300, 300}, .seed = seed}));
        CAPTURE(s.saturated);
        CAPTURE(s.z_over_yx);
        CHECK(s.saturated > 0);  // 0.117 %: the tissue surface and a few axons and blobs
        CHECK(s.saturated < 0.005);
        CHECK(s.z_over_yx < 0.7);  // the point-spread is wider in z, so the fall along z is smaller
        mean.background += s.background / k_seeds;
        mean.noise += s.noise / k_seeds;
        mean.foreground += s.foreground / k_seeds;
        mean.contrast += s.contrast / k_seeds;
    }
    CAPTURE(mean.background);
    CAPTURE(mean.noise);
    CAPTURE(mean.foreground);
    CAPTURE(mean.contrast);
    CHECK(mean.background > 0.75 * 2673);  // brain example: median 2673 ADU
    CHECK(mean.background < 1.25 * 2673);
    CHECK(mean.noise > 0.75 * 110);  // noise sigma 110 ADU
    CHECK(mean.noise < 1.25 * 110);
    CHECK(mean.foreground > 0.75 * 0.0197);  // 1.97 % of voxels in the rough annotation
    CHECK(mean.foreground < 1.75 * 0.0197);
    CHECK(mean.contrast > 0.75 * 6.48);  // their median is 7.48 x the background
    CHECK(mean.contrast < 1.75 * 6.48);
    // The same measure on an isotropic point spread: the blur check measures the blur.
    const SynthVolume round = synthesize({.shape = {50, 300, 300}, .psf_sigma_z = 0.5, .psf_sigma_yx = 0.5});
    CHECK(image_stats(round).z_over_yx > 0.85);
}

TEST_CASE("synthesize: without artefacts, no saturation, edge or glow: labelled axons on the tissue background") {
    const SynthVolume clean = synthesize({.shape = {48, 192, 192}, .seed = 5, .artifacts = 0});
    const ImageStats s = image_stats(clean);
    double labelled = 0;
    Index n = 0;
    for (Index i = 0; i < clean.volume.numel(); ++i)
        if (clean.label.data()[i]) {
            labelled += clean.volume.data()[i];
            ++n;
        }
    labelled /= double(n);
    CAPTURE(s.background);
    CAPTURE(s.saturated);
    CAPTURE(labelled);
    CHECK(s.saturated < 1e-4);
    CHECK(s.background > 0.9 * (SynthParams{}.background + 100));  // background + camera offset
    CHECK(s.background < 1.1 * (SynthParams{}.background + 100));
    CHECK(labelled > 1.3 * s.background);  // the label marks the axons, not just anywhere
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
    CHECK(std::system((command + " --overwrite --preview " + out + "/preview.png > /dev/null").c_str()) == 0);
    CHECK(std::filesystem::file_size(dir / "out/preview.png") > 100);

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
