// The weight gradient of a stride-1 convolution whose kernel rows are 3 wide with "same" padding
// along w (the network's 3x3x3 and 1x3x3 convs), fp32 and bf16, written by hand with AVX-512
// (AVX512-BF16 for bf16). oneDNN 2.6 has no brgemm kernel for backward weights; its older jit one
// ran these at 76-80% of the FMA peak in fp32 and 66-74% of the bf16 peak (docs/performance.md).
// dW[kd,kh,kw][o][c] = sum over output voxels v of dy[v][o] * x[v + tap][c]. A tile keeps 4 output
// channels x 32 input channels x the 3 kw taps in 24 zmm accumulators; per output voxel (in bf16,
// per pair of voxels: see below) it broadcasts 4 values of dy and loads the 3 x 2 vectors of x
// under the taps: 24 FMAs against 4 broadcasts (on this core a broadcast in a register takes an
// FMA port; 8 output channels x 16 input channels, 8 broadcasts, measured 75%) and 6 loads. The x
// vectors are pinned in registers: left as FMA memory operands (the compiler's choice) they are 24
// loads per voxel, more than the core's two 512-bit loads per cycle (also 75%).
// Work: chunks of output rows that fit half the L2 cache, each thread its own contiguous share
// into its own fp32 dW, added in thread order (run_per_thread: deterministic for a fixed thread
// count); dbias is summed from the same rows.
#pragma once

#include "axonseg/backend/cpu/onednn_per_thread.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define AXONSEG_WEIGHT_GRAD_DIRECT 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace axonseg::backend::weight_grad_direct {

inline constexpr Index k_out_tile = 4;  // output channels per tile
inline constexpr Index k_in_tile = 32;  // input channels per tile (two vectors)

#if defined(AXONSEG_WEIGHT_GRAD_DIRECT)

inline bool cpu_has_kernel() {
    static const bool supported = __builtin_cpu_supports("avx512f");
    return supported;
}

inline bool cpu_has_bf16_kernel() {
    static const bool supported = cpu_has_kernel() && __builtin_cpu_supports("avx512bw") &&
                                  __builtin_cpu_supports("avx512bf16");
    return supported;
}

// The largest dW (in fp32) this kernel takes. Each tile's accumulators are loaded and stored once
// per chunk of rows, from each thread's own fp32 copy of dW; past about 2 MB that traffic, from
// L3, costs more than the kernel gains on the short rows that go with many channels. Measured on two
// threads, median of 5, alternated with oneDNN (3x3x3 C -> C, 2026-11-25), the direct kernel's
// time over oneDNN's: fp32 0.73-0.94 at 32 x 128^3, 0.66-0.89 at 64 x 64^3, 0.78-0.99 at
// 128 x 32^3 (1.8 MB), 1.04 at 256 x 16^3, 2.2 at 320 x 8^3; bf16 0.81-0.82, 0.75-0.78, 0.86,
// 1.28 and 1.97.
inline constexpr Index k_max_dw_bytes = Index(2) << 20;

// Whether conv3d_backward_weights(cpu, ...) takes this kernel for these arguments: fp32 or bf16,
// dense channels-last activations, stride 1, kernel rows of 3 with pad 1 along w, whole tiles of
// channels, and a dW of at most k_max_dw_bytes (the network's 32- to 128-channel levels).
template <class T>
bool applies(ConstView<T> x, ConstView<T> dy, const Shape& w, Index3 stride, Index3 pad) {
    const bool cpu = std::is_same_v<T, float> ? cpu_has_kernel() : std::is_same_v<T, bfloat16> && cpu_has_bf16_kernel();
    const Index dw_bytes = w.numel() * Index(sizeof(float));
    return cpu && stride == Index3::all(1) && w[4] == 3 && pad.w == 1 && w[0] % k_out_tile == 0 &&
           w[1] % k_in_tile == 0 && dw_bytes <= k_max_dw_bytes && x.dim(4) >= 2 && x.is_channels_last() &&
           dy.is_channels_last();
}

