// Connected components: hand-made volumes under 6/18/26-connectivity, the union-find labelling
// against a plain flood fill on random volumes (a law over many inputs), small-component removal.
#include "support/checks.hpp"

#include "axonseg/prep/connected_components.hpp"

#include <deque>
#include <random>

using namespace axonseg;
using namespace axonseg::prep;

namespace {

Tensor<std::uint8_t> volume_with(const Shape& shape, std::initializer_list<std::array<Index, 3>> voxels,
                                 std::uint8_t value = 1) {
    Tensor<std::uint8_t> v = Tensor<std::uint8_t>::zeros(shape);
    for (const auto& p : voxels) v(p[0], p[1], p[2]) = value;
    return v;
}

Tensor<std::uint8_t> random_mask(const Shape& shape, double density, std::uint64_t seed) {
    Tensor<std::uint8_t> v(shape);
    std::mt19937_64 rng(seed);
    std::bernoulli_distribution fg(density);
    for (Index i = 0; i < v.numel(); ++i) v.data()[i] = fg(rng) ? 255 : 0;
    return v;
}

// The specification: flood fill from each unlabelled foreground voxel in raster order.
Tensor<std::int32_t> flood_labels(ConstView<std::uint8_t> m, Connectivity c) {
    const Index D = m.dim(0), H = m.dim(1), W = m.dim(2);
    const int max_steps = c == Connectivity::face6 ? 1 : c == Connectivity::edge18 ? 2 : 3;
    Tensor<std::int32_t> lab = Tensor<std::int32_t>::zeros(m.shape());
    std::int32_t next = 0;
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) {
                if (m(z, y, x) == 0 || lab(z, y, x) != 0) continue;
                lab(z, y, x) = ++next;
                std::deque<std::array<Index, 3>> queue{{z, y, x}};
                while (!queue.empty()) {
                    const auto [a, b, d] = queue.front();
                    queue.pop_front();
                    for (int dz = -1; dz <= 1; ++dz)
                        for (int dy = -1; dy <= 1; ++dy)
                            for (int dx = -1; dx <= 1; ++dx) {
                                const Index nz = a + dz, ny = b + dy, nx = d + dx;
                                if ((dz != 0) + (dy != 0) + (dx != 0) > max_steps) continue;
                                if (nz < 0 || nz >= D || ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
                                if (m(nz, ny, nx) == 0 || lab(nz, ny, nx) != 0) continue;
                                lab(nz, ny, nx) = next;
                                queue.push_back({nz, ny, nx});
                            }
                }
            }
    return lab;
}

const Connectivity k_all[] = {Connectivity::face6, Connectivity::edge18, Connectivity::vertex26};

}  // namespace

TEST_CASE("two voxels touching at a face, an edge or a corner") {
    const Shape shape{3, 3, 3};
    // {second voxel, components under 6, 18, 26}
    const struct {
        std::array<Index, 3> other;
        Index count[3];
    } cases[] = {{{1, 1, 2}, {1, 1, 1}}, {{1, 2, 2}, {2, 1, 1}}, {{2, 2, 2}, {2, 2, 1}},
                 {{1, 1, 1}, {1, 1, 1}}};
    for (const auto& k : cases) {
        Tensor<std::uint8_t> v = volume_with(shape, {{1, 1, 1}});
        v(k.other[0], k.other[1], k.other[2]) = 255;
        for (int i = 0; i < 3; ++i) {
            const Components comp = label_components(v, k_all[i]);
            INFO("other voxel (", k.other[0], ",", k.other[1], ",", k.other[2], "), connectivity ",
                 int(k_all[i]));
            CHECK(comp.count() == k.count[i]);
            Index total = 0;
            for (Index s : comp.sizes) total += s;
            CHECK(total == (k.other == std::array<Index, 3>{1, 1, 1} ? 1 : 2));
        }
    }
}

