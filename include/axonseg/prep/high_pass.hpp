// The automatic ("rough") annotation's response (pipeline §2): label = max(0, I - G(I)) in
// float64, truncated to uint16, where G is OpenCV's GaussianBlur(cube, (3, 3), 10) with
// reflect-101 borders. It is a small high-pass filter under which thin bright axons stand out.
// NB: the original hands the (z, y, x) cube to cv2, whose binding reads a 3-d array with a last
// axis of at most 512 as a (z, y) image with x as channels: the blur runs in the (z, y) plane for
// every x and never along x. BlurPlane::zy (the default) reproduces that bit for bit, including
// OpenCV's double-precision evaluation order (see detail::gauss3_first).
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace axonseg::prep {

// The plane of the 3 x 3 Gaussian blur.
enum class BlurPlane {
    zy,   // the original: (z, y) for every x (cv2 on the whole cube); x is never blurred
    yx,   // every slice on its own, as cv2.GaussianBlur on one (y, x) image; z is never blurred
    zyx,  // a 3 x 3 x 3 blur (x, then y, then z): isotropic, and what the filter was meant to be
};

namespace detail {

// getGaussianKernel(3, 10, CV_64F): OpenCV computes it in software floating point (softdouble),
// normalised to sum 1, so the values are written out rather than recomputed with std::exp.
inline constexpr double k_gauss3_side = 0x1.54c3939d34798p-2;
inline constexpr double k_gauss3_centre = 0x1.5678d8c5970d0p-2;

// NB: cv2's wheels run the AVX2 build of OpenCV's filter (x86-64 with FMA): its row filter (the
// first pass, along image columns) is the generic RowFilter<double>, whose multiply-adds the
// compiler fused, while its column filter (the second pass) is the symmetric one,
// centre * m + side * (p + n), not fused. Checked bit for bit against cv2 5.0 (high_pass.fix).
inline double gauss3_first(double prev, double mid, double next) {
    return std::fma(k_gauss3_side, next, std::fma(k_gauss3_centre, mid, k_gauss3_side * prev));
}

// out[i] = centre * m[i] + side * (p[i] + n[i]) for i < count. The unfused form must stay
// unfused whatever -ffp-contract the includer uses, so the whole loop carries the switch (a
// per-value function with it could not be inlined).
#if defined(__clang__)
inline void gauss3_second(const double* p, const double* m, const double* n, double* out, Index count) {
#pragma clang fp contract(off)
    for (Index i = 0; i < count; ++i) out[i] = k_gauss3_centre * m[i] + k_gauss3_side * (p[i] + n[i]);
}
#elif defined(__GNUC__)
[[gnu::optimize("fp-contract=off")]] inline void gauss3_second(const double* p, const double* m, const double* n,
                                                               double* out, Index count) {
    for (Index i = 0; i < count; ++i) out[i] = k_gauss3_centre * m[i] + k_gauss3_side * (p[i] + n[i]);
}
#else
inline void gauss3_second(const double* p, const double* m, const double* n, double* out, Index count) {
    for (Index i = 0; i < count; ++i) out[i] = k_gauss3_centre * m[i] + k_gauss3_side * (p[i] + n[i]);
}
#endif

// Reflect-101 neighbours of i in [0, n) for n >= 2: -1 -> 1, n -> n - 2.
inline Index reflect101_prev(Index i) { return i > 0 ? i - 1 : 1; }
inline Index reflect101_next(Index i, Index n) { return i + 1 < n ? i + 1 : n - 2; }

// Rows y0 - 1 ... y0 + rows of slice (H,W), any strides, as doubles in out ((rows + 2) x W,
// row-major): the band and its halo, reflect-101 at the slice's edges (for H == 1 the halo
// repeats row 0, which no pass reads).
inline void load_band(ConstView<std::uint16_t> slice, Index y0, Index rows, double* out) {
    const Index H = slice.dim(0), W = slice.dim(1), sx = slice.stride(1);
    for (Index i = 0; i < rows + 2; ++i) {
        const Index y = H == 1 ? 0 : (i == 0 ? reflect101_prev(y0) : (i == rows + 1 ? reflect101_next(y0 + rows - 1, H) : y0 + i - 1));
        const std::uint16_t* row = slice.data() + y * slice.stride(0);
        double* o = out + i * W;
        if (sx == 1) {
            for (Index x = 0; x < W; ++x) o[x] = row[x];
        } else {
            for (Index x = 0; x < W; ++x) o[x] = row[x * sx];
        }
    }
}

// Rows [y0, y0 + rows) of one slice blurred in its own plane, the first part of the blur:
// zy: along y only (first pass; z follows across slices); yx and zyx: along x (first pass), then
// along y (second pass). An axis of length 1 is left alone, as OpenCV drops the kernel there.
// Requires out rows x W doubles; src and tmp (rows + 2) x W doubles each. Ensures src holds the
// band as load_band leaves it.
inline void blur_band(ConstView<std::uint16_t> slice, BlurPlane plane, Index y0, Index rows, double* out,
                      double* tmp, double* src) {
    const Index H = slice.dim(0), W = slice.dim(1);
    load_band(slice, y0, rows, src);
    if (plane == BlurPlane::zy) {
        if (H == 1) {
            std::copy(src + W, src + 2 * W, out);
            return;
        }
        for (Index i = 0; i < rows; ++i) {
            const double *p = src + i * W, *m = p + W, *n = m + W;
            double* o = out + i * W;
            for (Index x = 0; x < W; ++x) o[x] = gauss3_first(p[x], m[x], n[x]);
        }
        return;
    }
    for (Index i = 0; i < rows + 2; ++i) {
        const double* s = src + i * W;
        double* t = tmp + i * W;
        if (W == 1) {
            t[0] = s[0];
            continue;
        }
        t[0] = gauss3_first(s[1], s[0], s[1]);
        for (Index x = 1; x + 1 < W; ++x) t[x] = gauss3_first(s[x - 1], s[x], s[x + 1]);
        t[W - 1] = gauss3_first(s[W - 2], s[W - 1], s[W - 2]);
    }
    if (H == 1) {
        std::copy(tmp + W, tmp + 2 * W, out);
        return;
    }
    for (Index i = 0; i < rows; ++i) gauss3_second(tmp + i * W, tmp + (i + 1) * W, tmp + (i + 2) * W, out + i * W, W);
}

// max(0, I - G) in double, truncated to uint16 (what numpy's astype(uint16) does for 0..65535).
inline std::uint16_t high_pass_value(double v, double blurred) {
    const double d = v - blurred;
    return d > 0 ? std::uint16_t(d) : std::uint16_t(0);
}

}  // namespace detail

// The high-pass response of a (D,H,W) uint16 cube (any strides) with the 3 x 3 Gaussian blur of
// the chosen plane. Ensures a new contiguous (D,H,W) uint16 tensor; with BlurPlane::zy it equals
// the original's label-<N>.tiff bit for bit (any width: unlike cv2, no 512-channel limit on x).
// The volume is cut into bands of rows that run in parallel, each walking down z with its last
// three blurred slices in a ring: every voxel is read about once and the working set stays in
// cache (whole 600 x 600 slices in doubles did not, and ran at half the speed).
inline Tensor<std::uint16_t> high_pass_response(ConstView<std::uint16_t> cube, BlurPlane plane = BlurPlane::zy) {
    AXONSEG_CHECK(cube.rank() == 3, "high_pass_response: the cube must be a (D,H,W) volume, got shape ",
                  cube.shape());
    const Index D = cube.dim(0), H = cube.dim(1), W = cube.dim(2);
    Tensor<std::uint16_t> out(cube.shape());  // (D,H,W)
    if (cube.numel() == 0) return out;
    const auto slice_of = [&](Index z) {
        return ConstView<std::uint16_t>(cube.data() + z * cube.stride(0), Shape{H, W},
                                        Strides{cube.stride(1), cube.stride(2)});  // (H,W)
    };
    constexpr Index k_band_doubles = 16384;  // 128 KB per blurred band: ring and scratch fit in L2
    const Index threads = thread_count();
    const Index band_rows = std::max<Index>(1, std::min(k_band_doubles / W, (H + threads - 1) / threads));
    const Index bands = (H + band_rows - 1) / band_rows;
    const bool across_z = plane != BlurPlane::yx && D > 1;
    parallel_for(0, bands, [&](Index band) {
        const Index y0 = band * band_rows, rows = std::min(band_rows, H - y0), n = rows * W;
        // ring[k % 3] holds slice k's band blurred in-plane; tmp and src are blur_band's scratch.
        const auto len = static_cast<std::size_t>(n);
        std::vector<double> ring(3 * len), blurred(len), tmp(len + 2 * std::size_t(W)), src(len + 2 * std::size_t(W));
        const auto slot = [&](Index z) { return ring.data() + (z % 3) * n; };
        Index have_begin = 0, have_end = 0;  // slices [have_begin, have_end) are in the ring
        const auto ensure = [&](Index z) {
            if (z >= have_begin && z < have_end) return;
            detail::blur_band(slice_of(z), plane, y0, rows, slot(z), tmp.data(), src.data());
            have_begin = z == have_end ? std::max(have_begin, z - 2) : z;
            have_end = z + 1;
        };
        for (Index z = 0; z < D; ++z) {
            if (across_z) {
                const Index zp = detail::reflect101_prev(z), zn = detail::reflect101_next(z, D);
                // In increasing z, so the ring keeps the last three (at z = 0, zp = zn = 1).
                for (Index k : {std::min(zp, z), z, std::max(zn, z)}) ensure(k);
                detail::gauss3_second(slot(zp), slot(z), slot(zn), blurred.data(), n);
            } else {
                detail::blur_band(slice_of(z), plane, y0, rows, blurred.data(), tmp.data(), src.data());
            }
            detail::load_band(slice_of(z), y0, rows, src.data());
            const double* v = src.data() + W;  // the band's own rows, past the halo
            std::uint16_t* o = out.data() + (z * H + y0) * W;
            for (Index i = 0; i < n; ++i) o[i] = detail::high_pass_value(v[i], blurred[std::size_t(i)]);
        }
    });
    return out;
}

}  // namespace axonseg::prep
