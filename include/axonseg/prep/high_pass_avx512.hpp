// The original (zy) high-pass response of one band of rows, fused and vectorised with AVX-512:
// sixteen floats across x (the axis the zy blur never mixes), both passes and the subtraction in
// one sweep per row, no blurred temporary; chosen at run time when the CPU has AVX-512 F/VL/BW.
// Why it equals cv2 bit for bit although it blurs in float32: the label only needs cv2's float64
// blur G to within an integer. All weights and inputs are >= 0, so every rounding is a relative
// error on a sum of non-negative terms: the float32 G_f is within 4.87u * G* of the exact G*, and
// cv2's G within 2^-50 G* (u = 2^-24; derivation at k_high_pass_margin). Where lo = G_f (1 - 6u)
// and hi = G_f (1 + 6u) have the same ceiling c, G lies in (lo, hi), inside (c - 1, c], and the
// label trunc(max(0, I - G)) is exactly max(0, I - c): G = c gives I - c; otherwise I - G lies in
// (I - c, I - c + 1), farther from both ends (by about u * G, and G > 0.11 where not 0) than
// float64 can round across, and I - c < 0 gives 0. G_f = 0 only where all nine inputs are 0
// (G = 0, c = 0). Where the ceilings differ, an integer n = ceil(lo) lies in [lo, hi): cv2's label
// is max(0, I - n) or max(0, I - n - 1), the same (0) unless I > n. Only those lanes ("near") are
// recomputed after the row with the generic path's float64 operations in its order (first pass
// fused, second not): 0.17% of the brain example's voxels (0.54% before both refinements: every
// flat region was near, with I = n, and the margin was 8u).
// Cost: 16 voxels take about 20 vector operations (3 uint16 widenings, an integer add and 2
// conversions, 2 flops for the first pass, 3 for the second, 2 multiplies and 2 conversions for
// the bounds, 2 narrowings, a subtraction and 2 compares) besides the loads and stores. The core
// measured for these notes (2026-11-25, a 2-core AMD EPYC VM at about 4 GHz) issues about two
// 512-bit floating-point, conversion or narrowing operations a cycle (timed one by one), so they
// alone take about 10 cycles per 16 voxels: 5.6 ms of the brain example's 7.7-7.9 ms on one
// thread without the fallback; 7.6-8.2 ms with it (8.8-9.5 ms before the two refinements above),
// against a 4 ms copy. On 2 threads, 4.2-5.3 ms whether the copy floor beside it takes 2 or
// 3.6 ms: bound by this arithmetic, not by memory (docs/performance.md); sparing the output's
// read for ownership (streaming stores, below) does not make it faster.
// Tried and not kept (1 thread, brain example, alternated with this kernel): listing the near
// voxels per slice with vpcompressd (no branch per vector) and recomputing them one by one with
// the generic path's own functions, 8.9-9.1 ms against 8.1-8.6; 32 columns per step with in-lane
// unpacks / packs instead of the lane-crossing widenings and narrowings (and the float bits of
// 2^23 + prev to save a conversion), faster in L3 but 10-12 ms from memory, where its 64-byte
// loads of rows that are not line-aligned split across lines (7.8 ms with two 32-byte loads: no
// gain); the ring aligned to lines (no change); prefetches spread through the row loop (slower);
// streaming stores of the output (144 MB moved instead of 216): each row computed into a scratch
// laid out like its destination's lines, whole lines then sent with _mm512_stream_si512, no
// prefetchw: 8.4-8.8 ms against 7.9-8.3 (the copy out of the scratch costs more than the read
// for ownership it saves), on 2 threads 4.9 ms against 4.7 (5 alternated pairs; slower still
// when another process shares a core); ordinary stores from the scratch (no prefetchw): 13-15 ms.
#pragma once

#include "axonseg/core/tensor.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define AXONSEG_HIGH_PASS_AVX512 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <vector>

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

