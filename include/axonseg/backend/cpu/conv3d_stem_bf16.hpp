// The network's first convolution in bf16 (one input channel, 3x3x3, stride 1, pad 1, channels-last
// output), written by hand with AVX512-BF16: oneDNN 2.6 pads the single input channel to a pair and
// ran it at 9.4 ms on 1->32, 128^3, barely faster than fp32 (13.6 ms), while the work is one write
// of the 134 MB output. Here the output channels are the vector lanes and vdpbf16ps multiplies
// pairs: a kernel row's taps (kw 0, kw 1) read x's neighbours (w-1, w), one 32-bit broadcast; kw 2
// pairs with a zero weight. That is 18 vdpbf16ps per 16 channels and voxel, 8 voxels at a time so
// that the accumulators stay in registers and their latency is hidden. x is first copied into
// rows with a zero border (a small copy: x has one channel), so no load leaves the buffer and the
// borders need no code.
// Sums are fp32 and rounded once to bf16 (as oneDNN does); the output, written once and too big
// for the cache, goes out with streaming stores when it is 64-byte aligned.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define AXONSEG_STEM_BF16 1
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <vector>

namespace axonseg::backend::stem_bf16 {

#if defined(AXONSEG_STEM_BF16)

inline bool cpu_has_kernel() {
    static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                  __builtin_cpu_supports("avx512bf16");
    return supported;
}

// Whether conv3d_forward(cpu, ...) takes this kernel for these arguments.
inline bool applies(ConstView<bfloat16> x, ConstView<bfloat16> w, TensorView<bfloat16> y, Index3 stride,
                    Index3 pad) {
    return x.dim(1) == 1 && w.dim(0) % 16 == 0 && w.dim(2) == 3 &&
           w.dim(3) == 3 && w.dim(4) == 3 && stride == Index3::all(1) && pad == Index3::all(1) &&
           y.is_channels_last() && cpu_has_kernel();
}

namespace detail {

// 16 channels' pairs of bf16 weights, one vector.
struct alignas(64) WeightPairs {
    bfloat16 pairs[32];
};

#define AXONSEG_STEM_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline

// The pair (p[0], p[1]) in every 32-bit lane.
AXONSEG_STEM_FN __m512bh broadcast_pair(const bfloat16* p) {
    std::int32_t bits;
    std::memcpy(&bits, p, 4);
    return (__m512bh)_mm512_set1_epi32(bits);
}

// Output voxels w .. w+V-1 of one row, channel groups g and g+1 (G == 2) or g alone (G == 1).
// rows: the 9 padded input rows of the kernel, element 1 + i holding x[i]. weights: per kernel row
// r and group, the pairs (kw0, kw1) at [(2r) * groups + g] and (kw2, 0) at [(2r+1) * groups + g].
// Kernel rows outermost with the accumulators in registers: each weight vector is loaded once per
// V voxels, and voxel v's far pair is voxel v+2's near one, so V+2 broadcasts serve a kernel row.
template <int V, int G>
AXONSEG_STEM_FN void stem_voxels(const bfloat16* const* rows, Index w, const WeightPairs* weights,
                                 Index groups, Index g, const float* bias, bfloat16* out, Index co,
                                 bool stream) {
    __m512 acc[V][G];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v)
        for (int j = 0; j < G; ++j) acc[v][j] = _mm512_loadu_ps(bias + (g + j) * 16);
#pragma GCC unroll 9
    for (int r = 0; r < 9; ++r) {
        const WeightPairs* wr = weights + 2 * r * groups + g;
        __m512bh near_w[G], far_w[G];
        for (int j = 0; j < G; ++j) {
            near_w[j] = (__m512bh)_mm512_load_si512(wr + j);
            far_w[j] = (__m512bh)_mm512_load_si512(wr + groups + j);
        }
        __m512bh pairs[V + 2];  // pairs[i] = (x[w+i-1], x[w+i])
#pragma GCC unroll 10
        for (int i = 0; i < V + 2; ++i) pairs[i] = broadcast_pair(rows[r] + w + i);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v)
            for (int j = 0; j < G; ++j) {
                acc[v][j] = _mm512_dpbf16_ps(acc[v][j], pairs[v], near_w[j]);
                acc[v][j] = _mm512_dpbf16_ps(acc[v][j], pairs[v + 2], far_w[j]);
            }
    }
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
        bfloat16* o = out + (w + v) * co + g * 16;
        if constexpr (G == 2) {
            const __m512i packed = (__m512i)_mm512_cvtne2ps_pbh(acc[v][1], acc[v][0]);
            if (stream)
                _mm512_stream_si512(reinterpret_cast<__m512i*>(o), packed);
            else
                _mm512_storeu_si512(o, packed);
        } else {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), (__m256i)_mm512_cvtneps_pbh(acc[v][0]));
        }
    }
}

