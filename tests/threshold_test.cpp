// Binarising the response: each automatic rule on made-up histograms whose answer is known by
// hand, the histogram of a strided view, binarize, parsing of the rule names, bad arguments.
#include "support/checks.hpp"

#include "axonseg/prep/threshold.hpp"

using namespace axonseg;
using namespace axonseg::prep;

namespace {

std::vector<Index> histogram_of(std::initializer_list<std::pair<int, Index>> bins) {
    std::vector<Index> h(65536, 0);
    for (const auto& [value, count] : bins) h[std::size_t(value)] += count;
    return h;
}

}  // namespace

TEST_CASE("otsu separates two spikes at the lower one (the first of equal splits)") {
    const std::vector<Index> h = histogram_of({{10, 300}, {50, 100}});
    CHECK(otsu_threshold(h) == 10);
    // Three classes: 0 x 500, 100 x 400, 110 x 100. Splitting between 0 and 100 gives
    // 500 * 500 * (0 - 102)^2; between 100 and 110, 900 * 100 * (44.4 - 110)^2: the first wins.
    CHECK(otsu_threshold(histogram_of({{0, 500}, {100, 400}, {110, 100}})) == 0);
    // Only one value: nothing is above it.
    CHECK(otsu_threshold(histogram_of({{7, 20}})) == 7);
}

TEST_CASE("triangle finds the knee of a peak with a long flat bright tail") {
    // Peak 1000 at 5, a short dark side, a flat tail of 10 from 6 to 105: the line from (5, 1000)
    // to (105, 10) is farthest above the histogram right after the peak, at 6.
    std::vector<Index> h = histogram_of({{5, 1000}, {3, 4}, {4, 8}});
    for (int v = 6; v <= 105; ++v) h[std::size_t(v)] = 10;
    CHECK(triangle_threshold(h) == 6);
    // A shoulder: 6..55 at 900, 56..105 at 10. The line 1000 - 9.9 (v - 5) is 90.1 above the
    // histogram at 6 but 485.1 above it at 56, where the shoulder drops: T = 56.
    for (int v = 6; v <= 55; ++v) h[std::size_t(v)] = 900;
    CHECK(triangle_threshold(h) == 56);
    // A dark tail (longer on the left) gives a threshold below the peak.
    std::vector<Index> dark = histogram_of({{200, 1000}});
    for (int v = 100; v < 200; ++v) dark[std::size_t(v)] = 10;
    CHECK(triangle_threshold(dark) == 199);
    CHECK(triangle_threshold(histogram_of({{9, 3}})) == 9);
}

TEST_CASE("percentile keeps at most (100 - P) % above the threshold") {
    std::vector<Index> h(65536, 0);
    for (int v = 1; v <= 100; ++v) h[std::size_t(v)] = 1;
    CHECK(percentile_threshold(h, 90) == 90);
    CHECK(percentile_threshold(h, 90.5) == 91);
    CHECK(percentile_threshold(h, 0) == 1);
    CHECK(percentile_threshold(h, 100) == 100);
    // Ties: 95 % of the voxels are 0, so P = 50 keeps the 5 % above 0.
    CHECK(percentile_threshold(histogram_of({{0, 95}, {1000, 5}}), 50) == 0);
}

TEST_CASE("auto_threshold and binarize on a volume with a strided view") {
    Tensor<std::uint16_t> big = Tensor<std::uint16_t>::full({6, 7, 8}, 9);
    const TensorView<std::uint16_t> part = big.box({1, 1, 2}, {4, 5, 5});  // (4,5,5), non-contiguous
    for (Index z = 0; z < 4; ++z)
        for (Index y = 0; y < 5; ++y)
            for (Index x = 0; x < 5; ++x) part(z, y, x) = (x == 2 && y == 2) ? 4000 : 100;
    const std::vector<Index> h = histogram_u16(part);
    CHECK(h[100] == 96);
    CHECK(h[4000] == 4);
    CHECK(h[9] == 0);
    const std::uint16_t t = auto_threshold(part, {.method = ThresholdMethod::otsu});
    CHECK(t == 100);
    const Tensor<std::uint8_t> mask = binarize(part, t);
    CHECK(mask.shape() == Shape{4, 5, 5});
    Index on = 0;
    for (Index i = 0; i < mask.numel(); ++i) on += mask.data()[i] == 255;
    CHECK(on == 4);
    CHECK(mask(3, 2, 2) == 255);
    CHECK(mask(3, 2, 1) == 0);
    CHECK(auto_threshold(part, {.method = ThresholdMethod::percentile, .percentile = 99}) == 4000);
}

TEST_CASE("parse_auto_threshold reads the command line's names and rejects others") {
    CHECK(parse_auto_threshold("otsu").method == ThresholdMethod::otsu);
    CHECK(parse_auto_threshold("triangle").method == ThresholdMethod::triangle);
    const AutoThreshold p = parse_auto_threshold("percentile:99.5");
    CHECK(p.method == ThresholdMethod::percentile);
    CHECK(p.percentile == 99.5);
    CHECK_THROWS_WITH_AS(parse_auto_threshold("percentile:150"),
                         doctest::Contains("'percentile:150': the percentile must be a number in [0, 100]"), Error);
    CHECK_THROWS_WITH_AS(parse_auto_threshold("percentile:9x"), doctest::Contains("must be a number"), Error);
    CHECK_THROWS_WITH_AS(parse_auto_threshold("mean"),
                         doctest::Contains("automatic threshold 'mean': expected otsu, triangle or percentile:P"),
                         Error);
}

TEST_CASE("threshold: bad arguments name the operation") {
    const std::vector<Index> empty(65536, 0);
    CHECK_THROWS_WITH_AS(otsu_threshold(empty), doctest::Contains("otsu_threshold: the histogram is empty"), Error);
    CHECK_THROWS_WITH_AS(percentile_threshold(histogram_of({{1, 1}}), -1),
                         doctest::Contains("percentile_threshold: percentile -1 outside [0, 100]"), Error);
    Tensor<std::uint16_t> flat = Tensor<std::uint16_t>::zeros({3, 4});
    CHECK_THROWS_WITH_AS(binarize(flat, 1),
                         doctest::Contains("binarize: the response must be a (D,H,W) volume, got shape (3,4)"), Error);
}
