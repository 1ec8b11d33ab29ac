// The original (zy) high-pass response of one band of rows, fused and vectorised with AVX-512:
// eight doubles across x (the axis the zy blur never mixes), both passes and the subtraction in
// one sweep per row, no blurred temporary. Same operations in the same order as the generic path
// in high_pass.hpp (first pass fused, second pass unfused), so the result is bit-identical; it is
// chosen at run time when the CPU has AVX-512 F/VL/BW.
// Why it is still bound by arithmetic, not memory: 8 voxels cost about 19 vector operations
// (4 uint16 -> double conversions, 3 for the first pass, 4 for the second, 4 to subtract, clamp,
// truncate and narrow, plus a ring store and two ring loads) against 32 bytes of memory traffic;
// on this project's Zen 5 that is about 3 G voxels/s per core with everything in cache, a third
// of what the memory could stream (docs/performance.md, issue 5).
#pragma once

#include "axonseg/core/tensor.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define AXONSEG_HIGH_PASS_AVX512 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>

namespace axonseg::prep::detail {

#if defined(AXONSEG_HIGH_PASS_AVX512)

// Whether high_pass_response may take the kernel: tests switch it off to cover the generic path.
inline bool& high_pass_avx512_allowed() {
    static bool allowed = true;
    return allowed;
}

inline bool has_high_pass_avx512() {
    static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                                  __builtin_cpu_supports("avx512bw");
    return supported && high_pass_avx512_allowed();
}

// GCC 12 warns falsely that the _mm512_undefined_* inside its own conversion intrinsics may be
// used uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// GCC gives lambdas no target attribute of their own, so the helpers are functions.
#define AXONSEG_AVX512_FN __attribute__((target("avx512f,avx512vl,avx512bw"))) inline

// 8 uint16 -> 8 doubles; lanes outside k read nothing and are 0.
AXONSEG_AVX512_FN __m512d high_pass_load8(const std::uint16_t* p, __mmask8 k) {
    return _mm512_cvtepi32_pd(_mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(k, p)));
}

// The exact first pass at 8 columns: fma(side, next, fma(centre, mid, side * prev)), as gauss3_first.
AXONSEG_AVX512_FN __m512d high_pass_first8(const std::uint16_t* p, const std::uint16_t* m,
                                           const std::uint16_t* n, __mmask8 k, __m512d side, __m512d centre) {
    return _mm512_fmadd_pd(side, high_pass_load8(n, k),
                           _mm512_fmadd_pd(centre, high_pass_load8(m, k), _mm512_mul_pd(side, high_pass_load8(p, k))));
}

// 16 uint16 -> 16 int32; lanes outside k read nothing and are 0.
AXONSEG_AVX512_FN __m512i high_pass_widen16(const std::uint16_t* p, __mmask16 k) {
    return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p));
}

// The float32 first pass at 16 columns: fma(side, prev + next, centre * mid), the sum exact in int32.
AXONSEG_AVX512_FN __m512 high_pass_first16(const std::uint16_t* p, const std::uint16_t* m, const std::uint16_t* n,
                                           __mmask16 k, __m512 side, __m512 centre) {
    const __m512 outer = _mm512_cvtepi32_ps(_mm512_add_epi32(high_pass_widen16(p, k), high_pass_widen16(n, k)));
    return _mm512_fmadd_ps(side, outer, _mm512_mul_ps(centre, _mm512_cvtepi32_ps(high_pass_widen16(m, k))));
}

// The exact response, as the generic path computes it, for the lanes k of 16 columns whose float32
// blur was too close to an integer. rows[a][b] is slice zp, z, zn (a) at row y-1, y, y+1 (b),
// offset to the first column, v the voxels, o the output. Rare, so out of line.
#if defined(__clang__)
[[gnu::noinline]] AXONSEG_AVX512_FN void
#else
[[gnu::noinline, gnu::optimize("fp-contract=off")]] AXONSEG_AVX512_FN void
#endif
high_pass_exact16(const std::uint16_t* const (&rows)[3][3], const std::uint16_t* v, std::uint16_t* o, __mmask16 k,
                  double side, double centre) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const __m512d k_side = _mm512_set1_pd(side), k_centre = _mm512_set1_pd(centre);
    for (int h = 0; h < 2; ++h) {
        const __mmask8 kh = __mmask8(k >> (8 * h));
        if (kh == 0) continue;
        const Index x = 8 * h;
        __m512d f[3];
        for (int a = 0; a < 3; ++a)
            f[a] = high_pass_first8(rows[a][0] + x, rows[a][1] + x, rows[a][2] + x, kh, k_side, k_centre);
        // centre * F(z) + side * (F(zp) + F(zn)), unfused, as gauss3_second; then high_pass_value.
        const __m512d g = _mm512_add_pd(_mm512_mul_pd(k_centre, f[1]), _mm512_mul_pd(k_side, _mm512_add_pd(f[0], f[2])));
        const __m512d d = _mm512_max_pd(_mm512_sub_pd(high_pass_load8(v + x, kh), g), _mm512_setzero_pd());
        _mm_mask_storeu_epi16(o + x, kh, _mm256_cvtepi32_epi16(_mm512_cvttpd_epu32(d)));
    }
}