// The exact response, with the generic path's float64 operations in its order, at the lanes k
// of the 16 columns from x; rows[a][b] is slice zp, z, zn (a) at row y - 1, y, y + 1 (b).
// NB: the second pass, centre * F(z) + side * (F(zp) + F(zn)), must not be contracted into a
// fused multiply-add: GCC expands _mm512_mul_pd into a plain vector multiply, which
// -ffp-contract=fast would fuse with the add, hence the fp-contract switches.
#if defined(__clang__)
AXONSEG_AVX512_FN void
#else
[[gnu::optimize("fp-contract=off")]] AXONSEG_AVX512_FN void
#endif
high_pass_exact16(const std::uint16_t* const (&rows)[3][3], Index x, __mmask16 k, double side, double centre,
                  std::uint16_t* out) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const __m512d k_side = _mm512_set1_pd(side), k_centre = _mm512_set1_pd(centre);
    for (Index h = x; k != 0; h += 8, k >>= 8) {
        const __mmask8 kh = __mmask8(k);
        if (kh == 0) continue;
        __m512d f[3];
        for (int a = 0; a < 3; ++a)
            f[a] = high_pass_first8(rows[a][0] + h, rows[a][1] + h, rows[a][2] + h, kh, k_side, k_centre);
        const __m512d g = _mm512_add_pd(_mm512_mul_pd(k_centre, f[1]), _mm512_mul_pd(k_side, _mm512_add_pd(f[0], f[2])));
        // max(0, I - G) truncated, as high_pass_value (I - G < 65536 always).
        const __m512d d = _mm512_max_pd(_mm512_sub_pd(high_pass_load8(rows[1][1] + h, kh), g), _mm512_setzero_pd());
        _mm_mask_storeu_epi16(out + h, kh, _mm256_cvtepi32_epi16(_mm512_cvttpd_epu32(d)));
    }
}

// The bound, derived: with cv2's double weights s, c as exact reals, G* = the sum over the 3 x 3
// window of w_a * w_b * I, all terms >= 0. Each term of the float32 G_f carries the float
// weights' rounding errors, s_f = s (1 + 0.29u) and c_f = c (1 - 0.58u), and at most 4 roundings
// of at most u: the first pass F = fma(c_f, mid, s_f * (prev + next)) (the sum exact: integers
// below 2^24) rounds its side terms twice (product, fma) and its centre once; the second,
// fma(s_f, F(zp) + F(zn), c_f * F(z)), every term twice (sum or product, fma). The worst term,
// side along y and centre along z, is off by at most 0.29u + 0.58u + 4u = 4.87u (plus O(u^2)), so
// G_f = G* (1 + t), |t| <= 4.87u; cv2's G = G* (1 + t'), |t'| < 2^-50 (6 double roundings). The
// bounds are rounded once (1 +- 6u are exact floats): hi >= G* (1 - 4.87u)(1 + 6u)(1 - u) >
// G* (1 + 0.13u - 40u^2) > G, and likewise lo < G. (8u, from a cruder 6u a term, flagged a
// third more lanes.)
inline constexpr float k_high_pass_margin = 0x1.8p-22f;

// The float32 weights and bounds, in registers.
struct HighPassWeights {
    __m512 side, centre, below, above;
};

// One output row of the zy response: slice zn's rows y - 1, y, y + 1 (for its first pass), the
// voxels I (slice z, row y), the ring rows F(zp), F(z), F(zn), the output row and, per 16
// columns, the lanes whose float32 blur was too near an integer.
struct HighPassZyRow {
    const std::uint16_t *prev, *mid, *next, *voxels;
    const float *f_prev, *f_mid;
    float* f_next;
    std::uint16_t* out;
    __mmask16* near;
};

// Loads and stores of 16 lanes, masked to k only for the last, partial vector of a row.
template <bool Partial>
AXONSEG_AVX512_FN __m256i high_pass_load16(const std::uint16_t* p, __mmask16 k) {
    if constexpr (Partial) return _mm256_maskz_loadu_epi16(k, p);
    else return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
template <bool Partial>
AXONSEG_AVX512_FN __m512 high_pass_load16(const float* p, __mmask16 k) {
    if constexpr (Partial) return _mm512_maskz_loadu_ps(k, p);
    else return _mm512_loadu_ps(p);
}

// The float32 first pass at 16 columns: fma(centre, mid, side * (prev + next)), the sum exact.
template <bool Partial>
AXONSEG_AVX512_FN __m512 high_pass_first16(const std::uint16_t* p, const std::uint16_t* m, const std::uint16_t* n,
                                           __mmask16 k, const HighPassWeights& w) {
    const __m512i outer = _mm512_add_epi32(_mm512_cvtepu16_epi32(high_pass_load16<Partial>(p, k)),
                                           _mm512_cvtepu16_epi32(high_pass_load16<Partial>(n, k)));
    const __m512 mid = _mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(high_pass_load16<Partial>(m, k)));
    return _mm512_fmadd_ps(w.centre, mid, _mm512_mul_ps(w.side, _mm512_cvtepi32_ps(outer)));
}

