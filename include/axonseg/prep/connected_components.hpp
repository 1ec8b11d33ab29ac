// Connected components of a binary volume (any non-zero voxel is foreground) under 6-, 18- or
// 26-connectivity, and the removal of small components (step 1 of the fine label, pipeline §3).
// Labels are numbered 1, 2, ... in the raster order (z, then y, then x) of each component's first
// voxel, the numbering of scipy.ndimage.label and skimage.measure.label, so results compare as is.
// Two serial raster passes with a union-find over provisional labels: a 150^3 cube takes a few
// milliseconds, less than a parallel merge of per-thread labels would cost.
#pragma once

#include "axonseg/core/tensor.hpp"

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace axonseg::prep {

// Which voxels touch: sharing a face (6 neighbours), a face or an edge (18), or any corner (26).
enum class Connectivity { face6 = 6, edge18 = 18, vertex26 = 26 };

struct Components {
    Tensor<std::int32_t> labels;  // (D,H,W): 0 for background, 1..count() for the components
    std::vector<Index> sizes;     // sizes[l - 1] is the number of voxels of component l
    Index count() const { return Index(sizes.size()); }
};

namespace detail {

struct Step3 {
    int dz, dy, dx;
};

// The neighbours a raster scan has already visited: the half of the neighbourhood whose first
// non-zero step is negative (3, 9 or 13 of them).
inline std::vector<Step3> earlier_neighbours(Connectivity c) {
    std::vector<Step3> steps;
    for (int dz = -1; dz <= 0; ++dz)
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                const bool earlier = dz < 0 || (dz == 0 && (dy < 0 || (dy == 0 && dx < 0)));
                const int nonzero = (dz != 0) + (dy != 0) + (dx != 0);
                const int max_nonzero = c == Connectivity::face6 ? 1 : c == Connectivity::edge18 ? 2 : 3;
                if (earlier && nonzero <= max_nonzero) steps.push_back({dz, dy, dx});
            }
    return steps;
}

// Disjoint sets of provisional labels 1..n (0 unused); the smaller label becomes the root, so the
// forest, like everything here, depends only on the input.
class LabelSets {
public:
    std::int32_t add() {
        m_parent.push_back(std::int32_t(m_parent.size()));
        return m_parent.back();
    }
    std::int32_t root(std::int32_t l) {
        while (m_parent[l] != l) l = m_parent[l] = m_parent[m_parent[l]];  // path halving
        return l;
    }
    std::int32_t unite(std::int32_t a, std::int32_t b) {
        a = root(a);
        b = root(b);
        if (a > b) std::swap(a, b);
        m_parent[b] = a;
        return a;
    }
    std::size_t size() const { return m_parent.size(); }

private:
    std::vector<std::int32_t> m_parent{0};
};

inline void check_volume(const char* op, const Shape& shape) {
    AXONSEG_CHECK(shape.rank() == 3, op, ": the mask must be a (D,H,W) volume, got shape ", shape);
    AXONSEG_CHECK(shape.numel() < std::numeric_limits<std::int32_t>::max(), op, ": volume ", shape,
                  " has too many voxels for int32 labels");
}

}  // namespace detail

// Labels the components of `mask` (rank 3, any strides; non-zero = foreground).
// Ensures: labels is a new contiguous (D,H,W) tensor numbered in raster order of first voxels,
// sizes[l - 1] counts the voxels labelled l.
inline Components label_components(ConstView<std::uint8_t> mask,
                                   Connectivity c = Connectivity::vertex26) {
    detail::check_volume("label_components", mask.shape());
    AXONSEG_CHECK(c == Connectivity::face6 || c == Connectivity::edge18 || c == Connectivity::vertex26,
                  "label_components: connectivity must be 6, 18 or 26, got ", int(c));
    const Index D = mask.dim(0), H = mask.dim(1), W = mask.dim(2);
    Components out{Tensor<std::int32_t>::zeros(mask.shape()), {}};
    std::int32_t* lab = out.labels.data();  // (D,H,W), contiguous
    const std::vector<detail::Step3> steps = detail::earlier_neighbours(c);
    detail::LabelSets sets;

    // Pass 1: a provisional label per foreground voxel; touching earlier labels are united.
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) {
                if (mask(z, y, x) == 0) continue;
                std::int32_t l = 0;
                for (const detail::Step3& s : steps) {
                    const Index nz = z + s.dz, ny = y + s.dy, nx = x + s.dx;
                    if (nz < 0 || ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
                    const std::int32_t n = lab[(nz * H + ny) * W + nx];
                    if (n != 0) l = l == 0 ? sets.root(n) : sets.unite(l, n);
                }
                lab[(z * H + y) * W + x] = l != 0 ? l : sets.add();
            }

    // Pass 2: final labels in order of first appearance, and the sizes.
    std::vector<std::int32_t> final_label(sets.size(), 0);
    for (Index i = 0; i < mask.numel(); ++i) {
        if (lab[i] == 0) continue;
        std::int32_t& f = final_label[sets.root(lab[i])];
        if (f == 0) {
            out.sizes.push_back(0);
            f = std::int32_t(out.sizes.size());
        }
        lab[i] = f;
        ++out.sizes[f - 1];
    }
    return out;
}

// Sets to 0 every voxel of a component with fewer than `min_size` voxels (rank-3 mask, any
// strides, in place); voxels of components of min_size or more keep their value.
inline void remove_small_components(TensorView<std::uint8_t> mask, Index min_size,
                                    Connectivity c = Connectivity::vertex26) {
    AXONSEG_CHECK(min_size >= 0, "remove_small_components: min_size must be >= 0, got ", min_size);
    const Components comp = label_components(mask, c);
    const Index D = mask.dim(0), H = mask.dim(1), W = mask.dim(2);
    const std::int32_t* lab = comp.labels.data();  // (D,H,W)
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) {
                const std::int32_t l = lab[(z * H + y) * W + x];
                if (l != 0 && comp.sizes[l - 1] < min_size) mask(z, y, x) = 0;
            }
}

}  // namespace axonseg::prep
