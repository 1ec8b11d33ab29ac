// The high-pass label of one voxel exactly as the original computes it: OpenCV's 3 x 3 Gaussian
// (sigma 10) in float64, in OpenCV's order of operations, with its reflect-101 border, and
// max(0, I - G) truncated to uint16.
// The generic path of high_pass.hpp and the AVX-512 kernel's fallback both use these, so the
// kernel's near-integer voxels get the generic path's bits by construction.
#pragma once

#include "axonseg/core/shape.hpp"

#include <cmath>
#include <cstdint>

namespace axonseg::prep::detail {

// getGaussianKernel(3, 10, CV_64F): OpenCV computes it in software floating point (softdouble),
// normalised to sum 1, so the values are written out rather than recomputed with std::exp.
inline constexpr double k_gauss3_side = 0x1.54c3939d34798p-2;
inline constexpr double k_gauss3_centre = 0x1.5678d8c5970d0p-2;

// NB: cv2's wheels run the AVX2 build of OpenCV's filter (x86-64 with FMA): its row filter (the
// first pass, along image columns) is the generic RowFilter<double>, whose multiply-adds the
// compiler fused, while its column filter (the second pass) is the symmetric one,
// centre * m + side * (p + n), not fused. Checked bit for bit against cv2 5.0 (high_pass.fix).
// A cv2 built without FMA (another CPU, an old wheel) rounds the first pass differently: its
// labels can differ from these by one where I - G lies within rounding of an integer. cv2 on a
// one-channel image (BlurPlane::yx) takes the same order, except for an image exactly 3 columns
// wide, whose row pass is unfused: 133 of the fixture's 512 order-sensitive voxels differ there
// (measured with cv2 5.0; widths 4 to 32 and 96 match).
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

// OpenCV's BORDER_REFLECT_101 for n >= 2: index i in [-1, n] -> -1 -> 1, n -> n - 2; and the
// neighbours of i in [0, n).
inline Index reflect101(Index i, Index n) { return i < 0 ? 1 : (i >= n ? n - 2 : i); }
inline Index reflect101_prev(Index i) { return i > 0 ? i - 1 : 1; }
inline Index reflect101_next(Index i, Index n) { return i + 1 < n ? i + 1 : n - 2; }

// max(0, I - G) in double, truncated to uint16 (what numpy's astype(uint16) does for 0..65535).
inline std::uint16_t high_pass_value(double v, double blurred) {
    const double d = v - blurred;
    return d > 0 ? std::uint16_t(d) : std::uint16_t(0);
}

}  // namespace axonseg::prep::detail
