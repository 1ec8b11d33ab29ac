// The backward pass of a CPU transposed convolution with kernel == stride (nnU-Net's upsampling) as
// GEMMs through oneDNN's matmul. Kernel offsets k then never overlap: y(s*d+kd, s*h+kh, s*w+kw) =
// x(d,h,w) . W_k, so with channels-last x as a (P x Ci) matrix (P = N*D*H*W) and dy gathered into
// (P x s^3*Co) rows, dx = dy' . W^T and dw = x^T . dy'. oneDNN 2.6's deconvolution backward-weights
// kernel runs at ~10% of FMA peak; this took the 64->32, 64^3 case from 138 to ~50 ms. It runs a
// block of rows of one (n, d) plane of x at a time, each thread its own blocks: the block's
// gathered dy (an L2-sized chunk) stays in cache for both GEMMs, so dy is read from memory once,
// and no gathered copy of all of dy is made (268 MB in that case, the largest buffer of a training
// step's backward); dW adds up per thread (onednn_per_thread.hpp). The forward stays a
// deconvolution: as a GEMM plus a scatter, or one batched matmul into y, it measured slower.
#pragma once

#include "axonseg/backend/cpu/onednn_per_thread.hpp"

#include <algorithm>
#include <string>

namespace axonseg::backend::onednn {

// Whether the backward pass runs as matmuls: kernel == stride and x (and dx, if wanted) dense
// channels-last, as they are GEMM operands in place; every other case keeps the deconvolution.
template <class T>
bool is_matmul_upsampling(ConstView<T> x, const Shape& w, Index3 stride, ConstView<T> dx) {
    return w[2] == stride.d && w[3] == stride.h && w[4] == stride.w && x.is_channels_last() &&
           (dx.empty() || dx.is_channels_last());
}

namespace matmul_detail {

using dnnl::memory;

// The dy of a block of rows of one plane (n, d) of x, (1,C,s.d,H*s,W*s) with dy's strides (H: the
// block's rows), as the 8-d (n,d,kd,h,kh,w,kw,c): the gather is one reorder from this view, so dy
// may be a channel range of a concat's gradient.
inline MemoryDesc lattice_plane_desc(const Shape& shape, const Strides& st, Index3 s, DataType type) {
    return MemoryDesc({1, 1, s.d, shape[3] / s.h, s.h, shape[4] / s.w, s.w, shape[1]}, type,
                      {st[0], s.d * st[2], st[2], s.h * st[3], st[3], s.w * st[4], st[4], st[1]});
}
// The same view laid out as the dense (H*W x s^3*C) matrix: rows (h,w), columns (kd,kh,kw,c).
inline MemoryDesc gathered_plane_desc(const Shape& shape, Index3 s, DataType type) {
    const Index c = shape[1], k = s.d * s.h * s.w, h = shape[3] / s.h, w = shape[4] / s.w;
    return MemoryDesc({1, 1, s.d, h, s.h, w, s.w, c}, type,
                      {h * w * k * c, h * w * k * c, s.h * s.w * c, w * k * c, s.w * c, k * c, c, 1});
}
// A (Ci,Co,kd,kh,kw) weight with any strides as (Ci,kd,kh,kw,Co), the (Ci x s^3*Co) matrix's order.
inline MemoryDesc weight_desc(const Shape& shape, const Strides& st, DataType type) {
    return MemoryDesc({shape[0], shape[2], shape[3], shape[4], shape[1]}, type,
                      {st[0], st[2], st[3], st[4], st[1]});
}
// A (rows x cols) matrix, row-major or, `transposed`, column-major.
inline MemoryDesc matrix(Index rows, Index cols, DataType type, bool transposed = false) {
    return MemoryDesc({rows, cols}, type, transposed ? memory::dims{1, rows} : memory::dims{cols, 1});
}

inline dnnl::matmul::primitive_desc matmul_desc(const MemoryDesc& a, const MemoryDesc& b, const MemoryDesc& c,
                                                const dnnl::primitive_attr& attr, const std::string& context) {
    const auto desc = AXONSEG_DNNL(context, dnnl::matmul::desc(a, b, c));
    return AXONSEG_DNNL(context, dnnl::matmul::primitive_desc(desc, attr, engine()));
}

// Every descriptor of one backward call, the activations' for one block of `block` rows of a plane
// of x (rows = block*W). dy' and W
// are dense buffers of the call's element type; dW (Ci x s^3*Co) is fp32, so bf16 is rounded once,
// in the final reorder, which also adds into the caller's dw for Grad::accumulate.
struct MatmulDescs {
    MemoryDesc dy, dy_gathered, w, w_packed, dw_packed, dw;  // as the caller's views, then buffers
    MemoryDesc dy_rows, w_t, dx_rows, x_t, dw_rows;          // the same memory as GEMM operands