TEST_CASE("labels follow the raster order of first voxels; a U merges into one") {
    // Slice 0: a U whose arms start at x = 0 and x = 4 and close at y = 3; an L-shaped
    // component between the arms (x = 2) starts after the left arm in raster order; a lone
    // voxel in slice 1 touches nothing under 6-connectivity but the U's corner under 26.
    Tensor<std::uint8_t> v = volume_with(
        {2, 4, 5}, {{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {0, 3, 0}, {0, 3, 1}, {0, 3, 2}, {0, 3, 3}, {0, 3, 4},
                    {0, 2, 4}, {0, 1, 4}, {0, 0, 4}, {0, 0, 2}, {0, 1, 2}, {1, 2, 1}});
    const Components face = label_components(v, Connectivity::face6);
    REQUIRE(face.count() == 3);
    CHECK(face.labels(0, 0, 0) == 1);
    CHECK(face.labels(0, 0, 4) == 1);
    CHECK(face.labels(0, 0, 2) == 2);
    CHECK(face.labels(1, 2, 1) == 3);
    CHECK(face.sizes == std::vector<Index>{11, 2, 1});
    CHECK(face.labels(1, 0, 0) == 0);
    // The lone voxel touches the U at (0,3,1) and (0,2,0) across edges, the L only at (0,1,2)
    // across a corner.
    const Components edge = label_components(v, Connectivity::edge18);
    CHECK(edge.sizes == std::vector<Index>{12, 2});
    CHECK(edge.labels(1, 2, 1) == 1);
    const Components vertex = label_components(v, Connectivity::vertex26);
    CHECK(vertex.sizes == std::vector<Index>{14});
}

TEST_CASE("labels equal a flood fill's on random volumes, also through a strided view") {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const double density = 0.15 + 0.07 * double(seed);
        Tensor<std::uint8_t> big = random_mask({13, 17, 19}, density, seed);
        for (bool strided : {false, true}) {
            // A sub-box of the big volume is non-contiguous: its rows and slices skip voxels.
            ConstView<std::uint8_t> m =
                strided ? big.box({2, 3, 1}, {9, 11, 15}) : ConstView<std::uint8_t>(big);
            for (Connectivity c : k_all) {
                INFO("seed ", seed, ", connectivity ", int(c), strided ? ", strided" : "");
                const Components comp = label_components(m, c);
                const Tensor<std::int32_t> expected = flood_labels(m, c);
                Index mismatches = 0;
                std::vector<Index> sizes;
                for (Index i = 0; i < expected.numel(); ++i) {
                    mismatches += comp.labels.data()[i] != expected.data()[i];
                    const std::int32_t l = expected.data()[i];
                    if (l > 0) {
                        if (Index(sizes.size()) < l) sizes.resize(std::size_t(l), 0);
                        ++sizes[std::size_t(l - 1)];
                    }
                }
                CHECK(mismatches == 0);
                CHECK(comp.sizes == sizes);
            }
        }
    }
}

TEST_CASE("remove_small_components keeps exactly the components of min_size or more") {
    Tensor<std::uint8_t> mask = random_mask({15, 16, 17}, 0.3, 42);
    mask(0, 0, 0) = 7;  // values of kept voxels stay as they are (here 7 and 255)
    mask(0, 0, 1) = 7;
    for (Connectivity c : k_all)
        for (Index min_size : {0, 1, 2, 5, 10, 30}) {
            Tensor<std::uint8_t> out(mask.shape());
            copy(ConstView<std::uint8_t>(mask), out.view());
            remove_small_components(out, min_size, c);
            const Components comp = label_components(mask, c);
            Index wrong = 0, kept = 0;
            for (Index i = 0; i < mask.numel(); ++i) {
                const std::int32_t l = comp.labels.data()[i];
                const bool keep = l > 0 && comp.sizes[std::size_t(l - 1)] >= min_size;
                wrong += out.data()[i] != (keep ? mask.data()[i] : 0);
                kept += keep;
            }
            INFO("connectivity ", int(c), ", min_size ", min_size, ", kept ", kept);
            CHECK(wrong == 0);
        }
}

TEST_CASE("bad arguments name the operation and what was wrong") {
    Tensor<std::uint8_t> flat = Tensor<std::uint8_t>::zeros({4, 5});
    CHECK_THROWS_WITH_AS(label_components(flat, Connectivity::vertex26),
                         doctest::Contains("label_components: the mask must be a (D,H,W) volume, "
                                           "got shape (4,5)"),
                         Error);
    Tensor<std::uint8_t> v = Tensor<std::uint8_t>::zeros({2, 3, 4});
    CHECK_THROWS_WITH_AS(label_components(v, Connectivity(8)),
                         doctest::Contains("connectivity must be 6, 18 or 26, got 8"), Error);
    CHECK_THROWS_WITH_AS(remove_small_components(v, -1),
                         doctest::Contains("remove_small_components: min_size must be >= 0, got -1"), Error);
}
