// 3-D thinning of Lee, Kashyap and Chu (1994): reduces a binary volume to one-voxel-wide curves
// that keep its loops, cavities and the ends of its branches. Step 2 of the fine label (pipeline
// §3); voxel for voxel what scikit-image's skeletonize does on 3-D input (skeletonize_3d in 0.19,
// method "lee" since: the same code, after Arganda-Carreras' ImageJ port).
// NB: the skeleton depends on the order of deletion, so the order is the specification: passes
// over the six border directions y-, y+, x+, x-, z+, z- (ImageJ's order); in each, the candidates
// of the whole volume as it stood are collected in raster order, then deleted one by one in that
// order if still simple, until a round of all directions deletes nothing.
// NB: that re-check tests simplicity only, not the end-point and Euler conditions, so a candidate
// that earlier deletions left as a line end or alone is deleted too: lines can shorten and small or
// two-voxel-thick components can vanish. scikit-image does the same, and the original's fine
// labels depend on it, so it is kept.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"
#include "axonseg/prep/thinning_tables.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace axonseg::prep {

namespace detail {

// The thinning on a copy of the volume with a one-voxel border of background, so every
// neighbourhood lies inside (outside the volume counts as background, as in scikit-image).
class LeeThinning {
public:
    explicit LeeThinning(ConstView<std::uint8_t> mask)
        : m_depth(mask.dim(0)), m_rows(mask.dim(1) + 2), m_cols(mask.dim(2) + 2),
          m_slice(m_rows * m_cols), m_voxels(std::size_t((m_depth + 2) * m_slice), 0) {
        for (Index z = 0; z < m_depth; ++z)
            for (Index y = 0; y < m_rows - 2; ++y)
                for (Index x = 0; x < m_cols - 2; ++x)
                    if (mask(z, y, x) != 0) {
                        const Index o = padded_offset(z, y, x);
                        m_voxels[std::size_t(o)] = 1;
                        m_foreground.push_back(o);  // raster order, as the scans need
                    }
    }

    void run() {
        // A volume of one slice is thinned in its plane only (scikit-image treats it as 2-D).
        // The step to the neighbour that must be background, per direction: y-, y+, x+, x-, z+, z-.
        const std::array<Index, 6> borders{-m_cols, m_cols, 1, -1, m_slice, -m_slice};
        const int used = m_depth == 1 ? 4 : 6;
        for (int unchanged = 0; unchanged < used;) {
            unchanged = 0;
            for (int b = 0; b < used; ++b) {
                collect_candidates(borders[std::size_t(b)]);
                bool changed = false;
                // Sequential re-check: an earlier deletion in this pass may have made a candidate
                // necessary for connectivity (the reason Lee deletes in two steps).
                for (Index o : m_candidates)
                    if (is_simple(neighbourhood(o))) {
                        m_voxels[std::size_t(o)] = 0;
                        changed = true;
                    }
                if (!changed) {
                    ++unchanged;
                    continue;
                }
                std::erase_if(m_foreground, [&](Index o) { return m_voxels[std::size_t(o)] == 0; });
            }
        }
    }

    // Writes 1 for skeleton voxels and 0 elsewhere.
    void write(TensorView<std::uint8_t> mask) const {
        for (Index z = 0; z < m_depth; ++z)
            for (Index y = 0; y < m_rows - 2; ++y)
                for (Index x = 0; x < m_cols - 2; ++x)
                    mask(z, y, x) = m_voxels[std::size_t(padded_offset(z, y, x))];
    }

private:
    Index padded_offset(Index z, Index y, Index x) const {
        return (z + 1) * m_slice + (y + 1) * m_cols + (x + 1);
    }

    // The 27-bit neighbourhood of the voxel at padded offset o (bit numbering: thinning_tables.hpp):
    // nine rows of three voxels along x.
    std::uint32_t neighbourhood(Index o) const {
        const std::uint8_t* v = m_voxels.data();
        std::uint32_t nb = 0;
        int shift = 0;
        for (Index dz = -1; dz <= 1; ++dz)
            for (Index dy = -1; dy <= 1; ++dy, shift += 3) {
                const std::uint8_t* row = v + o + dz * m_slice + dy * m_cols - 1;
                nb |= std::uint32_t(row[0] | row[1] << 1 | row[2] << 2) << shift;
            }
        return nb;
    }

    // A candidate is a foreground voxel with background one step along `border`, that is no end
    // point, and whose deletion keeps the Euler characteristic and the local connectivity. The
    // volume is only read here, so threads scan equal parts of the foreground list and their
    // finds are joined in thread order: the list is the serial scan's for any thread count.
    void collect_candidates(Index border) {
        const Index n = Index(m_foreground.size());
        auto scan = [&](Index begin, Index end, std::vector<Index>& found) {
            for (Index i = begin; i < end; ++i) {
                const Index o = m_foreground[std::size_t(i)];
                if (m_voxels[std::size_t(o + border)] != 0) continue;
                const std::uint32_t nb = neighbourhood(o);
                if (!is_end_point(nb) && is_euler_invariant(nb) && is_simple(nb)) found.push_back(o);
            }
        };
        m_candidates.clear();
        if (n < k_parallel_voxels) {
            scan(0, n, m_candidates);
            return;
        }
        m_found.resize(std::size_t(thread_count()));
        for (std::vector<Index>& f : m_found) f.clear();
        parallel_chunks(0, n, [&](Index begin, Index end, int t) {
            scan(begin, end, m_found[std::size_t(t)]);
        });
        for (const std::vector<Index>& f : m_found)
            m_candidates.insert(m_candidates.end(), f.begin(), f.end());
    }

    // Below this many foreground voxels a scan takes well under a millisecond and one thread is
    // faster than starting a team (a 150^3 rough label has ~2 * 10^4; the passes run by the dozen).
    static constexpr Index k_parallel_voxels = Index(1) << 15;

    Index m_depth, m_rows, m_cols, m_slice;  // m_rows, m_cols include the border
    std::vector<std::uint8_t> m_voxels;       // (D+2,H+2,W+2): 1 foreground, 0 background
    std::vector<Index> m_foreground;          // padded offsets of foreground voxels, ascending
    std::vector<Index> m_candidates;          // of the current border direction, ascending
    std::vector<std::vector<Index>> m_found;  // per thread, while collecting
};

}  // namespace detail

// Thins `mask` in place (rank 3 (D,H,W), any strides; any non-zero voxel is foreground, so 0/1 and
// 0/255 masks both work). Ensures: skeleton voxels are 1, all others 0; the skeleton is a subset
// of the foreground (with its loops and cavities, but see the re-check note above).
// Runs the border scans on thread_count() threads; the result does not depend on it.
inline void thin_lee(TensorView<std::uint8_t> mask) {
    AXONSEG_CHECK(mask.rank() == 3, "thin_lee: the mask must be a (D,H,W) volume, got shape ", mask.shape());
    if (mask.empty()) return;
    detail::LeeThinning thinning(mask);
    thinning.run();
    thinning.write(mask);
}

}  // namespace axonseg::prep
