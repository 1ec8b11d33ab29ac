// Local contrast weakening (pipeline §4.7): around a few random axon voxels, pull intensities
// towards the local mean, most at the centre, so that the network also sees faint axons.
// D-LMBmap describes this step but never runs it (it looks for label value 255 after the label
// became 0/1, and a bare except hides the failure); here it runs, and can be switched off.
#pragma once

#include "axonseg/augment/random.hpp"
#include "axonseg/augment/sample.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace axonseg::augment {

// Weakens the contrast inside the cube [c - radius, c + radius) around centre c (a voxel at least
// `radius` from every border): v += (1 - min(r, radius) / radius) * strength * (mean - v), r the
// distance to c and mean the cube's mean before the change.
inline void weaken_contrast(TensorView<float> image, const Index3& c, Index radius, double strength) {
    AXONSEG_CHECK(image.rank() == 3 && radius > 0, "weaken_contrast: image ", image.shape(), ", radius ", radius);
    for (int a = 0; a < 3; ++a)
        AXONSEG_CHECK(c[a] >= radius && c[a] + radius <= image.dim(a), "weaken_contrast: centre ", c,
                      " is closer than ", radius, " to a border of ", image.shape());
    const TensorView<float> cube =
        image.box({c.d - radius, c.h - radius, c.w - radius}, {2 * radius, 2 * radius, 2 * radius});
    double sum = 0;
    for_each_offsets(cube.shape(), [&](Index o) { sum += cube.data()[o]; }, cube.strides());
    const double mean = sum / double(cube.numel());
    for (Index z = 0; z < 2 * radius; ++z)
        for (Index y = 0; y < 2 * radius; ++y)
            for (Index x = 0; x < 2 * radius; ++x) {
                const double dz = double(z - radius), dy = double(y - radius), dx = double(x - radius);
                const double r = std::sqrt(dz * dz + dy * dy + dx * dx);
                const double weight = (1.0 - std::min(r, double(radius)) / double(radius)) * strength;
                float& v = cube(z, y, x);
                v = float(v + weight * (mean - v));
            }
}

// `spots` centres drawn uniformly (with replacement) from the label's foreground voxels that lie at
// least `radius` from every border, each weakened in turn. Nothing happens when there are none.
struct LocalContrastWeakening {
    int spots = 4;
    Index radius = 25;
    double strength = 0.65;

    void operator()(Sample& s, Rng& rng) const {
        check_sample("LocalContrastWeakening", s);
        const Index D = s.label.dim(0), H = s.label.dim(1), W = s.label.dim(2);
        std::vector<Index3> candidates;
        for (Index z = radius; z + radius <= D; ++z)
            for (Index y = radius; y + radius <= H; ++y)
                for (Index x = radius; x + radius <= W; ++x)
                    if (s.label(z, y, x)) candidates.push_back({z, y, x});
        if (candidates.empty()) return;
        for (int i = 0; i < spots; ++i) {
            const Index3 c = candidates[std::size_t(uniform_int(rng, 0, Index(candidates.size()) - 1))];
            weaken_contrast(s.image, c, radius, strength);
        }
    }
};

}  // namespace axonseg::augment