namespace detail {

#define AXONSEG_WEIGHT_GRAD_FN __attribute__((target("avx512f"))) inline
#define AXONSEG_WEIGHT_GRAD_BF16_FN __attribute__((target("avx512f,avx512bw,avx512bf16"))) inline
// Always inlined (at -O2 too), so that the accumulators stay in registers.
#define AXONSEG_WEIGHT_GRAD_INLINE __attribute__((target("avx512f"), always_inline)) inline
#define AXONSEG_WEIGHT_GRAD_BF16_INLINE __attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline)) inline

// Accumulator of output channel j, tap kw, input vector h (16 input channels each).
constexpr int slot(int j, int kw, int h) { return (j * 3 + kw) * 2 + h; }

// A tile's accumulators from / to its place in the thread's dW: `t` points at (o0, kw 0, c0) of
// rows (o, kw) of `ci` floats.
AXONSEG_WEIGHT_GRAD_INLINE void load_tile(const float* t, Index ci, __m512* a) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) a[i] = _mm512_loadu_ps(t + (i / 2) * ci + 16 * (i % 2));
}
AXONSEG_WEIGHT_GRAD_INLINE void store_tile(const __m512* a, Index ci, float* t) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) _mm512_storeu_ps(t + (i / 2) * ci + 16 * (i % 2), a[i]);
}

// Of a tile's 4 broadcast values of dy (fp32), how many go through a register (vbroadcastss, which takes
// an FMA port on this core); the others are taken by each FMA from memory ({1to16}), a load.
// Two and two balance the ports: 26 FMA-port and 20 load operations per 24 FMAs. Measured on one
// thread, fp32 32 -> 32 at 128^3: a stand-alone copy of this loop took 514-524 ms with all four
// in registers, 471-484 ms with two, 472-485 with one, 490-509 with none; this code, alternated,
// 505-513 ms with four and 498-505 ms with two (about 230 GFLOP/s, 90% of one core's peak).
// In bf16 (vdpbf16ps with a broadcast pair) two in memory measured no faster: all in registers.
inline constexpr int k_register_broadcasts = 2;

// a += broadcast(*p) * v with the broadcast inside the FMA (memory operand).
AXONSEG_WEIGHT_GRAD_INLINE void fma_broadcast(__m512& a, __m512 v, const float* p) {
    asm("vfmadd231ps %[m]%{1to16%}, %[v], %[a]" : [a] "+v"(a) : [v] "v"(v), [m] "m"(*p));
}

// Adds one output voxel: `x` points at the input voxel under tap kw 1 (channel c0), `dy` at the
// output voxel's dy (channel o0). NoLeft / NoRight: the voxel is at w = 0 / W-1, where tap kw 0 /
// kw 2 falls in the padding.
template <bool NoLeft, bool NoRight>
AXONSEG_WEIGHT_GRAD_INLINE void add_voxel(const float* x, Index x_step, const float* dy, __m512* a) {
    __m512 v[3][2];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        v[0][h] = NoLeft ? _mm512_setzero_ps() : _mm512_loadu_ps(x - x_step + 16 * h);
        v[1][h] = _mm512_loadu_ps(x + 16 * h);
        v[2][h] = NoRight ? _mm512_setzero_ps() : _mm512_loadu_ps(x + x_step + 16 * h);
    }
    // Keeps the six vectors in registers instead of letting each FMA load its own (see above).
    asm("" : "+v"(v[0][0]), "+v"(v[0][1]), "+v"(v[1][0]), "+v"(v[1][1]), "+v"(v[2][0]), "+v"(v[2][1]));
