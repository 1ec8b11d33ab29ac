// Synthetic axons, part 2 (imaging): what a light-sheet microscope does to the rendered axons of
// prep/synth_curves.hpp. An anisotropic Gaussian point-spread blur (wider in z), a smooth uneven
// background with autofluorescence texture, light-sheet stripes (shadows cast along y, so the gain
// varies with x and drifts with z, as in the brain example), then shot noise (Poisson in photons)
// and Gaussian read noise, quantised to 16 bits with saturation. The tissue edge's light and rim
// are composed in prep/synth.hpp.
// The decision a reader would get wrong: noise is drawn per z-slice from an engine seeded by a
// value the caller draws in order from the one seeded engine, so the output is byte-identical for a
// seed whatever the thread count.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"
#include "axonseg/prep/synth_curves.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace axonseg::prep {

// A smooth random field: values on a coarse grid with `cell` voxels between nodes, drawn
// log-normally around 1 with spread `sigma`, interpolated with smoothstep weights (continuous
// gradient, no grid creases). eval(z, y, x) is defined for every voxel of `shape`.
class SmoothField {
public:
    SmoothField(Index3 shape, double cell, double sigma, SynthRng& rng)
        : m_cell(cell), m_n{Index(double(shape.d) / cell) + 2, Index(double(shape.h) / cell) + 2,
                            Index(double(shape.w) / cell) + 2} {
        std::normal_distribution<double> g(0.0, sigma);
        m_nodes.resize(std::size_t(m_n.d * m_n.h * m_n.w));
        for (double& v : m_nodes) v = std::exp(g(rng));
    }

    double eval(Index z, Index y, Index x) const {
        double fz, fy, fx;
        const Index iz = split(z, fz), iy = split(y, fy), ix = split(x, fx);
        double sum = 0;
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b)
                for (int c = 0; c < 2; ++c)
                    sum += (a ? fz : 1 - fz) * (b ? fy : 1 - fy) * (c ? fx : 1 - fx) *
                           m_nodes[std::size_t(((iz + a) * m_n.h + iy + b) * m_n.w + ix + c)];
        return sum;
    }

private:
    Index split(Index i, double& frac) const {
        const double t = double(i) / m_cell;
        const double f = t - std::floor(t);
        frac = f * f * (3 - 2 * f);
        return Index(std::floor(t));
    }

    double m_cell;
    Index3 m_n;  // nodes per axis
    std::vector<double> m_nodes;
};

namespace detail {

// Normalised Gaussian taps for sigma, truncated at 3 sigma (a single tap 1 for sigma <= 0).
inline std::vector<float> gaussian_taps(double sigma) {
    if (sigma <= 0) return {1.0f};
    const Index r = Index(std::ceil(3 * sigma));
    std::vector<float> taps(std::size_t(2 * r + 1));
    double sum = 0;
    for (Index i = -r; i <= r; ++i) sum += std::exp(-0.5 * double(i * i) / (sigma * sigma));
    for (Index i = -r; i <= r; ++i)
        taps[std::size_t(i + r)] = float(std::exp(-0.5 * double(i * i) / (sigma * sigma)) / sum);
    return taps;
}

// Convolves every line of contiguous v (D,H,W) along `axis` with taps, edges clamped.
inline void blur_axis(TensorView<float> v, int axis, const std::vector<float>& taps) {
    if (taps.size() == 1) return;
    const Index d = v.dim(0), h = v.dim(1), w = v.dim(2), n = v.dim(axis);
    const Index r = Index(taps.size() / 2);
    const Index stride = axis == 0 ? h * w : axis == 1 ? w : 1;
    const Index lines = d * h * w / n;
    parallel_chunks(0, lines, [&](Index begin, Index end, int) {
        std::vector<float> line(static_cast<std::size_t>(n));
        for (Index l = begin; l < end; ++l) {
            // line l's first element: lines run over the two other axes in memory order
            const Index first = axis == 0 ? l : axis == 1 ? (l / w) * h * w + l % w : l * w;
            float* p = v.data() + first;
            for (Index i = 0; i < n; ++i) line[std::size_t(i)] = p[i * stride];
            for (Index i = 0; i < n; ++i) {
                float acc = 0;
                for (Index k = -r; k <= r; ++k)
                    acc += taps[std::size_t(k + r)] * line[std::size_t(std::clamp<Index>(i + k, 0, n - 1))];
                p[i * stride] = acc;
            }
        }
    });
}

}  // namespace detail

// Blurs contiguous v (D,H,W) in place with a separable Gaussian of sigma_z along D and sigma_yx
// along H and W: the light sheet's point-spread function, elongated along the detection axis.
inline void blur_psf(TensorView<float> v, double sigma_z, double sigma_yx) {
    detail::blur_axis(v, 0, detail::gaussian_taps(sigma_z));
    const std::vector<float> taps = detail::gaussian_taps(sigma_yx);
    detail::blur_axis(v, 1, taps);
    detail::blur_axis(v, 2, taps);
}

