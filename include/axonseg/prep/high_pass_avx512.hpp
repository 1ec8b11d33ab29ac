// The original (zy) high-pass response of one band of rows, fused and vectorised with AVX-512:
// sixteen floats across x (the axis the zy blur never mixes), both passes and the subtraction in
// one sweep per row, no blurred volume; chosen at run time when the CPU has AVX-512 F/VL/BW.
// Order: the first pass runs along z, E(z, y) = c I(z, y) + s (I(z-1, y) + I(z+1, y)), the second
// along y over the last three rows of E, which stay in L1 (3 x W floats). The other order needs
// the first pass of three whole slices of the band (in L2): two more 64-byte L2 transfers per 16
// voxels, and 7.7-8.1 ms against 6.9-7.2 on one thread for the brain example (2026-11-25).
// Why it equals cv2 bit for bit although it blurs in float32: the label only needs cv2's float64
// blur G to within an integer. All weights and inputs are >= 0, so every rounding is a relative
// error on a sum of non-negative terms. The second pass's weights are scaled by (1 + m), so it
// yields an upper bound hi of G directly, and lo = hi * q a lower one (tools/high_pass_bound.py
// checks hi - G > 1.08u G* and G - lo > 0.3u G* in exact arithmetic with the actual float
// weights; u = 2^-24, G* the exact blur, cv2's G within 2^-50 G* of it). Where lo and hi have the
// same ceiling c, G lies in (c - 1, c], and the label trunc(max(0, I - G)) is exactly
// max(0, I - c): G = c gives I - c; otherwise I - G lies in (I - c, I - c + 1), farther from both
// ends (by at least 0.3u G*, and G > 0.11 where not 0) than float64 can round across, and
// I - c < 0 gives 0. hi = 0 only where all nine inputs are 0 (G = 0, c = 0). Where the ceilings
// differ, an integer n = ceil(lo) lies in [lo, hi): cv2's label is max(0, I - n) or
// max(0, I - n - 1), the same (0) unless I > n. Only those lanes ("near") are recomputed after
// the row, with the generic path's own float64 functions (prep/high_pass_exact.hpp): 0.15% of the
// brain example's voxels (hi - lo is 11u hi wide).
// Cost: 16 voxels take 19 vector operations (3 uint16 widenings, an integer add and 2 conversions
// for the first pass, 2 flops for it and 3 for the second, a multiply and 2 conversions for the
// bounds, 2 narrowings, a subtraction and 2 compares) besides the loads and stores. The core
// measured for these notes (2026-11-25, a 2-core AMD EPYC VM at about 3.9 GHz) runs a row of them
// in 6.4-6.7 cycles per 16 voxels with everything in L1 (bench_prep's high_pass_zy_row_in_l1); it
// has two FMA pipes (multiplies, compares into masks), two for adds and conversions, shuffles
// (the widenings and narrowings) on one of each, and four for integer adds (each timed alone and
// in pairs). In place, with the near lanes and the prefetches, the brain example takes about 11.5
// cycles per 16 voxels on one thread (6.5-6.9 ms): it is bound by this arithmetic, not by memory
// (docs/performance.md).
// Tried and not kept (brain example, alternated with this kernel): 32 columns per step with
// in-lane unpacks and packs instead of the lane-crossing widenings and narrowings (fewer shuffles
// and mask compares): as fast in L2, 7.8-9.1 ms from memory on one thread, where 64-byte loads of
// rows not aligned to lines split across two (2026-11-25; the same in session 4 with the other
// pass order); uint16 rows converted once to float and kept in an L1 ring (fewer widenings, with
// the other pass order: faster in L1, slower in place); the first pass's weights times the
// second's side weight, so that the second pass takes one multiply less (no change); a cheaper
// near test, fma(hi, q, 1) <= ceil(hi) and I >= ceil(hi) (no faster, and it sends saturated
// voxels to the fallback); listing the near voxels per slice with vpcompressd (slower); prefetches
// spread through the row loop (slower), for every other line only, or none for the output or the
// input (1.4-1.7 times slower); streaming stores of the output, which spare its read for
// ownership (a streamed copy of the volume takes 2.6 ms on two threads against 3.4 for a plain
// one): whole lines of each row straight from registers, the partial lines at the row's ends
// masked, 12.5-12.9 ms on one thread and 6.4-6.7 on two against 7.0-7.8 and 4.1-5.8 in the same
// runs (2026-11-25); through a scratch laid out like the destination's lines, 8.4-8.8 ms against
// 7.9-8.3 with the other pass order (session 5).
#pragma once

#include "axonseg/core/tensor.hpp"
#include "axonseg/prep/high_pass_exact.hpp"

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