#pragma GCC unroll 4
    for (int j = 0; j < int(k_out_tile); ++j) {
        const __m512 d = _mm512_set1_ps(dy[j]);
#pragma GCC unroll 3
        for (int kw = NoLeft ? 1 : 0; kw < (NoRight ? 2 : 3); ++kw)
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                if (j < k_register_broadcasts)
                    a[slot(j, kw, h)] = _mm512_fmadd_ps(d, v[kw][h], a[slot(j, kw, h)]);
                else
                    fma_broadcast(a[slot(j, kw, h)], v[kw][h], dy + j);
            }
    }
}

// The rows one tap row (kd, kh) adds for a chunk: x's rows under it and the output rows of dy,
// each at voxel 0, channel 0, for the output rows whose input row lies inside x.
template <class T>
struct TapRows {
    std::vector<const T*> x, dy;
};

// fp32 reads x and dy where they are: adds `rows` rows of `width` voxels (adjacent voxels x_step
// and dy_step floats apart) to the tile at t (output channels o0.., input channels c0..).
AXONSEG_WEIGHT_GRAD_FN void add_tile(const TapRows<float>& rows, Index width, Index x_step, Index dy_step,
                                     Index o0, Index c0, Index ci, float* t) {
    __m512 a[24];
    load_tile(t, ci, a);
    for (std::size_t r = 0; r < rows.x.size(); ++r) {
        const float *x = rows.x[r] + c0, *dy = rows.dy[r] + o0;
        add_voxel<true, false>(x, x_step, dy, a);
        for (Index w = 1; w + 1 < width; ++w) add_voxel<false, false>(x + w * x_step, x_step, dy + w * dy_step, a);
        add_voxel<false, true>(x + (width - 1) * x_step, x_step, dy + (width - 1) * dy_step, a);
    }
    store_tile(a, ci, t);
}

// bf16 multiplies pairs of voxels with vdpbf16ps (a.b + a'.b' per 32-bit lane, fp32 sums), so the
// rows are first rewritten as pairs (voxel 2s, voxel 2s+1) with each channel's two values side by
// side: dy's rows as `steps` = ceil(W/2) pairs, x's as the pairs under tap kw 0 (2s-1, 2s), steps + 1
// of them, followed by those under kw 1 (2s, 2s+1); tap kw 2 reads kw 0's pair s+1. Voxels outside
// the row (the padding, and 2s+1 = W for odd W) are zeros. Each row is rewritten once per chunk and
// then read by every tile.

// Writes the pairs (v0[c], v1[c]) of `channels` channels, 2 * channels values; a null voxel is zeros.
AXONSEG_WEIGHT_GRAD_BF16_INLINE void interleave(const bfloat16* v0, const bfloat16* v1, Index channels, bfloat16* out) {
    alignas(64) static constexpr std::uint16_t k_low[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,
                                                            37, 6, 38, 7, 39, 8, 40, 9, 41, 10, 42, 11,
                                                            43, 12, 44, 13, 45, 14, 46, 15, 47};
    const __m512i low = _mm512_load_si512(k_low), high = _mm512_add_epi16(low, _mm512_set1_epi16(16));
    for (Index c0 = 0; c0 < channels; c0 += 32) {
        const Index n = std::min<Index>(32, channels - c0);
        if (n == 32) {  // masked loads and stores are much slower on this core: only for the rest
            const __m512i a = v0 ? _mm512_loadu_si512(v0 + c0) : _mm512_setzero_si512();
            const __m512i b = v1 ? _mm512_loadu_si512(v1 + c0) : _mm512_setzero_si512();
            _mm512_storeu_si512(out + 2 * c0, _mm512_permutex2var_epi16(a, low, b));
            _mm512_storeu_si512(out + 2 * c0 + 32, _mm512_permutex2var_epi16(a, high, b));
            continue;
        }
        const __mmask32 in = __mmask32((1u << n) - 1);
        const __m512i a = v0 ? _mm512_maskz_loadu_epi16(in, v0 + c0) : _mm512_setzero_si512();
        const __m512i b = v1 ? _mm512_maskz_loadu_epi16(in, v1 + c0) : _mm512_setzero_si512();
        const Index lo = std::min<Index>(32, 2 * n), hi = 2 * n - lo;  // values of each half to write
        _mm512_mask_storeu_epi16(out + 2 * c0, __mmask32(lo == 32 ? ~0u : (1u << lo) - 1),
                                 _mm512_permutex2var_epi16(a, low, b));
        if (hi > 0)
            _mm512_mask_storeu_epi16(out + 2 * c0 + 32, __mmask32((1u << hi) - 1),
                                     _mm512_permutex2var_epi16(a, high, b));
    }
}