// One output row (n, d, h): every voxel, every channel group.
AXONSEG_STEM_FN void stem_row(const bfloat16* const* rows, Index width, const WeightPairs* weights,
                              Index groups, const float* bias, bfloat16* out, bool stream) {
    const Index co = groups * 16;
    for (Index g = 0; g < groups; g += 2) {
        const bool pair = g + 1 < groups;
        Index w = 0;
        for (; w + 8 <= width; w += 8)
            pair ? stem_voxels<8, 2>(rows, w, weights, groups, g, bias, out, co, stream)
                 : stem_voxels<8, 1>(rows, w, weights, groups, g, bias, out, co, stream);
        for (; w < width; ++w)
            pair ? stem_voxels<1, 2>(rows, w, weights, groups, g, bias, out, co, stream)
                 : stem_voxels<1, 1>(rows, w, weights, groups, g, bias, out, co, stream);
    }
}

AXONSEG_STEM_FN void store_fence() { _mm_sfence(); }

#undef AXONSEG_STEM_FN

}  // namespace detail

// y = conv3d(x, w) + bias for `applies` arguments; bias may be absent.
inline void forward(ConstView<bfloat16> x, ConstView<bfloat16> w, ConstView<bfloat16> bias,
                    TensorView<bfloat16> y) {
    const Index n = x.dim(0), depth = x.dim(2), height = x.dim(3), width = x.dim(4);
    const Index co = w.dim(0), groups = co / 16;
    const Index row_len = width + 4;  // x[-1], x[0..W-1], then zeros the `far` pair may read

    // x with a zero border: (N, D+2, H+2, W+4).
    Tensor<bfloat16> padded(Shape{n * (depth + 2) * (height + 2) * row_len});
    bfloat16* const pad_data = padded.data();
    parallel_for(0, n * (depth + 2), [&](Index nd) {
        bfloat16* plane = pad_data + nd * (height + 2) * row_len;
        std::memset(static_cast<void*>(plane), 0, sizeof(bfloat16) * (height + 2) * row_len);
        const Index b = nd / (depth + 2), d = nd % (depth + 2) - 1;
        if (d < 0 || d >= depth) return;
        for (Index h = 0; h < height; ++h) {
            const bfloat16* src = x.data() + b * x.stride(0) + d * x.stride(2) + h * x.stride(3);
            bfloat16* dst = plane + (h + 1) * row_len + 1;
            for (Index i = 0; i < width; ++i) dst[i] = src[i * x.stride(4)];
        }
    });

    // The weights as bf16 pairs per kernel row and channel group (see stem_voxels), the bias in fp32.
    std::vector<detail::WeightPairs> weights(18 * groups);
    for (Index r = 0; r < 9; ++r)
        for (Index c = 0; c < co; ++c) {
            const bfloat16* k = w.data() + c * w.stride(0) + (r / 3) * w.stride(2) + (r % 3) * w.stride(3);
            bfloat16 near[2] = {k[0], k[w.stride(4)]}, far[2] = {k[2 * w.stride(4)], bfloat16(0.0f)};
            std::memcpy(weights[2 * r * groups + c / 16].pairs + 2 * (c % 16), near, 4);
            std::memcpy(weights[(2 * r + 1) * groups + c / 16].pairs + 2 * (c % 16), far, 4);
        }
    std::vector<float> bias_f(co, 0.0f);
    for (Index c = 0; c < co && !bias.empty(); ++c) bias_f[c] = float(bias.data()[c * bias.stride(0)]);

    const bool stream = reinterpret_cast<std::uintptr_t>(y.data()) % 64 == 0 && co % 32 == 0;
    parallel_chunks(0, n * depth * height, [&](Index begin, Index end, int) {
        for (Index i = begin; i < end; ++i) {
            const Index b = i / (depth * height), d = i / height % depth, h = i % height;
            const bfloat16* rows[9];
            for (Index r = 0; r < 9; ++r)
                rows[r] = pad_data + ((b * (depth + 2) + d + r / 3) * (height + 2) + h + r % 3) * row_len;
            bfloat16* out = y.data() + b * y.stride(0) + d * y.stride(2) + h * y.stride(3);
            detail::stem_row(rows, width, weights.data(), groups, bias_f.data(), out, stream);
        }
        detail::store_fence();  // the streamed rows are visible before the next op reads them
    });
}

#endif

}  // namespace axonseg::backend::stem_bf16
