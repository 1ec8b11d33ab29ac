// The weight gradient of a strided CPU convolution as im2col + GEMM through oneDNN's matmul:
// dW (Co x k^3*Ci) = sum over output voxels of dy (Co) x the input patch they saw (k^3*Ci). oneDNN
// 2.6 has no brgemm kernel for backward weights, and its jit one runs the network's stride-2 convs
// at about half of the FMA peak (ONEDNN_VERBOSE: ~120 of the 181 ms of the 32->64 backward from
// 128^3), while the GEMM runs near 80% of it. The patch matrix is built a few output rows at a time
// (an L2-sized chunk, which the GEMM reads right after its writing) by each thread for its own
// chunks, and dW accumulates per thread in fp32 with oneDNN's sum post-op (onednn_per_thread.hpp).
// With stride 1 the patch matrix would be 27 times the input, written and read once per conv, so
// stride-1 convs take conv3d_weight_grad_direct.hpp or oneDNN's jit kernel, except 1x1x1 ones (the
// segmentation heads), whose patch matrix is x itself, used in place: the jit kernel took 100 ms
// for the 32 -> 2 head's 268 MB input at 128^3.
#pragma once

#include "axonseg/backend/cpu/onednn_per_thread.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace axonseg::backend::onednn {

// Whether a conv's patch matrix is its input: kernel 1, stride 1, no padding.
inline bool is_pointwise(const Shape& w, Index3 stride, Index3 pad) {
    return w[2] == 1 && w[3] == 1 && w[4] == 1 && stride == Index3::all(1) && pad == Index3::all(0);
}

// Whether the weight gradient takes this path: a strided or pointwise conv on dense channels-last
// activations.
template <class T>
bool is_gemm_weight_grad(ConstView<T> x, ConstView<T> dy, const Shape& w, Index3 stride, Index3 pad) {
    return (stride != Index3::all(1) || is_pointwise(w, stride, pad)) && x.is_channels_last() &&
           dy.is_channels_last();
}

namespace gemm_detail {

// The patch matrix for output voxels (n, od, oh0 .. oh0+rows/Wo-1, all ow): row r holds, for every
// kernel offset (kd, kh, kw) in that order, the Ci channels of x under it, zeros in the padding.
template <class T>
void im2col(ConstView<T> x, Index3 k, Index3 stride, Index3 pad, Index n, Index od, Index oh0, Index rows,
            Index wo, T* cols) {
    const Index ci = x.dim(1), depth = x.dim(2), height = x.dim(3), width = x.dim(4);
    const Index row_len = k.d * k.h * k.w * ci;
    for (Index r = 0; r < rows; ++r) {
        const Index oh = oh0 + r / wo, ow = r % wo;
        T* dst = cols + r * row_len;
        for (Index a = 0; a < k.d; ++a) {
            const Index id = od * stride.d - pad.d + a;
            for (Index b = 0; b < k.h; ++b, dst += k.w * ci) {
                const Index ih = oh * stride.h - pad.h + b;
                if (id < 0 || id >= depth || ih < 0 || ih >= height) {
                    std::fill(dst, dst + k.w * ci, T(0.0f));
                    continue;
                }
                const T* row = x.data() + n * x.stride(0) + id * x.stride(2) + ih * x.stride(3);
                const Index iw0 = ow * stride.w - pad.w;
                const Index first = std::max<Index>(0, -iw0), last = std::min(k.w, width - iw0);  // in range
                std::fill(dst, dst + first * ci, T(0.0f));
                if (last > first)
                    std::memcpy(static_cast<void*>(dst + first * ci), row + (iw0 + first) * ci,
                                sizeof(T) * (last - first) * ci);
                std::fill(dst + std::max(first, last) * ci, dst + k.w * ci, T(0.0f));
            }
        }
    }
}

}  // namespace gemm_detail

