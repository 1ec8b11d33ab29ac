// Synthetic light-sheet axon volumes with exact ground truth, for tests, the demo, benchmarks and
// the bundled model: geometry (prep/synth_curves.hpp) → rendering → imaging
// (prep/synth_imaging.hpp). docs/synthetic_data.md describes the model and compares it with the
// D-LMBmap brain example it is tuned to (uint16, background ~1000-2500, axons several thousand
// above it, rare saturation at 65535).
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
constexpr double k_voxels_per_blob = 4e5;
constexpr double k_blob_peak = 80000;

struct SynthParams {
    Index3 shape{64, 64, 64};  // (D,H,W) = (Z,Y,X), at least 1 each
    std::uint64_t seed = 1;
    double density = 2.0;      // axon centreline length per 1000 voxels (2: ~1 % of voxels labelled)
    double artifacts = 1.0;    // scales stripes, blobs and the tissue edge; 0: none of them
    double alignment = 0.5;    // 0: axon directions isotropic; 1: all along one bundle direction
    double radius_min = 1.0;   // tube radii in voxels (>= 1, see synth_curves.hpp)
    double radius_max = 3.0;
    double brightness = 12000; // median axon brightness above background, ADU before blurring
    double background = 1800;  // mean tissue background, ADU above the camera offset
    double psf_sigma_z = 1.6;  // point-spread standard deviations, voxels
    double psf_sigma_yx = 0.7;
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

// The edge cuts off one corner of the (Y,X) plane through all of Z, as the brain example's bright
// tissue surface does: the
// centre of a large sphere lies beyond the corner, so the edge is gently curved, and the cut
// reaches 10-25 % of the smaller side into the volume along the diagonal.
inline TissueEdge draw_tissue_edge(Index3 s, SynthRng& rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const int corner = int(u(rng) * 4) & 3;
    const double cy = corner & 1 ? double(s.h) : -1.0, cx = corner & 2 ? double(s.w) : -1.0;
    const double sy = corner & 1 ? 1.0 : -1.0, sx = corner & 2 ? 1.0 : -1.0;  // outwards
    const double far = 1.5 * double(std::max(s.h, s.w)) + 10.0;
    const double cut = (0.10 + 0.15 * u(rng)) * double(std::min(s.h, s.w)) + 1.0;
    TissueEdge e{.present = true, .z = 0.5 * double(s.d), .y = cy + sy * far / std::sqrt(2.0),
                 .x = cx + sx * far / std::sqrt(2.0), .radius = 0};
    e.radius = e.distance_outside(e.z, cy, cx) + cut;
    return e;
}

// The image without noise, in ADU above the camera offset: stripes × (tissue background, or beyond
// the edge the bright autofluorescent tissue surface, + blurred axons and blobs).
struct SynthScene {
    TissueEdge edge;
    double background = 0, surface = 0;
    SmoothField low, texture;
    Tensor<float> stripes;  // (D,H), all 1 without artefacts

    double mean(Index z, Index y, Index x, float blurred) const {
        const double inside = edge.distance_outside(double(z), double(y), double(x));
        const double t = std::clamp(0.5 + inside / 3.0, 0.0, 1.0);  // tissue weight; the edge is 3 voxels soft
        const double tissue = background * low.eval(z, y, x) * texture.eval(z, y, x);
        const double bright = surface * texture.eval(z, y, x);
        return double(stripes(z, y)) * (t * tissue + (1 - t) * bright + double(blurred));
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
    const TissueEdge edge = p.artifacts > 0 ? detail::draw_tissue_edge(s, rng) : TissueEdge{};

    // Geometry and rendering. Bundles run mostly within the slice plane (a tilt of at most ~9°),
    // as the brain example's axons do.
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double heading = 2 * std::numbers::pi * u(rng), tilt = 0.3 * (u(rng) - 0.5);
    const Vec3 axis{std::sin(tilt), std::cos(tilt) * std::sin(heading), std::cos(tilt) * std::cos(heading)};
    const CurveParams curve_params{.shape = s,
                                   .total_length = p.density * double(shape.numel()) / 1000.0,
                                   .radius_min = p.radius_min,
                                   .radius_max = p.radius_max,
                                   .brightness = p.brightness,
                                   .axis = axis,
                                   .alignment = p.alignment};
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
    detail::SynthScene scene{.edge = edge,
                     .background = p.background,
                     .surface = p.background * (1.0 + 4.0 * std::min(p.artifacts, 3.0)),
                     .low = SmoothField(s, std::max(8.0, max_side / 2), 0.25, rng),
                     .texture = SmoothField(s, 6.0, 0.12, rng),
                     .stripes = stripe_gains(s, 0.08 * std::min(p.artifacts, 3.0), rng)};
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
