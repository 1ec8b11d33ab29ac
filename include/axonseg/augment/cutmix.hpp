// CutMix with artefact cubes (pipeline §4.5): the corner block [0, z) x [0, y) x [0, x) of an axon
// cube is replaced by the same block of a cube of bright junk, and its label there cleared, so the
// network learns that junk beside axons is background.
#pragma once

#include "axonseg/augment/random.hpp"
#include "axonseg/augment/sample.hpp"

#include <algorithm>

namespace axonseg::augment {

// Replaces s's block [0, corner) by artefact's and zeroes the label there. The corner must lie in
// both volumes (each coordinate <= both sizes on its axis).
inline void cutmix(Sample& s, TensorView<const float> artefact, const Index3& corner) {
    check_sample("cutmix", s);
    AXONSEG_CHECK(artefact.rank() == 3, "cutmix: artefact ", artefact.shape(), " must be (D,H,W)");
    for (int a = 0; a < 3; ++a)
        AXONSEG_CHECK(corner[a] >= 0 && corner[a] <= s.image.dim(a) && corner[a] <= artefact.dim(a), "cutmix: corner ",
                      corner, " leaves the cube ", s.image.shape(), " or the artefact ", artefact.shape());
    for (Index z = 0; z < corner.d; ++z)
        for (Index y = 0; y < corner.h; ++y)
            for (Index x = 0; x < corner.w; ++x) {
                s.image(z, y, x) = artefact(z, y, x);
                s.label(z, y, x) = 0;
            }
}

// A corner drawn uniformly per axis from 0 to the smaller of the two sizes, both included (the
// original draws up to the axon cube's size and fails when the artefact cube is smaller).
inline Index3 random_cutmix_corner(const Shape& cube, const Shape& artefact, Rng& rng) {
    Index c[3];
    for (int a = 0; a < 3; ++a) c[a] = uniform_int(rng, 0, std::min(cube[a], artefact[a]));
    return {c[0], c[1], c[2]};
}

}  // namespace axonseg::augment
