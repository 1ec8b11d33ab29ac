// The fp32 weight gradient of a stride-1 convolution whose kernel rows are 3 wide with "same"
// padding along w (the network's 3x3x3 and 1x3x3 convs), written by hand with AVX-512. oneDNN 2.6
// has no brgemm kernel for backward weights; its older jit one ran these at 76-80% of the FMA peak
// on two threads (docs/performance.md), this loop at about 86%.
// dW[kd,kh,kw][o][c] = sum over output voxels v of dy[v][o] * x[v + tap][c]. A tile keeps 4 output
// channels x 32 input channels x the 3 kw taps in 24 zmm accumulators; per output voxel it
// broadcasts 4 values of dy and loads the 3 x 2 vectors of x under the taps: 24 FMAs against 4
// broadcasts (on this core a broadcast takes an FMA port: the 86% bound; 8 output channels x 16
// input channels, 8 broadcasts, measured 75%) and 6 loads. The x vectors are pinned in registers:
// left as FMA memory operands (the compiler's choice) they are 24 loads per voxel, more than the
// core's two 512-bit loads per cycle (also 75%).
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
#include <type_traits>

namespace axonseg::backend::weight_grad_direct {

inline constexpr Index k_out_tile = 4;  // output channels per tile
inline constexpr Index k_in_tile = 32;  // input channels per tile (two vectors)

#if defined(AXONSEG_WEIGHT_GRAD_DIRECT)

inline bool cpu_has_kernel() {
    static const bool supported = __builtin_cpu_supports("avx512f");
    return supported;
}

// Whether conv3d_backward_weights(cpu, ...) takes this kernel for these arguments: fp32, dense
// channels-last activations, stride 1, kernel rows of 3 with pad 1 along w, whole tiles of channels,
// and a dW small enough that each thread's copy stays in its L2 cache next to the rows it reads
// (the network's 32- and 64-channel levels). Each tile's accumulators are loaded and stored once
// per chunk of rows, so with bigger dWs that traffic goes to L3: measured on two threads (alternated
// with oneDNN, fp32, 3x3x3 C->C), 0.77-0.81 of oneDNN's time at 32 x 128^3 and 64 x 64^3, but
// 0.95-1.13 at 128 x 32^3 and 1.2-1.8 at 256 x 16^3.
template <class T>
bool applies(ConstView<T> x, ConstView<T> dy, const Shape& w, Index3 stride, Index3 pad) {
    const Index dw_bytes = w.numel() * Index(sizeof(float));
    return std::is_same_v<T, float> && cpu_has_kernel() && stride == Index3::all(1) && w[4] == 3 &&
           pad.w == 1 && w[0] % k_out_tile == 0 && w[1] % k_in_tile == 0 && dw_bytes <= onednn::k_item_bytes &&
           x.dim(4) >= 2 && x.is_channels_last() && dy.is_channels_last();
}

namespace detail {

#define AXONSEG_WEIGHT_GRAD_FN __attribute__((target("avx512f"))) inline
// Always inlined (at -O2 too), so that the accumulators stay in registers from row to row.
#define AXONSEG_WEIGHT_GRAD_INLINE __attribute__((target("avx512f"), always_inline)) inline

// Accumulator of output channel j, tap kw, input vector h.
constexpr int slot(int j, int kw, int h) { return (j * 3 + kw) * 2 + h; }

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
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            if (!NoLeft) a[slot(j, 0, h)] = _mm512_fmadd_ps(d, v[0][h], a[slot(j, 0, h)]);
            a[slot(j, 1, h)] = _mm512_fmadd_ps(d, v[1][h], a[slot(j, 1, h)]);
            if (!NoRight) a[slot(j, 2, h)] = _mm512_fmadd_ps(d, v[2][h], a[slot(j, 2, h)]);
        }
    }
}

// Adds one row of `width` output voxels (adjacent voxels x_step and dy_step floats apart) to the
// tile's accumulators, which it keeps in registers for the row.
AXONSEG_WEIGHT_GRAD_INLINE void add_row(const float* x, Index x_step, const float* dy, Index dy_step, Index width,
                                    __m512* tile) {
    __m512 a[24];
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) a[i] = tile[i];
    add_voxel<true, false>(x, x_step, dy, a);
    for (Index w = 1; w + 1 < width; ++w) add_voxel<false, false>(x + w * x_step, x_step, dy + w * dy_step, a);
    add_voxel<false, true>(x + (width - 1) * x_step, x_step, dy + (width - 1) * dy_step, a);
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) tile[i] = a[i];
}

