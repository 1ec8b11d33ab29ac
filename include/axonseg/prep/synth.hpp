// Synthetic light-sheet axon volumes with exact ground truth, for tests, the demo, benchmarks and
// the bundled model: geometry (prep/synth_curves.hpp) → rendering → imaging
// (prep/synth_imaging.hpp). docs/synthetic_data.md describes the model and compares it with the
// D-LMBmap brain example its defaults are fitted to (tools/compare_synth.py): uint16, a dark medium
// in one corner, a glowing tissue edge, dense thin axons, ~0.1 % saturated.
// The decision a reader would get wrong: everything comes from one std::mt19937_64 seeded with
// params.seed and drawn in a fixed order (tissue edge, bundle axis, axons, blobs, fields, stripes,
// one noise seed per slice), so one seed gives byte-identical volumes on any thread count with the
// same standard library (std:: distributions are implementation-defined, so not across libraries).
#pragma once

#include "axonseg/prep/synth_curves.hpp"
#include "axonseg/prep/synth_imaging.hpp"

#include <cstdint>

namespace axonseg::prep {

// Blobs per voxel at artifacts 1, and their typical peak (ADU): some saturate, few (see add_blobs).
constexpr double k_voxels_per_blob = 4e6;
constexpr double k_blob_peak = 80000;
// The tissue edge at artifacts 1, fitted to the brain example (docs/synthetic_data.md). Lengths
// are fractions of the edge scale, k_glow_depth × the smaller of H and W (90 voxels at 600), so a
// smaller volume shows the same picture at a smaller scale.
constexpr double k_glow_depth = 0.15;
constexpr double k_glow_peak = 14.0;     // the light at the edge: 1 + this, fading as exp(-depth / scale)
constexpr double k_rim_peak = 25.0;      // × background: the cut surface, in patches, so some saturates
constexpr double k_rim_depth = 1.5, k_rim_width = 1.5;  // voxels: the rim's Gaussian across the edge
constexpr double k_medium = 0.55;        // × background: the empty medium beyond the edge
constexpr double k_halo = 1.0, k_halo_depth = 0.3;  // light scattered into the medium: × medium, × scale
constexpr double k_edge_softness = 12;   // voxels from medium to tissue: out-of-focus light smears it
constexpr double k_edge_wobble = 0.15;   // × scale: each of the edge's four wobbles at most
constexpr double k_crowd_floor = 0.1;    // axon starts deep inside are kept this often (1 at the edge)
constexpr double k_piece_length = 1.5;   // × scale: the mean length of an axon piece

struct SynthParams {
    Index3 shape{64, 64, 64};  // (D,H,W) = (Z,Y,X), at least 1 each
    std::uint64_t seed = 1;
    double density = 11.0;     // axon centreline length per 1000 voxels (11: ~7 % of voxels labelled)
    double artifacts = 1.0;    // scales stripes, blobs and the tissue edge (glow, rim); 0: none of them
    double alignment = 0.7;    // 0: axon directions isotropic; 1: all along one bundle direction
    double radius_min = 1.0;   // tube radii in voxels (>= 1, see synth_curves.hpp)
    double radius_max = 3.0;
    double brightness = 1700;  // median axon brightness above background, ADU before blurring
    double background = 1600;  // mean tissue background, ADU above the camera offset
    double psf_sigma_z = 1.8;  // point-spread standard deviations, voxels
    double psf_sigma_yx = 0.5;
    Camera camera{};
};

struct SynthVolume {
    Tensor<std::uint16_t> volume;     // (D,H,W) the image
    Tensor<std::uint8_t> label;       // (D,H,W) 255 within an axon's radius of its centreline, else 0
    Tensor<std::uint8_t> centerline;  // (D,H,W) 255 on the rasterised centre curves, else 0
};

inline void check_synth_params(const SynthParams& p) {
    const Index3& s = p.shape;
    AXONSEG_CHECK(s.d >= 1 && s.h >= 1 && s.w >= 1, "synthesize: shape ", s,
                  " must be at least 1 voxel along every axis");
    AXONSEG_CHECK(p.density >= 0 && std::isfinite(p.density), "synthesize: density ", p.density,
                  " must be a finite number >= 0");
    AXONSEG_CHECK(p.artifacts >= 0 && std::isfinite(p.artifacts), "synthesize: artifacts ", p.artifacts,
                  " must be a finite number >= 0");
    AXONSEG_CHECK(p.alignment >= 0 && p.alignment <= 1, "synthesize: alignment ", p.alignment,
                  " must lie in [0, 1]");
    AXONSEG_CHECK(p.radius_min >= 1 && p.radius_max >= p.radius_min, "synthesize: radii [", p.radius_min, ", ",
                  p.radius_max, "] must satisfy 1 <= radius_min <= radius_max");
    AXONSEG_CHECK(p.psf_sigma_z >= 0 && p.psf_sigma_yx >= 0 && p.background > 0 && p.brightness > 0 &&
                      p.camera.gain > 0 && p.camera.read_noise >= 0,
                  "synthesize: psf sigmas (", p.psf_sigma_z, ", ", p.psf_sigma_yx, ") and read noise ",
                  p.camera.read_noise, " must be >= 0, background ", p.background, ", brightness ",
                  p.brightness, " and gain ", p.camera.gain, " > 0");
}

namespace detail {

// The edge cuts off one corner of the (Y,X) plane through all of Z, as the brain example's tissue
// surface does: the centre of a large sphere lies beyond the corner, so the edge is gently curved,
// and the cut reaches 22-32 % of the smaller side into the volume along the diagonal. It is
// ragged: four wobbles of 1-4 edge scales' wavelength along it (and slower along z), together
// nominally up to 0.6 edge scale deep.
inline TissueEdge draw_tissue_edge(Index3 s, double scale, SynthRng& rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const int corner = int(u(rng) * 4) & 3;
    const double cy = corner & 1 ? double(s.h) : -1.0, cx = corner & 2 ? double(s.w) : -1.0;
    const double sy = corner & 1 ? 1.0 : -1.0, sx = corner & 2 ? 1.0 : -1.0;  // outwards
    const double far = 1.5 * double(std::max(s.h, s.w)) + 10.0;
    const double cut = (0.22 + 0.10 * u(rng)) * double(std::min(s.h, s.w)) + 1.0;
    TissueEdge e{.present = true, .z = 0.5 * double(s.d), .y = cy + sy * far / std::sqrt(2.0),
                 .x = cx + sx * far / std::sqrt(2.0), .radius = 0};
    e.radius = e.distance_outside(e.z, cy, cx) + cut;
    e.tangent_y = sx / std::sqrt(2.0);
    e.tangent_x = -sy / std::sqrt(2.0);
    double total = 0;
    for (int k = 0; k < TissueEdge::k_wobbles; ++k) {
        e.amp[k] = k_edge_wobble * scale * u(rng);
        e.freq[k] = 2 * std::numbers::pi / ((1.0 + 3.0 * u(rng)) * scale);
        e.z_freq[k] = 2 * std::numbers::pi / ((2.0 + 4.0 * u(rng)) * scale);
        e.phase[k] = 2 * std::numbers::pi * u(rng);
        total += e.amp[k];
    }
    e.reach = 2 * total + 1;
    return e;
}

// The image without noise, in ADU above the camera offset, as the brain example shows it: in the
// tissue, background × a low-frequency field × texture plus the blurred axons and blobs, all lit
// more brightly near the edge (the light sheet is scattered away with depth: a glow that fades
// over glow_depth); along the edge a thin rim of cut tissue surface, bright in patches (some
// saturate); beyond it the dim empty medium, lit by a halo of light scattered out of the tissue;
// all × the stripes' gain.
// Without an edge, depth is 1e30: no glow, no rim, all tissue.
struct SynthScene {
    TissueEdge edge;
    double background = 0, medium = 0, glow = 0, glow_depth = 1, halo = 0, rim = 0;
    SmoothField low, texture, patches;
    Tensor<float> stripes;  // (D,W), all 1 without artefacts

