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
#include "axonseg/prep/high_pass_avx512.hpp"
#include "axonseg/prep/high_pass_exact.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace axonseg::prep {

// The plane of the 3 x 3 Gaussian blur. The response is I minus a local mean, so it favours
// structures thin across the blurred axes: with zy an axon running along y or z is kept bright,
// one along x is treated like one along y (x is never smoothed), so the label depends on how the
// cube is oriented; yx ignores the neighbouring slices (a slice-wise 2-d filter); zyx treats all
// three axes alike (and subtracts a wider mean, so responses are a little larger).
enum class BlurPlane {
    zy,   // the original: (z, y) for every x (cv2 on the whole cube); x is never blurred
    yx,   // every slice on its own, as cv2.GaussianBlur on one (y, x) image; z is never blurred
    zyx,  // a 3 x 3 x 3 blur (x, then y, then z): isotropic, and what the filter was meant to be
};

namespace detail {

// One (H,W) slice of uint16 with rows `row_stride` apart and columns adjacent.
struct SliceRows {
    const std::uint16_t* data;
    Index row_stride, H, W;
    const std::uint16_t* row(Index y) const { return data + y * row_stride; }
    // Row y of the band's halo: reflect-101 at the edges; for H == 1 row 0, which no pass reads.
    const std::uint16_t* halo_row(Index y) const { return H == 1 ? data : row(reflect101(y, H)); }
};

// Rows [y0, y0 + rows) of one slice blurred in its own plane, the first part of the blur:
// zy: along y only (first pass; z follows across slices); yx and zyx: along x (first pass), then
// along y (second pass). An axis of length 1 is left alone, as OpenCV drops the kernel there.
// Requires out rows x W doubles, tmp (rows + 2) x W doubles.
inline void blur_band(const SliceRows& s, BlurPlane plane, Index y0, Index rows, double* out, double* tmp) {
    const Index H = s.H, W = s.W;
    if (plane == BlurPlane::zy) {
        for (Index i = 0; i < rows; ++i) {
            const std::uint16_t *p = s.halo_row(y0 + i - 1), *m = s.row(y0 + i), *n = s.halo_row(y0 + i + 1);
            double* o = out + i * W;
            if (H == 1) {
                for (Index x = 0; x < W; ++x) o[x] = m[x];
            } else {
                for (Index x = 0; x < W; ++x) o[x] = gauss3_first(p[x], m[x], n[x]);
            }
        }
        return;
    }
    for (Index i = 0; i < rows + 2; ++i) {
        const std::uint16_t* r = s.halo_row(y0 + i - 1);
        double* t = tmp + i * W;
        if (W == 1) {
            t[0] = r[0];
            continue;
        }
        t[0] = gauss3_first(r[1], r[0], r[1]);
        for (Index x = 1; x + 1 < W; ++x) t[x] = gauss3_first(r[x - 1], r[x], r[x + 1]);
        t[W - 1] = gauss3_first(r[W - 2], r[W - 1], r[W - 2]);
    }
    if (H == 1) {
        std::copy(tmp + W, tmp + 2 * W, out);
        return;
    }
    for (Index i = 0; i < rows; ++i) gauss3_second(tmp + i * W, tmp + (i + 1) * W, tmp + (i + 2) * W, out + i * W, W);
}

}  // namespace detail

