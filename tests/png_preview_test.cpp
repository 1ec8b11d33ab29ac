// PNG previews: grey and RGB files decoded again with libpng match the pixels written (strided
// input too), the maximum-intensity projection along each axis of a hand-made volume, the
// percentile scaling, the mask overlay, the side-by-side preview, and the messages of bad calls.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/png_preview.hpp"

#include <unistd.h>

using namespace axonseg;
using namespace axonseg::io;
using namespace axonseg::test;
namespace fs = std::filesystem;

namespace {

// Decodes a PNG as (H,W,channels) through libpng's simplified reader.
Tensor<std::uint8_t> read_png(const fs::path& file, int channels) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_file(&image, file.c_str()));
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    Tensor<std::uint8_t> out(Shape{Index(image.height), Index(image.width), channels});  // (H,W,C)
    REQUIRE(png_image_finish_read(&image, nullptr, out.data(), 0, nullptr));
    return out;
}

// Element (d,h,w) = 100*d + 10*h + w: the maximum along any axis is at its last index.
Tensor<float> ramp_volume() {
    Tensor<float> v(Shape{3, 4, 5});  // (D,H,W)
    for (Index d = 0; d < 3; ++d)
        for (Index h = 0; h < 4; ++h)
            for (Index w = 0; w < 5; ++w) v(d, h, w) = float(100 * d + 10 * h + w);
    return v;
}

}  // namespace

TEST_CASE("png: grey and RGB images decode to the pixels written, from strided views") {
    ScratchDir dir("roundtrip");
    const Tensor<std::uint8_t> big = random_tensor<std::uint8_t>(Shape{9, 12, 4}, 5, Layout::contiguous, 0, 256);
    const ConstView<std::uint8_t> rgb = big.view().box({1, 2, 0}, {7, 9, 3});  // (7,9,3), strided
    write_png_rgb(dir / "rgb.png", rgb);
    check_close(ConstView<std::uint8_t>(read_png(dir / "rgb.png", 3)), rgb, 0.0, "rgb");

    const ConstView<std::uint8_t> gray(big.data() + 1, Shape{9, 12}, Strides{48, 4});  // (9,12), channel 1
    write_png_gray(dir / "gray.png", gray);
    const Tensor<std::uint8_t> back = read_png(dir / "gray.png", 1);  // (9,12,1)
    check_close(ConstView<std::uint8_t>(back.data(), Shape{9, 12}), gray, 0.0, "gray");
}

TEST_CASE("png: the maximum projection along each axis of a hand-made volume") {
    const Tensor<float> v = ramp_volume();  // (3,4,5), max 234
    // Along d the maxima are 200 + 10h + w: 200..234, spread to 0..255 by the percentiles of the
    // 20 projected values (nearest rank: the 0.1% one is the minimum, the 99.9% one the maximum).
    const Tensor<std::uint8_t> along_d = max_projection(v, ProjectionAxis::d);  // (4,5)
    REQUIRE(along_d.shape() == Shape{4, 5});
    for (Index h = 0; h < 4; ++h)
        for (Index w = 0; w < 5; ++w)
            CHECK(along_d(h, w) == std::uint8_t(std::lround((10.0 * h + w) / 34.0 * 255.0)));
    const Tensor<std::uint8_t> along_h = max_projection(v, ProjectionAxis::h);  // (3,5): 30 + 100d + w
    REQUIRE(along_h.shape() == Shape{3, 5});
    CHECK(along_h(0, 0) == 0);
    CHECK(along_h(2, 4) == 255);
    CHECK(along_h(1, 2) == std::uint8_t(std::lround(102.0 / 204.0 * 255.0)));
    const Tensor<std::uint8_t> along_w = max_projection(v, ProjectionAxis::w);  // (3,4): 4 + 100d + 10h
    REQUIRE(along_w.shape() == Shape{3, 4});
    CHECK(along_w(1, 1) == std::uint8_t(std::lround(110.0 / 230.0 * 255.0)));

    // One hot voxel among 2,000 sits above the 99.9% percentile: it saturates, the rest keep the range.
    Tensor<std::uint16_t> u = Tensor<std::uint16_t>::zeros(Shape{2, 40, 50});  // (D,H,W)
    for (Index h = 0; h < 40; ++h)
        for (Index w = 0; w < 50; ++w) u(1, h, w) = std::uint16_t(h * 50 + w);
    u(0, 39, 49) = 60000;
    // The projection holds 0..1998 and 60000; nearest ranks round(0.001 * 1999) = 2 and
    // round(0.999 * 1999) = 1997 give grey 0 at 2 and 255 at 1997.
    const Tensor<std::uint8_t> robust = max_projection(u);  // (40,50)
    CHECK(robust(39, 49) == 255);
    CHECK(robust(39, 48) == 255);
    CHECK(robust(0, 2) == 0);
    CHECK(robust(1, 0) == std::uint8_t(std::lround(48.0 / 1995.0 * 255.0)));  // value 50: grey 6
    CHECK(robust(20, 0) == std::uint8_t(std::lround(998.0 / 1995.0 * 255.0)));

    // A flat projection: zero stays 0, a sparse 0/255 mask still shows.
    CHECK(max_projection(Tensor<std::uint8_t>::zeros(Shape{2, 3, 4}))(1, 1) == 0);
}

