// Synthetic axons, part 1 (geometry and rendering): smooth random 3-d curves traced as random walks
// with momentum, with slowly varying radius and brightness and occasional branches, then rasterised
// into the exact ground truth (a 0/255 tube mask and a 0/255 one-voxel centreline) and into the
// noise-free axon signal that the imaging step (prep/synth_imaging.hpp) blurs and degrades.
// The decision a reader would get wrong: curves are sampled every half voxel, so the rounded
// centre points form a 26-connected line, and a radius of at least 1 puts every centreline voxel
// (at most sqrt(3)/2 from its sample) inside the mask; the tests check both as laws.
#pragma once

#include "axonseg/core/error.hpp"
#include "axonseg/core/parallel.hpp"
#include "axonseg/core/shape.hpp"
#include "axonseg/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

namespace axonseg::prep {

using SynthRng = std::mt19937_64;

constexpr double k_synth_step = 0.5;  // voxels between consecutive centre samples

// One centre sample of an axon: position (voxel coordinates), tube radius and brightness above
// background (ADU before the point-spread blur).
struct AxonSample {
    double z = 0, y = 0, x = 0, radius = 1, brightness = 0;
};

// The tissue's edge: tissue is where the distance to the centre (z, y, x) exceeds `radius` plus a
// ragged wobble. The centre lies beyond a corner of the volume so that only that corner is cut off
// (as in the brain example); `present` false means the whole volume is tissue.
// The wobble is a sum of sinusoids of the position along the edge (the unit (y, x) direction
// tangent) and of z. It is tapered to 0 from `reach` (at least the wobble's largest size) away from
// the smooth surface on, where it would not show, so that most voxels skip the sines.
struct TissueEdge {
    static constexpr int k_wobbles = 4;
    bool present = false;
    double z = 0, y = 0, x = 0, radius = 0;
    double tangent_y = 0, tangent_x = 0, reach = 1;
    double amp[k_wobbles] = {}, freq[k_wobbles] = {}, z_freq[k_wobbles] = {}, phase[k_wobbles] = {};