// Light-sheet stripes: the illumination's shadows run along y, so the gain is a function of (z, x)
// only: 1 plus a sum of sinusoids across x with periods of 3-40 voxels whose phases drift with z.
// Returns (D,W) gains around 1 with relative spread about 3/4 of `strength` (amplitudes are drawn
// between a half and all of strength * sqrt(2 / waves)).
inline Tensor<float> stripe_gains(Index3 shape, double strength, SynthRng& rng) {
    constexpr int k_waves = 8;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    double period[k_waves], phase[k_waves], drift[k_waves], amp[k_waves];
    for (int k = 0; k < k_waves; ++k) {
        period[k] = 3.0 + 37.0 * u(rng);
        phase[k] = 2 * std::numbers::pi * u(rng);
        drift[k] = 0.05 * (u(rng) - 0.5);
        amp[k] = strength * std::sqrt(2.0 / k_waves) * (0.5 + 0.5 * u(rng));
    }
    Tensor<float> gains(Shape{shape.d, shape.w});  // (D,W)
    for (Index z = 0; z < shape.d; ++z)
        for (Index x = 0; x < shape.w; ++x) {
            double g = 1;
            for (int k = 0; k < k_waves; ++k)
                g += amp[k] * std::sin(2 * std::numbers::pi * double(x) / period[k] + phase[k] + drift[k] * double(z));
            gains(z, x) = float(std::max(0.2, g));
        }
    return gains;
}

// Adds bright ellipsoidal blobs (cell bodies, debris; not axons, so not in the label) to signal
// (D,H,W): `count` Gaussian blobs of 1-2.5 voxels sigma and 0.5-1.5 `peak` (the first 1.5),
// so the brightest cores pass saturation.
inline void add_blobs(TensorView<float> signal, Index count, double peak, SynthRng& rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const Index d = signal.dim(0), h = signal.dim(1), w = signal.dim(2);
    for (Index b = 0; b < count; ++b) {
        const double cz = u(rng) * double(d), cy = u(rng) * double(h), cx = u(rng) * double(w);
        const double sz = 1.0 + 1.5 * u(rng), sy = 1.0 + 1.5 * u(rng), sx = 1.0 + 1.5 * u(rng);
        // The first blob is always 1.5 peak, so a volume with artefacts always has some saturation.
        const double amp = peak * (b == 0 ? 1.5 : 0.5 + u(rng));
        for (Index z = std::max<Index>(0, Index(cz - 3 * sz)); z < std::min(d, Index(cz + 3 * sz) + 1); ++z)
            for (Index y = std::max<Index>(0, Index(cy - 3 * sy)); y < std::min(h, Index(cy + 3 * sy) + 1); ++y)
                for (Index x = std::max<Index>(0, Index(cx - 3 * sx)); x < std::min(w, Index(cx + 3 * sx) + 1); ++x) {
                    const double q = (double(z) - cz) * (double(z) - cz) / (sz * sz) +
                                     (double(y) - cy) * (double(y) - cy) / (sy * sy) +
                                     (double(x) - cx) * (double(x) - cx) / (sx * sx);
                    signal(z, y, x) += float(amp * std::exp(-0.5 * q));
                }
    }
}

// The camera: expected ADU `mean` (above the offset) become mean/gain photons, a Poisson draw,
// times gain, plus the offset and Gaussian read noise, rounded and clamped to [0, 65535].
// NB: from k_normal_photons on, shot and read noise are drawn as one Gaussian of their summed
// variance: std::poisson_distribution costs ~130 ns a voxel there (half of a 256^3 volume's time)
// and its skewness (1/sqrt(photons) <= 0.125) is invisible under the read noise.
struct Camera {
    double gain = 2.0;         // ADU per photon
    double offset = 100.0;     // ADU of a dark pixel
    double read_noise = 20.0;  // ADU, standard deviation

    static constexpr double k_normal_photons = 64;

    std::uint16_t expose(double mean, SynthRng& rng) const {
        const double photons = std::max(mean, 0.0) / gain;
        std::normal_distribution<double> unit(0.0, 1.0);
        double adu;
        if (photons >= k_normal_photons) {
            adu = offset + mean + std::sqrt(gain * gain * photons + read_noise * read_noise) * unit(rng);
        } else {
            std::poisson_distribution<long> shot(photons);
            adu = offset + gain * double(shot(rng)) + read_noise * unit(rng);
        }
        return std::uint16_t(std::clamp(std::round(adu), 0.0, 65535.0));
    }
};

}  // namespace axonseg::prep