    double mean(Index z, Index y, Index x, float blurred) const {
        const double depth = edge.distance_outside(double(z), double(y), double(x));
        const double t = std::clamp(0.5 + depth / k_edge_softness, 0.0, 1.0);  // tissue weight
        const double tex = texture.eval(z, y, x);
        const double light = 1 + glow * std::exp(-std::max(depth, 0.0) / glow_depth);
        const double tissue = light * (background * low.eval(z, y, x) * tex + double(blurred));
        const double outside = medium * tex * (1 + halo * std::exp(std::min(depth, 0.0) / (k_halo_depth * glow_depth)));
        const double r = (depth - k_rim_depth) / k_rim_width;
        const double surface = std::abs(r) < 4 ? rim * patches.eval(z, y, x) * std::exp(-0.5 * r * r) : 0.0;
        return double(stripes(z, x)) * (t * tissue + (1 - t) * (outside + double(blurred)) + surface);
    }
};

}  // namespace detail

// Generates a volume of p.shape with its exact ground truth; see SynthParams for the knobs.
// Throws naming the bad parameter. Ensures: label ⊇ centerline, both 0/255; the same p gives
// byte-identical output.
inline SynthVolume synthesize(const SynthParams& p) {
    check_synth_params(p);
    const Index3& s = p.shape;
    const Shape shape{s.d, s.h, s.w};
    SynthRng rng(p.seed);
    const double edge_scale = k_glow_depth * double(std::min(s.h, s.w));  // glow, crowding, wobble: voxels
    const TissueEdge edge = p.artifacts > 0 ? detail::draw_tissue_edge(s, edge_scale, rng) : TissueEdge{};

    // Geometry and rendering. Bundles run mostly within the slice plane (a tilt of at most ~9°) and,
    // where there is an edge, along it (within ±20°), crowding towards it: as the brain example's do.
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double along_edge = std::atan2(edge.x - 0.5 * double(s.w), 0.5 * double(s.h) - edge.y);
    const double heading = edge.present ? along_edge + 0.7 * (u(rng) - 0.5) : 2 * std::numbers::pi * u(rng);
    const double tilt = 0.3 * (u(rng) - 0.5);
    const Vec3 axis{std::sin(tilt), std::cos(tilt) * std::sin(heading), std::cos(tilt) * std::cos(heading)};
    const CurveParams curve_params{.shape = s,
                                   .total_length = p.density * double(shape.numel()) / 1000.0,
                                   .radius_min = p.radius_min,
                                   .radius_max = p.radius_max,
                                   .brightness = p.brightness,
                                   .axis = axis,
                                   .alignment = p.alignment,
                                   .crowd_depth = edge.present ? edge_scale : 0,
                                   .crowd_floor = k_crowd_floor,
                                   .piece_length = edge.present ? k_piece_length * edge_scale : 0};
    const std::vector<std::vector<AxonSample>> curves = trace_axons(curve_params, edge, rng);
    SynthVolume out{Tensor<std::uint16_t>(shape), Tensor<std::uint8_t>::zeros(shape),
                    Tensor<std::uint8_t>::zeros(shape)};
    Tensor<float> signal = Tensor<float>::zeros(shape);  // (D,H,W) axons and blobs, ADU
    render_axons(curves, out.label, out.centerline, signal);

    // Imaging.
    const Index blobs =
        p.artifacts > 0 ? std::max<Index>(1, std::llround(p.artifacts * double(shape.numel()) / k_voxels_per_blob)) : 0;
    blur_psf(signal, p.psf_sigma_z, p.psf_sigma_yx);
    add_blobs(signal, blobs, k_blob_peak, rng);  // after the blur: their Gaussians are the blurred shape
    const double max_side = double(std::max({s.d, s.h, s.w}));
    const double a = std::min(p.artifacts, 3.0);
    detail::SynthScene scene{.edge = edge,
                             .background = p.background,
                             .medium = k_medium * p.background,
                             .glow = k_glow_peak * a,
                             .glow_depth = std::max(1.0, edge_scale),
                             .halo = k_halo * a,
                             .rim = k_rim_peak * a * p.background,
                             .low = SmoothField(s, std::max(8.0, max_side / 2), 0.25, rng),
                             .texture = SmoothField(s, 6.0, 0.06, rng),
                             .patches = SmoothField(s, 5.0, 0.8, rng),
                             .stripes = stripe_gains(s, 0.04 * a, rng)};
    std::vector<std::uint64_t> slice_seeds(std::size_t(s.d));
    for (std::uint64_t& seed : slice_seeds) seed = rng();
    parallel_for(0, s.d, [&](Index z) {
        SynthRng slice_rng(slice_seeds[std::size_t(z)]);
        for (Index y = 0; y < s.h; ++y)
            for (Index x = 0; x < s.w; ++x)
                out.volume(z, y, x) = p.camera.expose(scene.mean(z, y, x, signal(z, y, x)), slice_rng);
    });
    return out;
}

}  // namespace axonseg::prep