    double distance_outside(double pz, double py, double px) const {  // > 0 inside tissue
        if (!present) return 1e30;
        const double smooth = std::sqrt((pz - z) * (pz - z) + (py - y) * (py - y) + (px - x) * (px - x)) - radius;
        const double taper = 1 - std::abs(smooth) / reach;
        if (taper <= 0) return smooth;
        const double along = py * tangent_y + px * tangent_x;
        double wobble = 0;
        for (int k = 0; k < k_wobbles; ++k) wobble += amp[k] * std::sin(freq[k] * along + z_freq[k] * pz + phase[k]);
        return smooth - taper * taper * wobble;
    }
};

struct Vec3 {
    double z = 0, y = 0, x = 0;
};

struct CurveParams {
    Index3 shape;                 // (D,H,W) of the volume the curves live in
    double total_length = 0;      // trace until this much centreline (voxels) lies inside
    double radius_min = 1.0;      // tube radii, drawn per axon, most near radius_min
    double radius_max = 3.0;
    double brightness = 5000;     // median brightness above background (log-normal per axon, within 2.5 sigma)
    double branch_rate = 1.0 / 200;  // branches per voxel of length
    Vec3 axis{0, 0, 1};           // the bundle's direction (unit length)
    double alignment = 0;         // 0: directions isotropic; 1: axons start along ±axis and keep to it
    // > 0: axons crowd towards the tissue edge, as in the brain example: a start point at depth t
    // inside the tissue is kept with probability crowd_floor + (1 - crowd_floor) exp(-t / crowd_depth).
    double crowd_depth = 0;
    double crowd_floor = 1;
    // > 0: each traced piece (either half of an axon, or a branch) ends after an exponentially
    // distributed length of this mean, voxels, as axons turn out of a thin slab; so crowded starts
    // make a crowded region instead of long axons spread over the whole volume. 0: no limit.
    double piece_length = 0;
};

namespace detail {

inline Vec3 normalised(Vec3 v) {
    const double n = std::sqrt(v.z * v.z + v.y * v.y + v.x * v.x);
    return n > 0 ? Vec3{v.z / n, v.y / n, v.x / n} : Vec3{0, 0, 1};
}

inline Vec3 random_direction(SynthRng& rng) {
    std::normal_distribution<double> g(0.0, 1.0);
    return normalised({g(rng), g(rng), g(rng)});
}

inline bool inside_volume(const Index3& s, double z, double y, double x) {
    return z > -0.5 && y > -0.5 && x > -0.5 && z < double(s.d) - 0.5 && y < double(s.h) - 0.5 &&
           x < double(s.w) - 0.5;
}

// A pending trace: a start point and direction with the parent's radius and brightness.
struct TraceStart {
    Vec3 p, dir;
    double radius, brightness;
};

// Walks from `start` with momentum: each step turns the direction by a small Gaussian kick, so
// curvature is smooth; radius and brightness follow mean-reverting random walks (varicosities,
// uneven labelling). Stops where the curve leaves the volume or the tissue, or after max_steps.
// Branch starts are appended to `pending` (so `start` is taken by value: it may be an element of
// `pending`); returns the samples inside the volume.
inline std::vector<AxonSample> trace_one(TraceStart start, const CurveParams& p, const TissueEdge& edge,
                                         Index max_steps, SynthRng& rng, std::vector<TraceStart>& pending) {
    std::normal_distribution<double> g(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    constexpr double k_turn = 0.08;        // direction kick per step: a bend over tens of voxels
    constexpr double k_reversion = 0.02;   // pull of radius and brightness back to the axon's own
    constexpr double k_pull = 0.03;        // turn towards the bundle axis per step at alignment 1
    std::vector<AxonSample> samples;
    Vec3 pos = start.p, dir = start.dir;
    double log_r = std::log(start.radius), log_b = std::log(start.brightness);
    const double log_r0 = log_r, log_b0 = log_b;
    for (Index step = 0; step < max_steps; ++step) {
        if (!inside_volume(p.shape, pos.z, pos.y, pos.x) || edge.distance_outside(pos.z, pos.y, pos.x) <= 0) break;
        const double r = std::clamp(std::exp(log_r), p.radius_min, p.radius_max);
        samples.push_back({pos.z, pos.y, pos.x, r, std::exp(log_b)});
        if (u(rng) < p.branch_rate * k_synth_step) {
            // A branch leaves at 25-60 degrees, thinner and dimmer than its parent.
            const Vec3 side = random_direction(rng);
            const double angle = (25.0 + 35.0 * u(rng)) * std::numbers::pi / 180.0, t = std::tan(angle);
            pending.push_back({pos, normalised({dir.z + t * side.z, dir.y + t * side.y, dir.x + t * side.x}),
                               std::max(p.radius_min, 0.8 * r), 0.8 * std::exp(log_b)});
        }
        // A weak pull towards ±axis (whichever is nearer) keeps aligned axons in their bundle.
        const Vec3& a = p.axis;
        const double pull = k_pull * p.alignment * (dir.z * a.z + dir.y * a.y + dir.x * a.x >= 0 ? 1.0 : -1.0);
        dir = normalised({dir.z + pull * a.z + k_turn * g(rng), dir.y + pull * a.y + k_turn * g(rng),
                          dir.x + pull * a.x + k_turn * g(rng)});
        log_r += k_reversion * (log_r0 - log_r) + 0.03 * g(rng);
        log_b += k_reversion * (log_b0 - log_b) + 0.1 * g(rng);
        pos = {pos.z + k_synth_step * dir.z, pos.y + k_synth_step * dir.y, pos.x + k_synth_step * dir.x};
    }
    return samples;
}

}  // namespace detail

// Traces axons until their centrelines inside the volume add up to p.total_length voxels. Each axon
// starts at a uniformly drawn point of tissue and is traced both ways; its branches are traced
// after it. Requires a shape of at least 1 voxel per axis. Ensures every sample lies inside the
// volume and the tissue; the result depends only on the state of rng.
inline std::vector<std::vector<AxonSample>> trace_axons(const CurveParams& p, const TissueEdge& edge, SynthRng& rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> g(0.0, 1.0);
    const Index3& s = p.shape;
    const Index max_steps = Index(4.0 * double(std::max({s.d, s.h, s.w})) / k_synth_step) + 8;
    std::exponential_distribution<double> piece(p.piece_length > 0 ? k_synth_step / p.piece_length : 1.0);
    const auto steps = [&] { return p.piece_length > 0 ? std::min(max_steps, Index(piece(rng)) + 1) : max_steps; };
    std::vector<std::vector<AxonSample>> curves;
    double length = 0;
    // Drawing a start point can fail only inside the cut-off corner (the edge never covers it all)
    // or by crowding, which keeps at least crowd_floor > 0 of them.
    while (length < p.total_length) {
        Vec3 start{u(rng) * double(s.d) - 0.5, u(rng) * double(s.h) - 0.5, u(rng) * double(s.w) - 0.5};
        const double depth = edge.distance_outside(start.z, start.y, start.x);
        if (depth <= 0 || !detail::inside_volume(s, start.z, start.y, start.x)) continue;
        if (p.crowd_depth > 0 &&
            u(rng) >= p.crowd_floor + (1 - p.crowd_floor) * std::exp(-depth / p.crowd_depth))
            continue;
        const double skew = u(rng);
        const double radius = p.radius_min + (p.radius_max - p.radius_min) * std::pow(skew, 4.0);
        const double brightness = p.brightness * std::exp(0.6 * std::clamp(g(rng), -2.5, 2.5));  // no runaway tail
        const Vec3 r = detail::random_direction(rng), a = p.axis;
        const double w = p.alignment * (r.z * a.z + r.y * a.y + r.x * a.x >= 0 ? 1.0 : -1.0);
        const Vec3 dir = detail::normalised({w * a.z + (1 - p.alignment) * r.z, w * a.y + (1 - p.alignment) * r.y,
                                             w * a.x + (1 - p.alignment) * r.x});
        std::vector<detail::TraceStart> pending;
        // Forward half, then the backward half joined in front of it (reversed), one curve.
        std::vector<AxonSample> forward =
            detail::trace_one({start, dir, radius, brightness}, p, edge, steps(), rng, pending);
        std::vector<AxonSample> backward = detail::trace_one(
            {start, {-dir.z, -dir.y, -dir.x}, radius, brightness}, p, edge, steps(), rng, pending);
        std::reverse(backward.begin(), backward.end());
        if (!backward.empty()) backward.pop_back();  // the shared start sample
        backward.insert(backward.end(), forward.begin(), forward.end());
        length += double(backward.size()) * k_synth_step;
        curves.push_back(std::move(backward));
        for (std::size_t i = 0; i < pending.size() && length < p.total_length; ++i) {
            std::vector<AxonSample> branch = detail::trace_one(pending[i], p, edge, steps(), rng, pending);
            length += double(branch.size()) * k_synth_step;
            if (!branch.empty()) curves.push_back(std::move(branch));
        }
    }
    return curves;
}

// Rasterises the curves: label (D,H,W) gets 255 at every voxel whose centre lies within a sample's
// radius, centerline (D,H,W) 255 at every sample's nearest voxel, and signal (D,H,W) the largest
// brightness of the tubes covering a voxel, falling off linearly over the voxel centred on the tube
// wall (a partial-volume edge, before the point-spread blur: a radius-1 axon is 2 voxels wide at
// half maximum, as the brain example's thin axons are). Requires the three zero-filled and
// contiguous. Slabs of z in parallel; each voxel's value is a maximum, so it is independent of order.
inline void render_axons(const std::vector<std::vector<AxonSample>>& curves, TensorView<std::uint8_t> label,
                         TensorView<std::uint8_t> centerline, TensorView<float> signal) {
    const Index d = label.dim(0), h = label.dim(1), w = label.dim(2);
    parallel_chunks(0, d, [&](Index z_begin, Index z_end, int) {
        for (const std::vector<AxonSample>& curve : curves)
            for (const AxonSample& a : curve) {
                const double reach = a.radius + 0.5;
                const Index z0 = std::max(z_begin, Index(std::ceil(a.z - reach)));
                const Index z1 = std::min(z_end - 1, Index(std::floor(a.z + reach)));
                if (z0 > z1) continue;
                const Index y0 = std::max<Index>(0, Index(std::ceil(a.y - reach)));
                const Index y1 = std::min(h - 1, Index(std::floor(a.y + reach)));
                const Index x0 = std::max<Index>(0, Index(std::ceil(a.x - reach)));
                const Index x1 = std::min(w - 1, Index(std::floor(a.x + reach)));
                for (Index z = z0; z <= z1; ++z)
                    for (Index y = y0; y <= y1; ++y)
                        for (Index x = x0; x <= x1; ++x) {
                            const double dz = double(z) - a.z, dy = double(y) - a.y, dx = double(x) - a.x;
                            const double dist = std::sqrt(dz * dz + dy * dy + dx * dx);
                            if (dist > reach) continue;
                            if (dist <= a.radius) label(z, y, x) = 255;
                            const float v = float(a.brightness * std::min(1.0, reach - dist));
                            signal(z, y, x) = std::max(signal(z, y, x), v);
                        }
                const Index cz = Index(std::lround(a.z));
                if (cz >= z_begin && cz < z_end) centerline(cz, std::lround(a.y), std::lround(a.x)) = 255;
            }
    });
}

}  // namespace axonseg::prep