// One row of `width` voxels (`step` values apart, `channels` each) as pairs starting at voxel
// `first` (-1 or 0), `count` of them, into `out`.
AXONSEG_WEIGHT_GRAD_BF16_FN void pair_row(const bfloat16* row, Index step, Index width, Index channels,
                                          Index first, Index count, bfloat16* out) {
    for (Index s = 0; s < count; ++s) {
        const Index v0 = first + 2 * s, v1 = v0 + 1;
        interleave(v0 >= 0 && v0 < width ? row + v0 * step : nullptr, v1 < width ? row + v1 * step : nullptr,
                   channels, out + s * 2 * channels);
    }
}

// Adds the paired rows to the tile at t: `steps` pairs per row, x's rows of ci channels and dy's of co.
AXONSEG_WEIGHT_GRAD_BF16_FN void add_tile(const TapRows<bfloat16>& rows, Index steps, Index ci, Index co,
                                          Index o0, Index c0, float* t) {
    __m512 a[24];
    load_tile(t, ci, a);
    const Index x_pair = 2 * ci, dy_pair = 2 * co;
    for (std::size_t r = 0; r < rows.x.size(); ++r) {
        const bfloat16* kw0 = rows.x[r] + 2 * c0;                // pairs (2s-1, 2s)
        const bfloat16* kw1 = kw0 + (steps + 1) * x_pair;        // pairs (2s, 2s+1)
        const bfloat16* dy = rows.dy[r] + 2 * o0;
        for (Index s = 0; s < steps; ++s) {
            __m512i v[3][2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                v[0][h] = _mm512_loadu_si512(kw0 + s * x_pair + 32 * h);
                v[1][h] = _mm512_loadu_si512(kw1 + s * x_pair + 32 * h);
                v[2][h] = _mm512_loadu_si512(kw0 + (s + 1) * x_pair + 32 * h);
            }
            asm("" : "+v"(v[0][0]), "+v"(v[0][1]), "+v"(v[1][0]), "+v"(v[1][1]), "+v"(v[2][0]), "+v"(v[2][1]));
#pragma GCC unroll 4
            for (int j = 0; j < int(k_out_tile); ++j) {
                std::int32_t pair;
                std::memcpy(&pair, dy + s * dy_pair + 2 * j, sizeof pair);
                const __m512bh d = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 3
                for (int kw = 0; kw < 3; ++kw)
#pragma GCC unroll 2
                    for (int h = 0; h < 2; ++h)
                        a[slot(j, kw, h)] = _mm512_dpbf16_ps(a[slot(j, kw, h)], d, (__m512bh)v[kw][h]);
            }
        }
    }
    store_tile(a, ci, t);
}

#undef AXONSEG_WEIGHT_GRAD_FN
#undef AXONSEG_WEIGHT_GRAD_BF16_FN
#undef AXONSEG_WEIGHT_GRAD_INLINE
#undef AXONSEG_WEIGHT_GRAD_BF16_INLINE

// Output rows per chunk: the most whose dy and the x rows under them fit k_item_bytes (in fp32;
// bf16's paired rows take about as much).
inline Index chunk_rows(Index ho, Index width, Index ci, Index co, Index3 k) {
    const auto bytes = [&](Index r) { return (r * co + k.d * (r + k.h - 1) * ci) * width * Index(sizeof(float)); };
    Index rows = 1;
    while (rows < ho && bytes(rows + 1) <= onednn::k_item_bytes) ++rows;
    return rows;
}