// dw (Co,Ci,kd,kh,kw) and dbias (Co, may be absent), overwritten or added into per `mode`, of
// conv3d(x, w) for is_gemm_weight_grad views; sums in fp32 (bf16 is rounded once, at the end).
template <class T>
void conv3d_weight_grad_gemm(ConstView<T> x, ConstView<T> dy, TensorView<T> dw, TensorView<T> dbias,
                             Index3 stride, Index3 pad, Grad mode) {
    using dnnl::memory;
    const Index co = dw.dim(0), ci = dw.dim(1);
    const Index3 k{dw.dim(2), dw.dim(3), dw.dim(4)};
    const Index ho = dy.dim(3), wo = dy.dim(4), cols = k.d * k.h * k.w * ci;
    const Index rows = rows_per_item(ho, wo, cols * Index(sizeof(T))) * wo;  // output voxels per chunk
    const std::string key = axonseg::detail::concat(
        "conv3d_backward weights gemm ", to_string(dtype_v<T>), " x ", describe(x), " dy ", describe(dy),
        " dw ", describe(dw), " stride ", stride, " pad ", pad, mode == Grad::accumulate ? " accumulate" : "");
    const DataType t = data_type_of<T>();
    const MemoryDesc dy_t({co, rows}, t, memory::dims{1, co});  // a chunk's dy, transposed in place
    const MemoryDesc patches({rows, cols}, t, memory::dims{cols, 1});
    const MemoryDesc dw_rows({co, cols}, DataType::f32, memory::dims{cols, 1});  // (Co, kd,kh,kw,Ci)
    const MemoryDesc dw_packed({co, k.d, k.h, k.w, ci}, DataType::f32, memory::format_tag::abcde);
    const MemoryDesc dw_user({co, k.d, k.h, k.w, ci}, t,
                             {dw.stride(0), dw.stride(2), dw.stride(3), dw.stride(4), dw.stride(1)});
    struct Entry {
        Primitive gemm, gemm_add, unpack;  // gemm_add adds into dW (sum post-op)
        std::string implementations() const { return gemm.implementation + " / " + unpack.implementation; }
    };
    const Entry& e = PrimitiveCache::instance().get<Entry>(key, [&] {
        auto matmul = [&](const dnnl::primitive_attr& attr) {
            return single_threaded([&] {
                const auto desc = AXONSEG_DNNL(key, dnnl::matmul::desc(dy_t, patches, dw_rows));
                return Primitive::from<dnnl::matmul>(
                    AXONSEG_DNNL(key, dnnl::matmul::primitive_desc(desc, attr, engine())));
            });
        };
        return Entry{matmul(user_scratchpad_attr()), matmul(user_scratchpad_attr(Grad::accumulate)),
                     make_reorder(dw_packed, dw_user, mode, key)};
    });
    const Index per_plane = ho * wo / rows, chunks = dy.dim(0) * dy.dim(2) * per_plane;
    const bool pointwise = is_pointwise(dw.shape(), stride, pad);
    // Per thread: the patch matrix (rows, kd*kh*kw*Ci), none when it is x itself; dW (Co, kd*kh*kw*Ci).
    Tensor<T> patch_data(pointwise ? Shape{0} : Shape{thread_count(), rows, cols});
    Tensor<float> dw_data(Shape{thread_count(), co * cols});
    BiasGradSums bias_sums(co, !dbias.empty());
    const int team = for_each_item_per_thread(chunks, key, [&](Execution& run, Index chunk, int thread, bool first) {
        const Index n = chunk / (dy.dim(2) * per_plane), od = chunk / per_plane % dy.dim(2);
        const Index oh0 = chunk % per_plane * (rows / wo);
        const T* patch = x.data() + n * x.stride(0) + od * x.stride(2) + oh0 * x.stride(3);
        if (!pointwise) {
            T* copy = patch_data.data() + thread * rows * cols;
            gemm_detail::im2col(x, k, stride, pad, n, od, oh0, rows, wo, copy);
            patch = copy;
        }
        const T* dy_chunk = dy.data() + n * dy.stride(0) + od * dy.stride(2) + oh0 * dy.stride(3);  // (rows, Co)
        run.run(first ? e.gemm : e.gemm_add, {{DNNL_ARG_SRC, run.wrap(dy_t, dy_chunk)},
                                              {DNNL_ARG_WEIGHTS, run.wrap(patches, patch)},
                                              {DNNL_ARG_DST, run.wrap(dw_rows, dw_data.data() + thread * co * cols)}});
        if (bias_sums.wanted()) bias_sums.add(thread, dy_chunk, rows, co);
    });
    Execution run(key);
    run.run(e.unpack, {{DNNL_ARG_FROM, run.wrap(dw_packed, total_of_partials(dw_data, chunks, team))},
                       {DNNL_ARG_TO, run.wrap(dw_user, dw.data())}});
    run.finish();
    if (bias_sums.wanted()) bias_sums.write(dbias, mode);
}

}  // namespace axonseg::backend::onednn
