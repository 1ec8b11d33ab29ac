// Lee's 3-D thinning: the local tests against brute-force topology on random neighbourhoods, made-up
// shapes (tube, ball, torus, hollow sphere), and scikit-image's skeletons voxel for voxel.
#include "support/checks.hpp"
#include "support/masks.hpp"

#include "axonseg/prep/connected_components.hpp"
#include "axonseg/prep/thinning.hpp"

#include <cmath>
#include <random>

using namespace axonseg;
using namespace axonseg::prep;

namespace {

// Euler characteristic of the union of closed unit cubes, one per foreground voxel (26-connected
// foreground): +1 per vertex, -1 per edge, +1 per face, -1 per cube, cells on a doubled grid.
Index euler_characteristic(ConstView<std::uint8_t> m) {
    const Index D = m.dim(0), H = m.dim(1), W = m.dim(2);
    const Index gd = 2 * D + 1, gh = 2 * H + 1, gw = 2 * W + 1;
    std::vector<std::uint8_t> cell(std::size_t(gd * gh * gw), 0);
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x)
                if (m(z, y, x) != 0)
                    for (Index a = 2 * z; a <= 2 * z + 2; ++a)
                        for (Index b = 2 * y; b <= 2 * y + 2; ++b)
                            for (Index c = 2 * x; c <= 2 * x + 2; ++c)
                                cell[std::size_t((a * gh + b) * gw + c)] = 1;
    Index chi = 0;
    for (Index a = 0; a < gd; ++a)
        for (Index b = 0; b < gh; ++b)
            for (Index c = 0; c < gw; ++c)
                if (cell[std::size_t((a * gh + b) * gw + c)])
                    chi += ((a & 1) + (b & 1) + (c & 1)) % 2 ? -1 : 1;  // odd dimension: -1
    return chi;
}

// The 3x3x3 volume of a neighbourhood mask (bit numbering of thinning_tables.hpp).
Tensor<std::uint8_t> cube_of(std::uint32_t nb) {
    Tensor<std::uint8_t> t = Tensor<std::uint8_t>::zeros({3, 3, 3});
    for (int k = 0; k < 27; ++k) t.data()[k] = std::uint8_t(nb >> k & 1u);
    return t;
}

// How many foreground voxels have exactly one 26-neighbour (line ends), and the most any has.
struct NeighbourCounts {
    Index with_one = 0, most = 0;
};
NeighbourCounts neighbour_counts(ConstView<std::uint8_t> m) {
    NeighbourCounts r;
    const Index D = m.dim(0), H = m.dim(1), W = m.dim(2);
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) {
                if (m(z, y, x) == 0) continue;
                Index n = 0;
                for (Index a = std::max<Index>(z - 1, 0); a <= std::min(z + 1, D - 1); ++a)
                    for (Index b = std::max<Index>(y - 1, 0); b <= std::min(y + 1, H - 1); ++b)
                        for (Index c = std::max<Index>(x - 1, 0); c <= std::min(x + 1, W - 1); ++c)
                            n += m(a, b, c) != 0;
                --n;  // the voxel itself
                r.with_one += n == 1;
                r.most = std::max(r.most, n);
            }
    return r;
}

// Voxels where f(z, y, x) holds (coordinates of voxel centres).
template <class F>
Tensor<std::uint8_t> shape_where(const Shape& shape, F f) {
    Tensor<std::uint8_t> t(shape);
    for (Index z = 0; z < shape[0]; ++z)
        for (Index y = 0; y < shape[1]; ++y)
            for (Index x = 0; x < shape[2]; ++x) t(z, y, x) = f(double(z), double(y), double(x)) ? 255 : 0;
    return t;
}

}  // namespace

TEST_CASE("local tests agree with brute-force topology on random neighbourhoods") {
    std::mt19937_64 rng(7);
    for (int trial = 0; trial < 20000; ++trial) {
        // Densities from sparse to full, so every kind of configuration turns up.
        const double density = double(trial % 10 + 1) / 11.0;
        std::bernoulli_distribution fg(density);
        std::uint32_t nb = prep::detail::k_centre;
        for (int k = 0; k < 27; ++k)
            if (k != prep::detail::k_centre_bit && fg(rng)) nb |= 1u << k;
        const Tensor<std::uint8_t> with = cube_of(nb), without = cube_of(nb & ~prep::detail::k_centre);
        INFO("neighbourhood ", nb);
        const bool keeps_euler = euler_characteristic(with) == euler_characteristic(without);
        CHECK(prep::detail::is_euler_invariant(nb) == keeps_euler);
        CHECK(prep::detail::is_simple(nb) == (label_components(without).count() <= 1));
        CHECK(prep::detail::is_end_point(nb) == (test::count_foreground(without) == 1));
    }
}