// The thread's dW, (kd, kh, Co, kw, Ci) floats, plus the output rows [oh0, oh1) of output plane od
// of sample n: for each tap row (kd, kh) and tile, its accumulators run over all the rows.
AXONSEG_WEIGHT_GRAD_FN void add_rows(ConstView<float> x, ConstView<float> dy, Index3 k, Index3 pad, Index n,
                                     Index od, Index oh0, Index oh1, float* dw) {
    const Index ci = x.dim(1), co = dy.dim(1), width = x.dim(4);
    for (Index kd = 0; kd < k.d; ++kd) {
        const Index id = od - pad.d + kd;
        if (id < 0 || id >= x.dim(2)) continue;
        for (Index kh = 0; kh < k.h; ++kh)
            for (Index o0 = 0; o0 < co; o0 += k_out_tile)
                for (Index c0 = 0; c0 < ci; c0 += k_in_tile) {
                    float* t = dw + ((kd * k.h + kh) * co + o0) * 3 * ci + c0;  // (o, kw, c) rows
                    __m512 tile[24];
                    for (int j = 0; j < int(k_out_tile); ++j)
                        for (int kw = 0; kw < 3; ++kw)
                            for (int h = 0; h < 2; ++h)
                                tile[slot(j, kw, h)] = _mm512_loadu_ps(t + (j * 3 + kw) * ci + 16 * h);
                    for (Index oh = oh0; oh < oh1; ++oh) {
                        const Index ih = oh - pad.h + kh;
                        if (ih < 0 || ih >= x.dim(3)) continue;
                        add_row(x.data() + n * x.stride(0) + id * x.stride(2) + ih * x.stride(3) + c0, x.stride(4),
                                dy.data() + n * dy.stride(0) + od * dy.stride(2) + oh * dy.stride(3) + o0,
                                dy.stride(4), width, tile);
                    }
                    for (int j = 0; j < int(k_out_tile); ++j)
                        for (int kw = 0; kw < 3; ++kw)
                            for (int h = 0; h < 2; ++h)
                                _mm512_storeu_ps(t + (j * 3 + kw) * ci + 16 * h, tile[slot(j, kw, h)]);
                }
    }
}

#undef AXONSEG_WEIGHT_GRAD_FN
#undef AXONSEG_WEIGHT_GRAD_INLINE

// Output rows per chunk: the most whose dy and the x rows under them fit k_item_bytes.
inline Index chunk_rows(Index ho, Index width, Index ci, Index co, Index3 k) {
    const auto bytes = [&](Index r) { return (r * co + k.d * (r + k.h - 1) * ci) * width * Index(sizeof(float)); };
    Index rows = 1;
    while (rows < ho && bytes(rows + 1) <= onednn::k_item_bytes) ++rows;
    return rows;
}

}  // namespace detail

// dw (Co,Ci,kd,kh,3) and dbias (Co, may be absent), overwritten or added into per `mode`, of
// conv3d(x, w) with stride 1, for arguments where applies() holds.
inline void conv3d_weight_grad(ConstView<float> x, ConstView<float> dy, TensorView<float> dw,
                               TensorView<float> dbias, Index3 pad, Grad mode) {
    const Index co = dw.dim(0), ci = dw.dim(1), ho = dy.dim(3);
    const Index3 k{dw.dim(2), dw.dim(3), dw.dim(4)};
    const Index rows = detail::chunk_rows(ho, x.dim(4), ci, co, k), per_plane = (ho + rows - 1) / rows;
    const Index chunks = dy.dim(0) * dy.dim(2) * per_plane, size = k.d * k.h * co * 3 * ci;
    Tensor<float> partials(Shape{thread_count(), size});  // per thread: (kd, kh, Co, kw, Ci)
    onednn::BiasGradSums bias_sums(co, !dbias.empty());
    const int team = onednn::run_per_thread(chunks, [&](Index begin, Index end, int thread) {
        float* mine = partials.data() + thread * size;
        std::fill(mine, mine + size, 0.0f);
        for (Index chunk = begin; chunk < end; ++chunk) {
            const Index n = chunk / (dy.dim(2) * per_plane), od = chunk / per_plane % dy.dim(2);
            const Index oh0 = chunk % per_plane * rows, oh1 = std::min(ho, oh0 + rows);
            detail::add_rows(x, dy, k, pad, n, od, oh0, oh1, mine);
            if (bias_sums.wanted())
                for (Index oh = oh0; oh < oh1; ++oh)
                    bias_sums.add(thread, dy.data() + n * dy.stride(0) + od * dy.stride(2) + oh * dy.stride(3),
                                  dy.dim(4), dy.stride(4));
        }
    });
    const float* total = onednn::total_of_partials(partials, chunks, team);
    parallel_for(0, co, [&](Index o) {
        for (Index c = 0; c < ci; ++c)
            for (Index kd = 0; kd < k.d; ++kd)
                for (Index kh = 0; kh < k.h; ++kh)
                    for (Index kw = 0; kw < 3; ++kw) {
                        const float v = total[(((kd * k.h + kh) * co + o) * 3 + kw) * ci + c];
                        float& out = dw.data()[o * dw.stride(0) + c * dw.stride(1) + kd * dw.stride(2) +
                                               kh * dw.stride(3) + kw * dw.stride(4)];
                        out = mode == Grad::accumulate ? out + v : v;
                    }
    });
    if (bias_sums.wanted()) bias_sums.write(dbias, mode);
}

#else

inline bool cpu_has_kernel() { return false; }
template <class T>
bool applies(ConstView<T>, ConstView<T>, const Shape&, Index3, Index3) {
    return false;
}
inline void conv3d_weight_grad(ConstView<float>, ConstView<float>, TensorView<float>, TensorView<float>, Index3,
                               Grad) {
    AXONSEG_FAIL("conv3d_backward (weights): the direct kernel needs an x86-64 build with GCC or Clang");
}

#endif

}  // namespace axonseg::backend::weight_grad_direct