// The exact response at the lanes k of the 16 columns from x, with the generic path's own
// functions; rows[a][b] is slice zp, z, zn (a) at row y - 1, y, y + 1 (b). One voxel at a time:
// a near vector mostly has one near lane (a few percent faster on the brain example than 8 lanes
// of float64 with masked loads).
AXONSEG_AVX512_FN void high_pass_exact16(const std::uint16_t* const (&rows)[3][3], Index x, __mmask16 k,
                                         std::uint16_t* out) {
    for (unsigned lanes = k; lanes != 0; lanes &= lanes - 1) {
        const Index i = x + __builtin_ctz(lanes);
        double f[3], g;
        for (int a = 0; a < 3; ++a) f[a] = gauss3_first(rows[a][0][i], rows[a][1][i], rows[a][2][i]);
        gauss3_second(&f[0], &f[1], &f[2], &g, 1);
        out[i] = high_pass_value(rows[1][1][i], g);
    }
}

// The bounds' constants (tools/high_pass_bound.py): the second pass's weights are cv2's times
// (1 + k_high_pass_margin), so it sums to hi >= G; lo = hi * k_high_pass_lo_of_hi <= G. A wider
// interval is also sound but sends more voxels to the fallback (it was 12u wide before, 11u now).
inline constexpr double k_high_pass_margin = 0x1.4p-22;    // 5u
inline constexpr float k_high_pass_lo_of_hi = 0x1.ffffeap-1f;  // 1 - 11u

// The first pass's float32 weights, the second's scaled ones and q, in registers.
struct HighPassWeights {
    __m512 side, centre, side_hi, centre_hi, lo_of_hi;
};

AXONSEG_AVX512_FN HighPassWeights high_pass_weights() {
    const double side = k_gauss3_side, centre = k_gauss3_centre;
    return {_mm512_set1_ps(float(side)), _mm512_set1_ps(float(centre)),
            _mm512_set1_ps(float(side * (1.0 + k_high_pass_margin))),
            _mm512_set1_ps(float(centre * (1.0 + k_high_pass_margin))), _mm512_set1_ps(k_high_pass_lo_of_hi)};
}

// One output row (z, y) of the zy response: the rows y + 1 of slices zp, z, zn (for E(z, y + 1)),
// the voxels I (slice z, row y), the ring rows E(z, y - 1), E(z, y) and E(z, y + 1) (written),
// and the output row.
struct HighPassZyRow {
    const std::uint16_t *prev, *mid, *next, *voxels;
    const float *e_prev, *e_mid;
    float* e_next;
    std::uint16_t* out;
};

// Loads of 16 lanes, masked to k only for a row narrower than 16.
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

// The response at the 16 columns from x (lanes k), max(0, I - c); returns the near lanes, whose
// output the caller replaces.
template <bool Partial>
[[gnu::always_inline]] AXONSEG_AVX512_FN __mmask16 high_pass_zy16(const HighPassZyRow& r, Index x, __mmask16 k,
                                                                  const HighPassWeights& w) {
    const __m512 e_next = high_pass_first16<Partial>(r.prev + x, r.mid + x, r.next + x, k, w);
    if constexpr (Partial) _mm512_mask_storeu_ps(r.e_next + x, k, e_next);
    else _mm512_storeu_ps(r.e_next + x, e_next);
    const __m512 hi = _mm512_fmadd_ps(w.side_hi, _mm512_add_ps(high_pass_load16<Partial>(r.e_prev + x, k), e_next),
                                      _mm512_mul_ps(w.centre_hi, high_pass_load16<Partial>(r.e_mid + x, k)));
    constexpr int up = _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC;
    const __m512i c = _mm512_cvt_roundps_epi32(hi, up);
    const __m512i c_below = _mm512_cvt_roundps_epi32(_mm512_mul_ps(hi, w.lo_of_hi), up);
    // A saturating uint16 subtraction (c <= 65536 saturates to 65535, which also gives 0).
    const __m256i voxels = high_pass_load16<Partial>(r.voxels + x, k);
    const __m256i d = _mm256_subs_epu16(voxels, _mm512_cvtusepi32_epi16(c));
    if constexpr (Partial) _mm256_mask_storeu_epi16(r.out + x, k, d);
    else _mm256_storeu_si256(reinterpret_cast<__m256i*>(r.out + x), d);
    // Near: the ceilings differ and I > the lower one (saturated like c: a lower ceiling of
    // 65535 or more is >= every I, so the lane is never near).
    return _mm256_mask_cmpgt_epu16_mask(_mm512_mask_cmpneq_epi32_mask(k, c, c_below), voxels,
                                        _mm512_cvtusepi32_epi16(c_below));
}

// One row of W columns; near[j] gets the near lanes of columns [16 j, 16 j + 16).
AXONSEG_AVX512_FN void high_pass_zy_row(const HighPassZyRow& row, Index W, const HighPassWeights& weights,
                                        __mmask16* near) {
    // Local copies: the output stores may alias anything, which would reload the pointers and
    // weights from memory at every vector.
    const HighPassZyRow r = row;
    const HighPassWeights w = weights;
    const Index full = W - W % 16;
    for (Index x = 0; x < full; x += 16) near[x / 16] = high_pass_zy16<false>(r, x, 0xffff, w);
    if (full == W) return;
    if (W < 16) {
        near[0] = high_pass_zy16<true>(r, 0, __mmask16((1u << W) - 1), w);
        return;
    }
    // The last 16 columns again, unmasked (masked stores are slow on AMD): where they overlap the
    // previous vector they store the same values; the near lanes are those of columns [full, W).
    near[full / 16] = __mmask16(high_pass_zy16<false>(r, W - 16, 0xffff, w) >> (16 - W % 16));
}