TEST_CASE("png: mask overlay and the side-by-side preview") {
    Tensor<std::uint8_t> gray = Tensor<std::uint8_t>::full(Shape{2, 2}, 100);  // (H,W)
    Tensor<std::uint8_t> mask = Tensor<std::uint8_t>::zeros(Shape{2, 2});     // (H,W)
    mask(0, 1) = 255;
    const Tensor<std::uint8_t> tinted = overlay_mask(gray, mask, Rgb{0, 255, 0});  // (2,2,3)
    CHECK(tinted(0, 0, 0) == 100);
    CHECK(tinted(0, 0, 1) == 100);
    CHECK(tinted(0, 1, 0) == 40);   // 100 * 0.4
    CHECK(tinted(0, 1, 1) == 193);  // 100 * 0.4 + 255 * 0.6
    CHECK(tinted(0, 1, 2) == 40);

    ScratchDir dir("preview");
    const Tensor<float> v = ramp_volume();                                         // (3,4,5)
    Tensor<std::uint8_t> labels = Tensor<std::uint8_t>::zeros(Shape{3, 4, 5});  // (D,H,W)
    labels(1, 2, 3) = 1;  // nnU-Net's 0/1 labels show as a full-strength mask
    write_preview(dir / "preview.png", v, labels);
    const Tensor<std::uint8_t> side = read_png(dir / "preview.png", 3);  // (4, 2*5 + gap, 3)
    REQUIRE(side.shape() == Shape{4, 10 + k_preview_gap, 3});
    const Tensor<std::uint8_t> mip = max_projection(v);  // (4,5)
    Tensor<std::uint8_t> full = Tensor<std::uint8_t>::zeros(Shape{4, 5});  // (H,W)
    full(2, 3) = 255;
    const Tensor<std::uint8_t> expected = overlay_mask(mip, full);  // (4,5,3)
    for (Index h = 0; h < 4; ++h)
        for (Index w = 0; w < 5; ++w)
            for (Index c = 0; c < 3; ++c) {
                CHECK(side(h, w, c) == mip(h, w));
                CHECK(side(h, 5 + k_preview_gap + w, c) == expected(h, w, c));
            }
    CHECK(side(2, 5 + k_preview_gap + 3, 0) > side(2, 5 + k_preview_gap + 3, 1));  // red where the mask is
    CHECK(side(0, 5, 0) == 0);                                                       // the gap

    write_preview(dir / "alone.png", v);
    const Tensor<std::uint8_t> alone = read_png(dir / "alone.png", 1);  // (4,5,1)
    check_close(ConstView<std::uint8_t>(alone.data(), Shape{4, 5}), ConstView<std::uint8_t>(mip), 0.0, "alone");
}

TEST_CASE("png: bad calls name the file and the problem") {
    ScratchDir dir("bad");
    const Tensor<std::uint8_t> four = Tensor<std::uint8_t>::zeros(Shape{4, 5, 4});  // (H,W,4)
    CHECK_THROWS_WITH_AS(write_png_rgb(dir / "x.png", four),
                         doctest::Contains("x.png: image (4,5,4) must be a non-empty (H,W,3)"), Error);
    CHECK_THROWS_WITH_AS(write_png_gray(dir / "g.png", four),
                         doctest::Contains("g.png: image (4,5,4) must be a non-empty (H,W)"), Error);
    CHECK_THROWS_WITH_AS(write_png_gray(dir / "no_such_dir" / "g.png", Tensor<std::uint8_t>::zeros(Shape{2, 2})),
                         doctest::Contains("g.png: cannot create a temporary file"), Error);
    const Tensor<float> v = ramp_volume();  // (3,4,5)
    CHECK_THROWS_WITH_AS(write_preview(dir / "p.png", v, Tensor<std::uint8_t>::zeros(Shape{3, 4, 6})),
                         doctest::Contains("p.png: mask (3,4,6) and volume (3,4,5) differ in shape"), Error);
    CHECK_THROWS_WITH_AS(max_projection(Tensor<float>::zeros(Shape{4, 5})),
                         doctest::Contains("max_projection: volume (4,5) must be a non-empty (D,H,W)"), Error);
    CHECK_THROWS_WITH_AS(overlay_mask(Tensor<std::uint8_t>::zeros(Shape{2, 2}), Tensor<std::uint8_t>::zeros(Shape{2, 3})),
                         doctest::Contains("overlay_mask: grey image (2,2) and mask (2,3) must be the same (H,W)"), Error);
    CHECK(fs::is_empty(dir.path));
}