TEST_CASE("a tube thins to a connected one-voxel-wide line through its length") {
    // Radius 3 around the voxel row (7, 7, x), x = 4 ... 35, in a (D,H,W) = (15,16,40) volume.
    Tensor<std::uint8_t> tube = shape_where({15, 16, 40}, [](double z, double y, double x) {
        return (z - 7) * (z - 7) + (y - 7) * (y - 7) <= 9.5 && x >= 4 && x <= 35;
    });
    Tensor<std::uint8_t> skeleton(tube.shape());
    copy(ConstView<std::uint8_t>(tube), skeleton.view());
    thin_lee(skeleton);
    CHECK(label_components(skeleton, Connectivity::vertex26).count() == 1);
    const NeighbourCounts n = neighbour_counts(skeleton);
    CHECK(n.with_one == 2);  // two ends, every other voxel on the line has two neighbours
    CHECK(n.most == 2);
    Index first = 40, last = -1, inside = 0;
    for (Index z = 0; z < 15; ++z)
        for (Index y = 0; y < 16; ++y)
            for (Index x = 0; x < 40; ++x)
                if (skeleton(z, y, x)) {
                    first = std::min(first, x);
                    last = std::max(last, x);
                    inside += tube(z, y, x) != 0;
                    CHECK(skeleton(z, y, x) == 1);
                }
    CHECK(inside == test::count_foreground(skeleton));
    CHECK(first <= 4 + 3);  // the ends reach into the end caps
    CHECK(last >= 35 - 3);
}

TEST_CASE("a one-voxel-wide line, end points included, is already thin") {
    Tensor<std::uint8_t> line = Tensor<std::uint8_t>::zeros({12, 12, 12});
    // A bent path with face, edge and corner steps.
    const std::array<Index, 3> path[] = {{1, 1, 1}, {1, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 3, 4},
                                         {4, 4, 5}, {5, 5, 5}, {6, 5, 6}, {7, 6, 7}, {7, 7, 8}};
    for (const auto& p : path) line(p[0], p[1], p[2]) = 1;
    Tensor<std::uint8_t> skeleton(line.shape());
    copy(ConstView<std::uint8_t>(line), skeleton.view());
    thin_lee(skeleton);
    CHECK(test::count_differences(skeleton, line) == 0);
}

TEST_CASE("a ball thins to its centre") {
    // Not to one voxel: the last two are end points, which the thinning keeps. scikit-image
    // leaves 2 or 3 voxels for balls of radius 2 to 9; for this one the two below.
    Tensor<std::uint8_t> ball = shape_where({21, 21, 21}, [](double z, double y, double x) {
        return (z - 10) * (z - 10) + (y - 10) * (y - 10) + (x - 10) * (x - 10) <= 64.5;
    });
    thin_lee(ball);
    CHECK(test::count_foreground(ball) == 2);
    CHECK(ball(10, 10, 10) == 1);
    CHECK(ball(10, 11, 10) == 1);
}

TEST_CASE("like scikit-image, a tube two voxels thick at its core thins to nothing") {
    // The re-check of a pass tests simplicity only, so voxels that earlier deletions of the same
    // pass left as line ends, or alone, still go (thinning.hpp). Same tube as above but centred
    // between voxel rows; scikit-image's skeletonize also returns an empty volume for it.
    Tensor<std::uint8_t> tube = shape_where({15, 16, 40}, [](double z, double y, double x) {
        return (z - 7) * (z - 7) + (y - 7.5) * (y - 7.5) <= 9.5 && x >= 4 && x <= 35;
    });
    REQUIRE(test::count_foreground(tube) == 960);
    thin_lee(tube);
    CHECK(test::count_foreground(tube) == 0);
}