// The response at the 16 columns from x (lanes k), max(0, I - c), and its near lanes, whose
// output the caller replaces. ComputeNext: F(zn) is computed (else it is in the ring, at the last
// slice); PrevIsNext: zp = zn (at the first slice, and at the last for D = 2).
template <bool Partial, bool ComputeNext, bool PrevIsNext>
[[gnu::always_inline]] AXONSEG_AVX512_FN void high_pass_zy16(const HighPassZyRow& r, Index x, __mmask16 k,
                                                             const HighPassWeights& w) {
    __m512 f_next;
    if constexpr (ComputeNext) {
        f_next = high_pass_first16<Partial>(r.prev + x, r.mid + x, r.next + x, k, w);
        if constexpr (Partial) _mm512_mask_storeu_ps(r.f_next + x, k, f_next);
        else _mm512_storeu_ps(r.f_next + x, f_next);
    } else {
        f_next = high_pass_load16<Partial>(r.f_next + x, k);
    }
    const __m512 f_prev = PrevIsNext ? f_next : high_pass_load16<Partial>(r.f_prev + x, k);
    const __m512 g = _mm512_fmadd_ps(w.side, _mm512_add_ps(f_prev, f_next),
                                     _mm512_mul_ps(w.centre, high_pass_load16<Partial>(r.f_mid + x, k)));
    const __m512i c = _mm512_cvt_roundps_epi32(_mm512_mul_ps(g, w.above), _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    const __m512i c_below =
        _mm512_cvt_roundps_epi32(_mm512_mul_ps(g, w.below), _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    // A saturating uint16 subtraction (c <= 65536 saturates to 65535, which also gives 0).
    const __m256i voxels = high_pass_load16<Partial>(r.voxels + x, k);
    const __m256i d = _mm256_subs_epu16(voxels, _mm512_cvtusepi32_epi16(c));
    if constexpr (Partial) _mm256_mask_storeu_epi16(r.out + x, k, d);
    else _mm256_storeu_si256(reinterpret_cast<__m256i*>(r.out + x), d);
    // Near: the ceilings differ and I > the lower one (saturated like c: a lower ceiling of
    // 65535 or more is >= every I, so the lane is never near).
    r.near[x / 16] = _mm256_mask_cmpgt_epu16_mask(_mm512_mask_cmpneq_epi32_mask(k, c, c_below), voxels,
                                                  _mm512_cvtusepi32_epi16(c_below));
}

// One row of W columns.
template <bool ComputeNext, bool PrevIsNext>
AXONSEG_AVX512_FN void high_pass_zy_row(const HighPassZyRow& row, Index W, const HighPassWeights& weights) {
    // Local copies: the output stores may alias anything, which would reload the pointers and
    // weights from memory at every vector.
    const HighPassZyRow r = row;
    const HighPassWeights w = weights;
    const Index full = W - W % 16;  // columns [full, W) take a partial mask
    for (Index x = 0; x < full; x += 16) high_pass_zy16<false, ComputeNext, PrevIsNext>(r, x, 0xffff, w);
    if (full < W) high_pass_zy16<true, ComputeNext, PrevIsNext>(r, full, __mmask16((1u << (W % 16)) - 1), w);
}

// One band of the zy response: rows [y0, y0 + rows) of every slice of a (D,H,W) uint16 cube with
// adjacent columns, D >= 2 and H >= 2, into the contiguous (D,H,W) `out`, with cv2's weights
// side and centre. `ring` holds 3 * rows * W floats: F(z), the float32 first pass (along y) of
// slice z's band, for the last three z. Returns how many voxels took the exact float64 path.
AXONSEG_AVX512_FN Index high_pass_zy_band_avx512(const std::uint16_t* cube, Index slice_stride, Index row_stride,
                                                 Index D, Index H, Index W, Index y0, Index rows, double side,
                                                 double centre, float* ring, std::uint16_t* out) {
    const HighPassWeights w{_mm512_set1_ps(float(side)), _mm512_set1_ps(float(centre)),
                            _mm512_set1_ps(1.0f - k_high_pass_margin), _mm512_set1_ps(1.0f + k_high_pass_margin)};
    const Index n = rows * W;  // floats in one ring slot
    float* const slots[3] = {ring, ring + n, ring + 2 * n};
    // The near lanes of one row, per 16 columns, padded with zeros to whole 32s for the scan.
    const Index vectors = (W + 15) / 16;
    std::vector<__mmask16> near(static_cast<std::size_t>((vectors + 31) / 32 * 32));
    Index exact_voxels = 0;
    // Reflect-101 rows (H >= 2).
    const auto row = [&](Index z, Index y) {
        y = y < 0 ? 1 : (y >= H ? H - 2 : y);
        return cube + z * slice_stride + y * row_stride;
    };
    for (Index i = 0; i < rows; ++i) {  // F(0)
        const std::uint16_t *p = row(0, y0 + i - 1), *m = row(0, y0 + i), *nx = row(0, y0 + i + 1);
        float* f = slots[0] + i * W;
        const Index full = W - W % 16;
        for (Index x = 0; x < full; x += 16)
            _mm512_storeu_ps(f + x, high_pass_first16<false>(p + x, m + x, nx + x, 0xffff, w));
        const __mmask16 tail = __mmask16((1u << (W % 16)) - 1);
        if (full < W) _mm512_mask_storeu_ps(f + full, tail, high_pass_first16<true>(p + full, m + full, nx + full, tail, w));
    }
    for (Index z = 0; z < D; ++z) {
        const Index zp = z > 0 ? z - 1 : 1, zn = z + 1 < D ? z + 1 : D - 2;
        const bool compute_next = zn == z + 1, prev_is_next = zp == zn;
        const auto run_row = compute_next ? (prev_is_next ? high_pass_zy_row<true, true> : high_pass_zy_row<true, false>)
                                          : (prev_is_next ? high_pass_zy_row<false, true> : high_pass_zy_row<false, false>);
        for (Index i = 0; i < rows; ++i) {
            const Index y = y0 + i, r = i * W;
            const HighPassZyRow rw{row(zn, y - 1),    row(zn, y),       row(zn, y + 1),    row(z, y),
                                   slots[zp % 3] + r, slots[z % 3] + r, slots[zn % 3] + r, out + (z * H + y) * W,
                                   near.data()};
            // What the next step touches first in memory: the input row it reads and the output
            // row it writes. A band's rows are short streams per slice, which the hardware
            // prefetcher picks up late; writes also wait for their lines to be read (measured
            // with the float64 kernel, 1 thread: 25 ms -> 21 ms with the input prefetch, -> 11-14
            // ms with both). Into L1: with this kernel a few percent faster than into L2.
            const char* in_ahead = reinterpret_cast<const char*>(row(std::min(zn + 1, D - 1), y + 1));
            const char* out_ahead = reinterpret_cast<const char*>(z + 1 < D ? rw.out + H * W : rw.out);
            for (Index b = 0; b < W * Index(sizeof(std::uint16_t)); b += 64) {
                _mm_prefetch(in_ahead + b, _MM_HINT_T0);
                _mm_prefetch(out_ahead + b, _MM_HINT_ET0);  // prefetchw: the line, owned for writing
            }
            run_row(rw, W, w);
            // The near lanes, found 32 vectors at a time (a branch per vector would mispredict).
            const std::uint16_t* const around[3][3] = {{row(zp, y - 1), row(zp, y), row(zp, y + 1)},
                                                       {row(z, y - 1), rw.voxels, row(z, y + 1)},
                                                       {rw.prev, rw.mid, rw.next}};
            for (Index j0 = 0; j0 < vectors; j0 += 32) {
                const __m512i block = _mm512_loadu_si512(near.data() + j0);
                for (unsigned any = _mm512_test_epi16_mask(block, block); any != 0; any &= any - 1) {
                    const Index j = j0 + __builtin_ctz(any);
                    high_pass_exact16(around, j * 16, near[std::size_t(j)], side, centre, rw.out);
                    exact_voxels += __builtin_popcount(near[std::size_t(j)]);
                }
            }
        }
    }
    return exact_voxels;
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