// The high-pass response of a (D,H,W) uint16 cube (any strides) with the 3 x 3 Gaussian blur of
// the chosen plane. Ensures a new contiguous (D,H,W) uint16 tensor; with BlurPlane::zy it equals
// the original's label-<N>.tiff bit for bit (any width: unlike cv2, no 512-channel limit on x).
// The volume is cut into bands of rows that run in parallel, each walking down z with its last
// three blurred slices in a ring: every voxel is read about once and the working set stays in
// cache. BlurPlane::zy on a CPU with AVX-512 takes the fused kernel of high_pass_avx512.hpp
// (bit-identical; see docs/performance.md for its speed against the memory bandwidth).
inline Tensor<std::uint16_t> high_pass_response(ConstView<std::uint16_t> cube, BlurPlane plane = BlurPlane::zy) {
    AXONSEG_CHECK(cube.rank() == 3, "high_pass_response: the cube must be a (D,H,W) volume, got shape ",
                  cube.shape());
    const Index D = cube.dim(0), H = cube.dim(1), W = cube.dim(2);
    Tensor<std::uint16_t> out(cube.shape());  // (D,H,W)
    if (cube.numel() == 0) return out;
    Tensor<std::uint16_t> dense;  // the kernels read rows of adjacent voxels; a rare strided x is copied
    if (cube.stride(2) != 1 && W > 1) {
        dense = Tensor<std::uint16_t>(cube.shape());
        copy(cube, dense.view());
        cube = dense;
    }
    const auto slice_of = [&](Index z) {
        return detail::SliceRows{cube.data() + z * cube.stride(0), cube.stride(1), H, W};
    };
    const bool across_z = plane != BlurPlane::yx && D > 1;
    const bool fused = plane == BlurPlane::zy && D > 1 && H > 1 && detail::has_high_pass_avx512();
    // Generic: 128 KB per blurred band, so its ring and scratch fit in L2. Fused: strips of at most
    // 1024 columns (x never mixes), so that the kernel's three rows of E stay in L1 (10000 columns
    // in one strip, a whole-brain slice, would take a 120 KB ring and leave 3 rows per band), and
    // 64 KB of input per slice and strip, of which it reads three, in L2 until their third use;
    // taller bands spare its first pass of the two rows above each band.
    constexpr Index k_band_doubles = 16384, k_fused_band_voxels = 32768, k_fused_strip = 1024;
    const Index strips = (W + k_fused_strip - 1) / k_fused_strip, strip = (W + strips - 1) / strips;
    const Index max_rows = std::max<Index>(1, fused ? k_fused_band_voxels / strip : k_band_doubles / W);
    // Bands of at most max_rows, as many for every thread (static schedule: no thread idles).
    const Index threads = thread_count();
    const Index bands_per_thread = ((H + threads - 1) / threads + max_rows - 1) / max_rows;
    const Index band_rows = (H + threads * bands_per_thread - 1) / (threads * bands_per_thread);
    const Index bands = (H + band_rows - 1) / band_rows;
    parallel_for(0, bands, [&](Index band) {
        const Index y0 = band * band_rows, rows = std::min(band_rows, H - y0), n = rows * W;
#if defined(AXONSEG_HIGH_PASS_AVX512)
        if (fused) {
            std::vector<float> ring(3 * static_cast<std::size_t>(strip));
            for (Index x0 = 0; x0 < W; x0 += strip)
                detail::high_pass_zy_band_avx512(cube.data() + x0, cube.stride(0), cube.stride(1), D, H,
                                                 std::min(strip, W - x0), y0, rows, ring.data(), out.data() + x0, W);
            return;
        }
#endif
        // ring[k % 3] holds slice k's band blurred in-plane; tmp is blur_band's scratch.
        const auto len = static_cast<std::size_t>(n);
        std::vector<double> ring(3 * len), blurred(len), tmp(len + 2 * std::size_t(W));
        const auto slot = [&](Index z) { return ring.data() + (z % 3) * n; };
        Index have_begin = 0, have_end = 0;  // slices [have_begin, have_end) are in the ring
        const auto ensure = [&](Index z) {
            if (z >= have_begin && z < have_end) return;
            detail::blur_band(slice_of(z), plane, y0, rows, slot(z), tmp.data());
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
                detail::blur_band(slice_of(z), plane, y0, rows, blurred.data(), tmp.data());
            }
            const detail::SliceRows s = slice_of(z);
            for (Index i = 0; i < rows; ++i) {
                const std::uint16_t* v = s.row(y0 + i);
                const double* g = blurred.data() + i * W;
                std::uint16_t* o = out.data() + (z * H + y0 + i) * W;
                for (Index x = 0; x < W; ++x) o[x] = detail::high_pass_value(v[x], g[x]);
            }
        }
    });
    return out;
}

}  // namespace axonseg::prep
