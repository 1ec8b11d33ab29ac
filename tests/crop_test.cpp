// The cube cropper: boxes and values against the volume on a synthetic slice folder, the three
// out-of-bounds policies on the original's own example points (Slice 22, 142 and 260 against a
// 100-slice stack), labels, refusing to replace files, and the real brain example when present.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/crop.hpp"

using namespace axonseg;
using namespace axonseg::prep;
using namespace axonseg::test;

namespace {

std::uint16_t synthetic_value(Index z, Index y, Index x) { return std::uint16_t((z * 7919 + y * 331 + x * 31) % 65536); }

// A fresh folder under the system's temporary directory, removed at the end of the test.
// 100 slices of 60 x 70, uint16 values that encode the position.
std::filesystem::path write_synthetic_stack(const std::filesystem::path& dir) {
    Tensor<std::uint16_t> volume({100, 60, 70});  // (D,H,W)
    for (Index z = 0; z < 100; ++z)
        for (Index y = 0; y < 60; ++y)
            for (Index x = 0; x < 70; ++x) volume(z, y, x) = synthetic_value(z, y, x);
    io::write_slice_folder(dir / "slices", volume.view());
    return dir / "slices";
}

// The original's example.csv: X, Y, Slice = (250, 255, 22), (221.5, 500.5, 142), (162.5, 478.5, 260).
std::vector<io::CentrePoint> example_points(Index x_scale_to = 0) {
    std::vector<io::CentrePoint> p = {{.x = 250, .y = 255, .slice = 22, .line = 2},
                                      {.x = 221, .y = 500, .slice = 142, .line = 3},
                                      {.x = 162, .y = 478, .slice = 260, .line = 4}};
    if (x_scale_to > 0)  // squeeze X and Y into a small synthetic slice, keeping the slices
        for (io::CentrePoint& q : p) {
            q.x = 30 + q.x % 10;
            q.y = 25 + q.y % 10;
        }
    return p;
}

}  // namespace

TEST_CASE("cube_box: centre - size/2 ... centre + size - size/2 - 1, with the slice base") {
    const io::CentrePoint p{.x = 100, .y = 200, .slice = 80};
    const CubeBox b = cube_box(p, {.size = 150}, 300, 400, 500);
    CHECK(b.z0 == 5);
    CHECK(b.y0 == 125);
    CHECK(b.x0 == 25);
    CHECK(b.inside);
    CHECK(cube_box(p, {.size = 150, .slice_base = 1}, 300, 400, 500).z0 == 4);
    CHECK(cube_box(p, {.size = 5}, 300, 400, 500).z0 == 78);  // odd: 78 ... 82
    CHECK_FALSE(cube_box(p, {.size = 150}, 154, 400, 500).inside);  // slices 5 ... 154 need 155
    CHECK(cube_box(p, {.size = 150}, 155, 400, 500).inside);
}

TEST_CASE("crop_cubes on the original's example slices: error, pad and skip") {
    ScratchDir scratch("axonseg_crop_test_policies");
    const io::SliceFolder slices(write_synthetic_stack(scratch.path));
    const std::vector<io::CentrePoint> points = example_points(70);  // X 30..39, Y 25..34
    // Edge 40: Slice 22 fits (slices 2 ... 41); 142 and 260 leave the 100-slice stack.
    const CropParams base{.size = 40};

    SUBCASE("error names the first point that leaves, and writes nothing") {
        CHECK_THROWS_WITH_AS(crop_cubes(slices, points, scratch.path / "out", base),
                             doctest::Contains("crop: point 2 of 3 (line 3: X 31, Y 25, Slice 142, slice base 0): "
                                               "its 40^3 cube leaves the 100 x 60 x 70 volume: slices [122, 162) "
                                               "leave [0, 100)"),
                             Error);
        CHECK_FALSE(std::filesystem::exists(scratch.path / "out"));
    }
    SUBCASE("pad writes zeros outside the volume and the volume's values inside") {
        CropParams p = base;
        p.out_of_bounds = OutOfBounds::pad;
        std::vector<CubeFate> seen;
        const auto outcomes = crop_cubes(slices, points, scratch.path / "out", p,
                                         [&](const CubeOutcome& o) { seen.push_back(o.fate); });
        REQUIRE(outcomes.size() == 3);
        CHECK(seen == std::vector<CubeFate>{CubeFate::written, CubeFate::padded, CubeFate::padded});
        CHECK(outcomes[1].number == 1001);
        CHECK(outcomes[2].why == "slices [240, 280) leave [0, 100)");
        const Tensor<std::uint16_t> first = io::read_tiff_stack<std::uint16_t>(scratch.path / "out/volume-1000.tiff");
        const Tensor<std::uint16_t> second = io::read_tiff_stack<std::uint16_t>(scratch.path / "out/volume-1001.tiff");
        const Tensor<std::uint16_t> third = io::read_tiff_stack<std::uint16_t>(scratch.path / "out/volume-1002.tiff");
        REQUIRE(second.shape() == Shape{40, 40, 40});
        Index wrong = 0;
        for (Index z = 0; z < 40; ++z)
            for (Index y = 0; y < 40; ++y)
                for (Index x = 0; x < 40; ++x) {
                    wrong += first(z, y, x) != synthetic_value(2 + z, 10 + y, 10 + x);  // X 30, Y 30, Slice 22
                    const Index vz = 122 + z;  // Slice 142: slices 122 ... 161, zeros from 100 on
                    wrong += second(z, y, x) != (vz < 100 ? synthetic_value(vz, 5 + y, 11 + x) : 0);
                    wrong += third(z, y, x) != 0;
                }
        CHECK(wrong == 0);
        CHECK_FALSE(std::filesystem::exists(scratch.path / "out/label-1000.tiff"));
    }
    SUBCASE("skip writes the cubes inside and reports the others") {
        CropParams p = base;
        p.out_of_bounds = OutOfBounds::skip;
        p.start_index = 7;
        const auto outcomes = crop_cubes(slices, points, scratch.path / "out", p);
        CHECK(outcomes[0].fate == CubeFate::written);
        CHECK(outcomes[1].fate == CubeFate::skipped);
        CHECK(outcomes[2].fate == CubeFate::skipped);
        CHECK(std::filesystem::exists(scratch.path / "out/volume-7.tiff"));
        CHECK_FALSE(std::filesystem::exists(scratch.path / "out/volume-8.tiff"));
        CHECK_FALSE(std::filesystem::exists(scratch.path / "out/volume-9.tiff"));
    }
    SUBCASE("the default 150 edge: every cube leaves a 100-slice stack, the first at the top") {
        CHECK_THROWS_WITH_AS(crop_cubes(slices, points, scratch.path / "out", {}),
                             doctest::Contains("point 1 of 3 (line 2: X 30, Y 30, Slice 22, slice base 0): its "
                                               "150^3 cube leaves the 100 x 60 x 70 volume: slices [-53, 97) leave "
                                               "[0, 100); rows [-45, 105) leave [0, 60); columns [-45, 105) leave [0, 70)"),
                             Error);
    }
}