// One thread's work on the output rows [oh0, oh1) of plane od of sample n: pairs the rows for bf16
// (into `paired`, reused from chunk to chunk), then adds every tap row's rows to every tile of
// the thread's dW, (kd, kh, Co, kw, Ci) floats.
template <class T>
void add_chunk(ConstView<T> x, ConstView<T> dy, Index3 k, Index3 pad, Index n, Index od, Index oh0, Index oh1,
               bfloat16* paired, float* dw) {
    const Index ci = x.dim(1), co = dy.dim(1), width = x.dim(4), steps = (width + 1) / 2;
    const Index x_rows = oh1 - oh0 + k.h - 1;  // per kd: the input rows from oh0 - pad.h on
    const Index x_len = (2 * steps + 1) * 2 * ci, dy_len = steps * 2 * co;  // a paired row
    const T* x_base = x.data() + n * x.stride(0);
    const T* dy_base = dy.data() + n * dy.stride(0) + od * dy.stride(2);
    if constexpr (std::is_same_v<T, bfloat16>) {
        for (Index kd = 0; kd < k.d; ++kd)
            for (Index r = 0; r < x_rows; ++r) {
                const Index id = od - pad.d + kd, ih = oh0 - pad.h + r;
                if (id < 0 || id >= x.dim(2) || ih < 0 || ih >= x.dim(3)) continue;
                bfloat16* out = paired + (kd * x_rows + r) * x_len;
                const T* row = x_base + id * x.stride(2) + ih * x.stride(3);
                pair_row(row, x.stride(4), width, ci, -1, steps + 1, out);
                pair_row(row, x.stride(4), width, ci, 0, steps, out + (steps + 1) * 2 * ci);
            }
        for (Index oh = oh0; oh < oh1; ++oh)
            pair_row(dy_base + oh * dy.stride(3), dy.stride(4), width, co, 0, steps,
                     paired + k.d * x_rows * x_len + (oh - oh0) * dy_len);
    }
    TapRows<T> rows;
    for (Index kd = 0; kd < k.d; ++kd) {
        const Index id = od - pad.d + kd;
        if (id < 0 || id >= x.dim(2)) continue;
        for (Index kh = 0; kh < k.h; ++kh) {
            rows.x.clear();
            rows.dy.clear();
            for (Index oh = oh0; oh < oh1; ++oh) {
                const Index ih = oh - pad.h + kh;
                if (ih < 0 || ih >= x.dim(3)) continue;
                if constexpr (std::is_same_v<T, bfloat16>) {
                    rows.x.push_back(paired + (kd * x_rows + oh - oh0 + kh) * x_len);
                    rows.dy.push_back(paired + k.d * x_rows * x_len + (oh - oh0) * dy_len);
                } else {
                    rows.x.push_back(x_base + id * x.stride(2) + ih * x.stride(3));
                    rows.dy.push_back(dy_base + oh * dy.stride(3));
                }
            }
            if (rows.x.empty()) continue;
#ifdef ROWS_OUTER
            TapRows<T> all = rows;
            for (std::size_t rr = 0; rr < all.x.size(); ++rr) {
            rows.x.assign(1, all.x[rr]); rows.dy.assign(1, all.dy[rr]);
#endif
            for (Index o0 = 0; o0 < co; o0 += k_out_tile)
                for (Index c0 = 0; c0 < ci; c0 += k_in_tile) {
                    float* t = dw + ((kd * k.h + kh) * co + o0) * 3 * ci + c0;  // (o, kw, c) rows
                    if constexpr (std::is_same_v<T, bfloat16>)
                        add_tile(rows, steps, ci, co, o0, c0, t);
                    else
                        add_tile(rows, width, x.stride(4), dy.stride(4), o0, c0, ci, t);
                }
#ifdef ROWS_OUTER
            }
#endif
        }
    }
}

}  // namespace detail