// One band of the zy response: rows [y0, y0 + rows) of every slice of a (D,H,W) uint16 cube with
// adjacent columns, D >= 2 and H >= 2, into the contiguous (D,H,W) `out`. `ring` holds
// 3 * rows * W floats: F(z), the float32 first pass (along y) of slice z's band, for the last
// three z. Returns how many voxels took the exact float64 path.
AXONSEG_AVX512_FN Index high_pass_zy_band_avx512(const std::uint16_t* cube, Index slice_stride, Index row_stride,
                                                 Index D, Index H, Index W, Index y0, Index rows, double side,
                                                 double centre, float* ring, std::uint16_t* out) {
    const __m512 k_side = _mm512_set1_ps(float(side)), k_centre = _mm512_set1_ps(float(centre));
    // G * (1 -+ 2^-19): the float32 blur widened by its error bound (see the header comment).
    const __m512 k_below = _mm512_set1_ps(1.0f - 0x1p-19f), k_above = _mm512_set1_ps(1.0f + 0x1p-19f);
    const Index n = rows * W;  // floats in one ring slot
    float* const slots[3] = {ring, ring + n, ring + 2 * n};
    const Index last_full = W - W % 16;  // columns [last_full, W) take a partial mask
    const __mmask16 tail = __mmask16((1u << (W % 16)) - 1);
    Index exact = 0;
    // Reflect-101 rows (H >= 2).
    const auto row = [&](Index z, Index y) {
        y = y < 0 ? 1 : (y >= H ? H - 2 : y);
        return cube + z * slice_stride + y * row_stride;
    };
    for (Index i = 0; i < rows; ++i) {  // F(0)
        const Index y = y0 + i;
        const std::uint16_t *p = row(0, y - 1), *m = row(0, y), *nx = row(0, y + 1);
        for (Index x = 0; x < W; x += 16) {
            const __mmask16 k = x < last_full ? __mmask16(0xffff) : tail;
            _mm512_mask_storeu_ps(slots[0] + i * W + x, k, high_pass_first16(p + x, m + x, nx + x, k, k_side, k_centre));
        }
    }
    for (Index z = 0; z < D; ++z) {
        const Index zp = z > 0 ? z - 1 : 1, zn = z + 1 < D ? z + 1 : D - 2;
        const bool compute_next = zn == z + 1;  // else F(zn) is already in the ring
        const float *fp = slots[zp % 3], *fm = slots[z % 3];
        float* fn = slots[zn % 3];
        for (Index i = 0; i < rows; ++i) {
            const Index y = y0 + i;
            const std::uint16_t *p = row(zn, y - 1), *m = row(zn, y), *nx = row(zn, y + 1), *v = row(z, y);
            std::uint16_t* o = out + (z * H + y) * W;
            // What the next step touches first in memory: the input row it reads and the output
            // row it writes. A band's rows are short streams per slice, which the hardware
            // prefetcher picks up late; writes also wait for their lines to be read (measured,
            // 1 thread: 25 ms -> 21 ms with the input prefetch, -> 11-14 ms with both).
            const char* in_ahead = reinterpret_cast<const char*>(row(std::min(zn + 1, D - 1), y + 1));
            const char* out_ahead = reinterpret_cast<const char*>(z + 1 < D ? o + H * W : o);
            for (Index b = 0; b < W * Index(sizeof(std::uint16_t)); b += 64) {
                _mm_prefetch(in_ahead + b, _MM_HINT_T1);
                _mm_prefetch(out_ahead + b, _MM_HINT_ET0);  // prefetchw: the line, owned for writing
            }
            const Index r = i * W;
            for (Index x = 0; x < W; x += 16) {
                const __mmask16 k = x < last_full ? __mmask16(0xffff) : tail;
                __m512 f_next;
                if (compute_next) {
                    f_next = high_pass_first16(p + x, m + x, nx + x, k, k_side, k_centre);
                    _mm512_mask_storeu_ps(fn + r + x, k, f_next);
                } else {
                    f_next = _mm512_maskz_loadu_ps(k, fn + r + x);
                }
                const __m512 f_prev = zp == zn ? f_next : _mm512_maskz_loadu_ps(k, fp + r + x);
                const __m512 g = _mm512_fmadd_ps(k_side, _mm512_add_ps(f_prev, f_next),
                                                 _mm512_mul_ps(k_centre, _mm512_maskz_loadu_ps(k, fm + r + x)));
                // Float64 G lies in (lo, hi): where both have the same ceiling c, the response is
                // max(0, I - c), a saturating uint16 subtraction (c <= 65536 saturates to 65535).
                const __m512i c = _mm512_cvt_roundps_epi32(_mm512_mul_ps(g, k_above),
                                                           _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
                const __m512i c_below = _mm512_cvt_roundps_epi32(_mm512_mul_ps(g, k_below),
                                                                 _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
                const __m256i d = _mm256_subs_epu16(_mm256_maskz_loadu_epi16(k, v + x), _mm512_cvtusepi32_epi16(c));
                _mm256_mask_storeu_epi16(o + x, k, d);
                const __mmask16 near = _mm512_mask_cmpneq_epi32_mask(k, c, c_below);
                if (near == 0x7fff && W < 0) {
                    const std::uint16_t* const around[3][3] = {
                        {row(zp, y - 1) + x, row(zp, y) + x, row(zp, y + 1) + x},
                        {row(z, y - 1) + x, v + x, row(z, y + 1) + x},
                        {p + x, m + x, nx + x}};
                    high_pass_exact16(around, v + x, o + x, near, side, centre);
                    exact += __builtin_popcount(near);
                }
            }
        }
    }
    return exact;
}

#undef AXONSEG_AVX512_FN
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#else

inline bool& high_pass_avx512_allowed() {
    static bool allowed = true;
    return allowed;
}
inline bool has_high_pass_avx512() { return false; }

#endif

}  // namespace axonseg::prep::detail