TEST_CASE("crop_cubes writes labels, refuses to replace files, and checks its arguments") {
    ScratchDir scratch("axonseg_crop_test_labels");
    const io::SliceFolder slices(write_synthetic_stack(scratch.path));
    const std::vector<io::CentrePoint> points = {{.x = 35, .y = 30, .slice = 51, .line = 2}};
    const CropParams p{.size = 20, .slice_base = 1, .labels = BlurPlane::zy};
    crop_cubes(slices, points, scratch.path / "out", p);
    const Tensor<std::uint16_t> volume = io::read_tiff_stack<std::uint16_t>(scratch.path / "out/volume-1000.tiff");
    const Tensor<std::uint16_t> label = io::read_tiff_stack<std::uint16_t>(scratch.path / "out/label-1000.tiff");
    CHECK(volume(10, 10, 10) == synthetic_value(50, 30, 35));  // Slice 51 counted from 1 is slice 50
    const Tensor<std::uint16_t> expected = high_pass_response(volume);
    Index wrong = 0;
    for (Index i = 0; i < label.numel(); ++i) wrong += label.data()[i] != expected.data()[i];
    CHECK(wrong == 0);

    CHECK_THROWS_WITH_AS(crop_cubes(slices, points, scratch.path / "out", p),
                         doctest::Contains("out/volume-1000.tiff already exists; not replacing it"), Error);
    CropParams again = p;
    again.overwrite = true;
    CHECK(crop_cubes(slices, points, scratch.path / "out", again).size() == 1);
    CHECK_THROWS_WITH_AS(crop_cubes(slices, points, scratch.path / "out", {.size = 0}),
                         doctest::Contains("crop: the cube size must be at least 1, got 0"), Error);
    io::write_slice_folder(scratch.path / "bytes", Tensor<std::uint8_t>::zeros({2, 3, 4}).view());
    CHECK_THROWS_WITH_AS(crop_cubes(io::SliceFolder(scratch.path / "bytes"), points, scratch.path / "out", {}),
                         doctest::Contains("slices; the cropper reads uint16"), Error);
}

TEST_CASE("crop_cubes on the real brain example at the original's three points") {
    const std::filesystem::path data = test::shared_data_dir();
    if (data.empty()) {
        MESSAGE("skipped: ../shared/data absent");
        return;
    }
    ScratchDir scratch("axonseg_crop_test_brain");
    const io::SliceFolder slices(data / "dlmbmap/brain-example");
    REQUIRE(slices.depth() == 100);
    const std::vector<io::CentrePoint> points = example_points();
    CHECK_THROWS_WITH_AS(crop_cubes(slices, points, scratch.path / "out", {}),
                         doctest::Contains("point 1 of 3 (line 2: X 250, Y 255, Slice 22, slice base 0): its 150^3 "
                                           "cube leaves the 100 x 600 x 600 volume: slices [-53, 97) leave [0, 100)"),
                         Error);
    // ImageJ's Results say the point (X 250, Y 255, Slice 22) has Mean 4427: that is slice 21
    // counted from 0, so ImageJ counts slices from 1 and the original's 0-based use is off by one.
    const CropParams p{.slice_base = 1, .out_of_bounds = OutOfBounds::pad, .labels = BlurPlane::zy};
    const auto outcomes = crop_cubes(slices, points, scratch.path / "out", p);
    CHECK(outcomes[0].fate == CubeFate::padded);
    const Tensor<std::uint16_t> first = io::read_tiff_stack<std::uint16_t>(scratch.path / "out/volume-1000.tiff");
    CHECK(first(75, 75, 75) == 4427);
    CHECK(first(0, 75, 75) == 0);  // slice -54: padding, not the end of the stack
    CHECK(std::filesystem::exists(scratch.path / "out/label-1002.tiff"));
    CropParams skip = p;
    skip.out_of_bounds = OutOfBounds::skip;
    skip.start_index = 2000;
    for (const CubeOutcome& o : crop_cubes(slices, points, scratch.path / "out", skip)) CHECK(o.fate == CubeFate::skipped);
}