// E of one row: the first pass of rows p, m, n (slices zp, z, zn) into e.
AXONSEG_AVX512_FN void high_pass_first_row(const std::uint16_t* p, const std::uint16_t* m, const std::uint16_t* n,
                                           Index W, const HighPassWeights& w, float* e) {
    Index x = 0;
    for (; x + 16 <= W; x += 16) _mm512_storeu_ps(e + x, high_pass_first16<false>(p + x, m + x, n + x, 0xffff, w));
    const __mmask16 tail = __mmask16((1u << (W - x)) - 1);
    if (x < W) _mm512_mask_storeu_ps(e + x, tail, high_pass_first16<true>(p + x, m + x, n + x, tail, w));
}

// One band of the zy response: rows [y0, y0 + rows) of every slice of a (D,H,W) uint16 cube with
// adjacent columns, D >= 2 and H >= 2, into `out`, whose rows are `out_row_stride` apart and
// slices H rows (a column range of a wider volume is a (D,H,W) cube with longer rows). `ring` holds
// 3 * W floats: E of the last three rows. Returns how many voxels took the exact float64 path.
AXONSEG_AVX512_FN Index high_pass_zy_band_avx512(const std::uint16_t* cube, Index slice_stride, Index row_stride,
                                                 Index D, Index H, Index W, Index y0, Index rows, float* ring,
                                                 std::uint16_t* out, Index out_row_stride) {
    const HighPassWeights w = high_pass_weights();
    const auto ring_row = [&](Index y) { return ring + ((y - y0 + 1) % 3) * W; };  // E(z, y), y >= y0 - 1
    // The near lanes of one row, per 16 columns, padded with zeros to whole 32s for the scan.
    const Index vectors = (W + 15) / 16;
    std::vector<__mmask16> near(static_cast<std::size_t>((vectors + 31) / 32 * 32));
    Index exact_voxels = 0;
    // Rows y in [-1, H], reflect-101 (H >= 2).
    const auto row = [&](Index z, Index y) { return cube + z * slice_stride + reflect101(y, H) * row_stride; };
    for (Index z = 0; z < D; ++z) {
        const Index zp = reflect101_prev(z), zn = reflect101_next(z, D);
        for (Index y : {y0 - 1, y0}) high_pass_first_row(row(zp, y), row(z, y), row(zn, y), W, w, ring_row(y));
        for (Index i = 0; i < rows; ++i) {
            const Index y = y0 + i;
            const HighPassZyRow rw{row(zp, y + 1), row(z, y + 1), row(zn, y + 1), row(z, y),
                                   ring_row(y - 1),  ring_row(y),   ring_row(y + 1), out + (z * H + y) * out_row_stride};
            // What the next slice reads first from memory, the input row it meets as zn, and the
            // output row it writes. A band's rows are short streams per slice, which the hardware
            // prefetcher picks up late; writes also wait for their lines to be read (measured
            // with the float64 kernel, 1 thread: 25 ms -> 21 ms with the input prefetch, -> 11-14
            // ms with both; this kernel is 1.5-1.7 times slower without either). Into L1: a few
            // percent faster than into L2.
            const char* in_ahead = reinterpret_cast<const char*>(row(std::min(zn + 1, D - 1), y + 1));
            const char* out_ahead = reinterpret_cast<const char*>(z + 1 < D ? rw.out + H * out_row_stride : rw.out);
            for (Index b = 0; b < W * Index(sizeof(std::uint16_t)); b += 64) {
                _mm_prefetch(in_ahead + b, _MM_HINT_T0);
                _mm_prefetch(out_ahead + b, _MM_HINT_ET0);  // prefetchw: the line, owned for writing
            }
            high_pass_zy_row(rw, W, w, near.data());
            // The near lanes, found 32 vectors at a time (a branch per vector would mispredict).
            const std::uint16_t* const around[3][3] = {{row(zp, y - 1), row(zp, y), row(zp, y + 1)},
                                                       {row(z, y - 1), rw.voxels, rw.mid},
                                                       {row(zn, y - 1), row(zn, y), rw.next}};
            for (Index j0 = 0; j0 < vectors; j0 += 32) {
                const __m512i block = _mm512_loadu_si512(near.data() + j0);
                for (unsigned any = _mm512_test_epi16_mask(block, block); any != 0; any &= any - 1) {
                    const Index j = j0 + __builtin_ctz(any);
                    high_pass_exact16(around, j * 16, near[std::size_t(j)], rw.out);
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