// dw (Co,Ci,kd,kh,3) and dbias (Co, may be absent), overwritten or added into per `mode`, of
// conv3d(x, w) with stride 1, for arguments where applies() holds; sums in fp32 (bf16 is rounded
// once, at the end).
template <class T>
void conv3d_weight_grad(ConstView<T> x, ConstView<T> dy, TensorView<T> dw, TensorView<T> dbias, Index3 pad,
                        Grad mode) {
    const Index co = dw.dim(0), ci = dw.dim(1), ho = dy.dim(3);
    const Index3 k{dw.dim(2), dw.dim(3), dw.dim(4)};
    const Index rows = detail::chunk_rows(ho, x.dim(4), ci, co, k), per_plane = (ho + rows - 1) / rows;
    const Index chunks = dy.dim(0) * dy.dim(2) * per_plane, size = k.d * k.h * co * 3 * ci;
    Tensor<float> partials(Shape{thread_count(), size});  // per thread: (kd, kh, Co, kw, Ci)
    onednn::BiasGradSums bias_sums(co, !dbias.empty());
    // Per thread, bf16: a chunk's rows as pairs (from the pool: fresh pages cost a page fault and
    // a zeroing each, 15% of the time when this was a std::vector per call).
    const Index steps = (x.dim(4) + 1) / 2;
    const Index paired_len = k.d * (rows + k.h - 1) * (2 * steps + 1) * 2 * ci + rows * steps * 2 * co;
    Tensor<bfloat16> paired(std::is_same_v<T, bfloat16> ? Shape{thread_count(), paired_len} : Shape{0});
    const int team = onednn::run_per_thread(chunks, [&](Index begin, Index end, int thread) {
        float* mine = partials.data() + thread * size;
        std::fill(mine, mine + size, 0.0f);
        bfloat16* const my_pairs = paired.numel() ? paired.data() + thread * paired_len : nullptr;
        for (Index chunk = begin; chunk < end; ++chunk) {
            const Index n = chunk / (dy.dim(2) * per_plane), od = chunk / per_plane % dy.dim(2);
            const Index oh0 = chunk % per_plane * rows, oh1 = std::min(ho, oh0 + rows);
            detail::add_chunk(x, dy, k, pad, n, od, oh0, oh1, my_pairs, mine);
            if (bias_sums.wanted())  // the chunk's rows are adjacent in dense channels-last dy
                bias_sums.add(thread, dy.data() + n * dy.stride(0) + od * dy.stride(2) + oh0 * dy.stride(3),
                              (oh1 - oh0) * dy.dim(4), dy.stride(4));
        }
    });
    const float* total = onednn::total_of_partials(partials, chunks, team);
    parallel_for(0, co, [&](Index o) {
        for (Index c = 0; c < ci; ++c)
            for (Index kd = 0; kd < k.d; ++kd)
                for (Index kh = 0; kh < k.h; ++kh)
                    for (Index kw = 0; kw < 3; ++kw) {
                        const float v = total[(((kd * k.h + kh) * co + o) * 3 + kw) * ci + c];
                        T& out = dw.data()[o * dw.stride(0) + c * dw.stride(1) + kd * dw.stride(2) +
                                           kh * dw.stride(3) + kw * dw.stride(4)];
                        out = T(mode == Grad::accumulate ? float(out) + v : v);
                    }
    });
    if (bias_sums.wanted()) bias_sums.write(dbias, mode);
}

#else

inline bool cpu_has_kernel() { return false; }
inline bool cpu_has_bf16_kernel() { return false; }
template <class T>
bool applies(ConstView<T>, ConstView<T>, const Shape&, Index3, Index3) {
    return false;
}
template <class T>
void conv3d_weight_grad(ConstView<T>, ConstView<T>, TensorView<T>, TensorView<T>, Index3, Grad) {
    AXONSEG_FAIL("conv3d_backward (weights): the direct kernel needs an x86-64 build with GCC or Clang");
}

#endif

}  // namespace axonseg::backend::weight_grad_direct