    template <class T>
    MatmulDescs(ConstView<T> x, ConstView<T> w_view, ConstView<T> dy_view, TensorView<T> dw_view, Index3 s,
                Index block) {
        const DataType t = data_type_of<T>();
        const Index rows = block * x.dim(4), ci = w_view.dim(0);
        const Index kco = s.d * s.h * s.w * w_view.dim(1);  // s^3*Co, the columns of dy' and W
        Shape dy_block = dy_view.shape();  // the dy of one block
        dy_block[3] = block * s.h;
        dy = lattice_plane_desc(dy_block, dy_view.strides(), s, t);
        dy_gathered = gathered_plane_desc(dy_block, s, t);
        w = weight_desc(w_view.shape(), w_view.strides(), t);
        w_packed = MemoryDesc(w.dims(), t, memory::format_tag::abcde);
        dw_packed = MemoryDesc(w.dims(), DataType::f32, memory::format_tag::abcde);
        dw = weight_desc(dw_view.shape(), dw_view.strides(), t);
        dy_rows = matrix(rows, kco, t);
        w_t = matrix(kco, ci, t, true);
        dx_rows = matrix(rows, ci, t);
        x_t = matrix(ci, rows, t, true);
        dw_rows = matrix(ci, kco, DataType::f32);
    }
};

}  // namespace matmul_detail

// dx (overwritten; may be absent) and dw (overwritten or added into per `mode`) of
// conv_transpose3d(x, w) with kernel == stride, for is_matmul_upsampling views.
template <class T>
void conv_transpose3d_matmul_backward(ConstView<T> x, ConstView<T> w, ConstView<T> dy, TensorView<T> dx,
                                      TensorView<T> dw, Index3 stride, Grad mode) {
    const bool with_dx = !dx.empty();
    const std::string key = axonseg::detail::concat(
        "conv_transpose3d_backward matmul ", to_string(dtype_v<T>), " x ", describe(x), " w ", describe(w),
        " dy ", describe(dy), " dx ", describe(dx), " dw ", describe(dw), " stride ", stride,
        mode == Grad::accumulate ? " accumulate" : "");
    const Index ci = w.dim(0), kco = stride.d * stride.h * stride.w * w.dim(1);
    const Index block = rows_per_item(x.dim(3), x.dim(4), kco * Index(sizeof(T)));  // rows of x per block
    const auto d = AXONSEG_DNNL(key, matmul_detail::MatmulDescs(x, w, dy, dw, stride, block));
    struct Entry {
        // gather, gemm_dx and the gemm_dw pair run per block; gemm_dw_add adds into dW (sum post-op).
        Primitive gather, gemm_dw, gemm_dw_add, unpack_dw, pack_w, block_w, gemm_dx;  // the last 3 with dx
        MemoryDesc w_blocked;  // W^T in the layout gemm_dx chose
        std::string implementations() const {
            std::string s = gather.implementation + " / " + gemm_dw.implementation;
            if (gemm_dx.primitive)
                s += " / " + pack_w.implementation + " / " + block_w.implementation + " / " +
                     gemm_dx.implementation;
            return s + " / " + unpack_dw.implementation;
        }
    };
    const Entry& e = PrimitiveCache::instance().get<Entry>(key, [&] {
        using matmul_detail::matmul_desc;
        Entry entry;
        single_threaded([&] {  // the per-block primitives
            entry.gather = make_reorder(d.dy, d.dy_gathered, Grad::overwrite, key);
            entry.gemm_dw = Primitive::from<dnnl::matmul>(
                matmul_desc(d.x_t, d.dy_rows, d.dw_rows, user_scratchpad_attr(), key));
            entry.gemm_dw_add = Primitive::from<dnnl::matmul>(
                matmul_desc(d.x_t, d.dy_rows, d.dw_rows, user_scratchpad_attr(Grad::accumulate), key));
            if (!with_dx) return;
            // W^T is tiny and read for every row block: blocked as the kernel wants, gemm_dx ran 1.6x
            // faster than with plain (transposed) weights, which brgemm copies per block.
            const MemoryDesc any(d.w_t.dims(), d.w_t.data_type(), dnnl::memory::format_tag::any);
            const auto pd = matmul_desc(d.dy_rows, any, d.dx_rows, user_scratchpad_attr(), key);
            entry.gemm_dx = Primitive::from<dnnl::matmul>(pd);
            entry.w_blocked = pd.weights_desc();
        });
        entry.unpack_dw = make_reorder(d.dw_packed, d.dw, mode, key);
        if (with_dx) {
            entry.pack_w = make_reorder(d.w, d.w_packed, Grad::overwrite, key);
            entry.block_w = make_reorder(d.w_t, entry.w_blocked, Grad::overwrite, key);
        }
        return entry;
    });
    auto buffer = [](const MemoryDesc& md) { return Tensor<std::uint8_t>(Shape{Index(md.get_size())}); };
    Tensor<std::uint8_t> w_packed, w_blocked;
    if (with_dx) {
        Execution run(key);
        w_packed = buffer(d.w_packed);  // (Ci, s^3*Co)
        run.run(e.pack_w, {{DNNL_ARG_FROM, run.wrap(d.w, w.data())},
                           {DNNL_ARG_TO, run.wrap(d.w_packed, w_packed.data())}});
        w_blocked = buffer(e.w_blocked);  // (s^3*Co, Ci) blocked
        run.run(e.block_w, {{DNNL_ARG_FROM, run.wrap(d.w_t, w_packed.data())},
                            {DNNL_ARG_TO, run.wrap(e.w_blocked, w_blocked.data())}});
        run.finish();
    }
    const Index blocks_per_plane = x.dim(3) / block, blocks = x.dim(0) * x.dim(2) * blocks_per_plane;
    const Index gathered_len = Index(d.dy_gathered.get_size());  // bytes
    Tensor<std::uint8_t> dy_blocks(Shape{thread_count(), gathered_len});  // per thread (rows, s^3*Co)
    Tensor<float> dw_data(Shape{thread_count(), ci * kco});                      // per thread (Ci, s^3*Co)
    const int team = for_each_item_per_thread(blocks, key, [&](Execution& run, Index item, int thread, bool first) {
        const Index plane = item / blocks_per_plane, n = plane / x.dim(2), z = plane % x.dim(2);
        const Index y0 = item % blocks_per_plane * block;
        const std::uint8_t* dy_block = dy_blocks.data() + thread * gathered_len;
        const T* dy_from = dy.data() + n * dy.stride(0) + z * stride.d * dy.stride(2) + y0 * stride.h * dy.stride(3);
        run.run(e.gather, {{DNNL_ARG_FROM, run.wrap(d.dy, dy_from)}, {DNNL_ARG_TO, run.wrap(d.dy_gathered, dy_block)}});
        const dnnl::memory gathered_rows = run.wrap(d.dy_rows, dy_block);
        if (with_dx)
            run.run(e.gemm_dx,
                    {{DNNL_ARG_SRC, gathered_rows},
                     {DNNL_ARG_WEIGHTS, run.wrap(e.w_blocked, w_blocked.data())},
                     {DNNL_ARG_DST,
                      run.wrap(d.dx_rows, dx.data() + n * dx.stride(0) + z * dx.stride(2) + y0 * dx.stride(3))}});
        run.run(first ? e.gemm_dw : e.gemm_dw_add,
                {{DNNL_ARG_SRC, run.wrap(d.x_t, x.data() + n * x.stride(0) + z * x.stride(2) + y0 * x.stride(3))},
                 {DNNL_ARG_WEIGHTS, gathered_rows},
                 {DNNL_ARG_DST, run.wrap(d.dw_rows, dw_data.data() + thread * ci * kco)}});
    });
    Execution run(key);
    run.run(e.unpack_dw, {{DNNL_ARG_FROM, run.wrap(d.dw_packed, total_of_partials(dw_data, blocks, team))},
                          {DNNL_ARG_TO, run.wrap(d.dw, dw.data())}});
    run.finish();
}

}  // namespace axonseg::backend::onednn