TEST_CASE("topology is kept: a torus keeps its loop, a hollow sphere its cavity") {
    Tensor<std::uint8_t> torus = shape_where({11, 31, 31}, [](double z, double y, double x) {
        const double ring = std::hypot(y - 15, x - 15) - 10;
        return ring * ring + (z - 5) * (z - 5) <= 9.5;
    });
    REQUIRE(euler_characteristic(torus) == 0);
    thin_lee(torus);
    CHECK(label_components(torus, Connectivity::vertex26).count() == 1);
    CHECK(euler_characteristic(torus) == 0);  // one loop
    CHECK(neighbour_counts(torus).with_one == 0);  // a closed curve: no ends
    CHECK(test::count_foreground(torus) < 100);  // a curve, not a surface

    Tensor<std::uint8_t> shell = shape_where({19, 19, 19}, [](double z, double y, double x) {
        const double r2 = (z - 9) * (z - 9) + (y - 9) * (y - 9) + (x - 9) * (x - 9);
        return r2 >= 16 && r2 <= 64;
    });
    REQUIRE(euler_characteristic(shell) == 2);
    thin_lee(shell);
    CHECK(euler_characteristic(shell) == 2);  // a closed surface still holds the cavity
    CHECK(label_components(shell, Connectivity::vertex26).count() == 1);
}

TEST_CASE("thin_lee equals scikit-image's skeletonize voxel for voxel (fixture)") {
    const test::Fixture fx(test::fixture_path("thinning.fix"));
    for (const auto& c : fx.meta()["cases"]) {
        const std::string name = c["name"];
        const Shape shape = Shape::from(c["shape"].get<std::vector<Index>>());
        const Tensor<std::uint8_t> input = test::unpack_mask(fx, name + "_in", shape);
        const Tensor<std::uint8_t> expected = test::unpack_mask(fx, name + "_skeleton", shape);
        INFO("case ", name, " ", shape);

        Tensor<std::uint8_t> skeleton(shape);
        copy(ConstView<std::uint8_t>(input), skeleton.view());
        thin_lee(skeleton);
        CHECK(test::count_differences(skeleton, expected) == 0);
        const Index removed = test::count_foreground(input) - test::count_foreground(skeleton);
        CHECK(test::count_differences(skeleton, input) == removed);  // the skeleton is a subset

        // In a strided box of a bigger volume whose foreground around the box must not count.
        Tensor<std::uint8_t> big =
            Tensor<std::uint8_t>::full({shape[0] + 2, shape[1] + 4, shape[2] + 3}, 255);
        TensorView<std::uint8_t> box = big.box({1, 2, 1}, {shape[0], shape[1], shape[2]});
        copy(ConstView<std::uint8_t>(input), box);
        thin_lee(box);
        CHECK(test::count_differences(box, expected) == 0);
        CHECK(big(0, 0, 0) == 255);

        // A skeleton is a fixed point.
        thin_lee(skeleton);
        CHECK(test::count_differences(skeleton, expected) == 0);
    }
}

TEST_CASE("the result does not depend on the thread count") {
    // Two fixture volumes stacked along z: enough foreground for the scans to run in parallel.
    const test::Fixture fx(test::fixture_path("thinning.fix"));
    const Shape shape{80, 40, 40};
    Tensor<std::uint8_t> input(shape);
    copy(ConstView<std::uint8_t>(test::unpack_mask(fx, "blobs_a_in", {40, 40, 40})), input.narrow(0, 0, 40));
    copy(ConstView<std::uint8_t>(test::unpack_mask(fx, "blobs_b_in", {40, 40, 40})), input.narrow(0, 40, 40));
    REQUIRE(test::count_foreground(input) > Index(1) << 15);
    const int saved = thread_count();
    Tensor<std::uint8_t> one(shape), three(shape);
    copy(ConstView<std::uint8_t>(input), one.view());
    copy(ConstView<std::uint8_t>(input), three.view());
    set_thread_count(1);
    thin_lee(one);
    set_thread_count(3);
    thin_lee(three);
    set_thread_count(saved);
    CHECK(test::count_differences(one, three) == 0);
}

TEST_CASE("thin_lee rejects a mask that is not a volume") {
    Tensor<std::uint8_t> t = Tensor<std::uint8_t>::zeros({1, 2, 3, 4});
    CHECK_THROWS_WITH_AS(thin_lee(t),
                         doctest::Contains("thin_lee: the mask must be a (D,H,W) volume, got shape (1,2,3,4)"),
                         Error);
}
