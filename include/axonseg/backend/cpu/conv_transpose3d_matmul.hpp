// The backward pass of a CPU transposed convolution with kernel == stride (nnU-Net's upsampling) as
// two GEMMs through oneDNN's matmul. Kernel offsets k then never overlap: y(s*d+kd, s*h+kh, s*w+kw) =
// x(d,h,w) . W_k, so with channels-last x as a (P x Ci) matrix (P = N*D*H*W) and dy gathered once into
// (P x s^3*Co) rows, dx = dy' . W^T and dw = x^T . dy'. oneDNN 2.6's deconvolution backward-weights
// kernel runs at ~10% of FMA peak; this took the 64->32, 64^3 case from 138 to ~70 ms. The forward
// stays a deconvolution: as a GEMM plus a scatter, or one batched matmul into y, it measured slower.
#pragma once

#include "axonseg/backend/cpu/onednn.hpp"

#include <string>
#include <vector>

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

// A (N,C,D*s,H*s,W*s) activation with any strides as the 8-d (n,d,kd,h,kh,w,kw,c): the gather is one
// reorder from this view, so dy may be a channel range of a concat's gradient.
inline MemoryDesc lattice_desc(const Shape& shape, const Strides& st, Index3 s, DataType type) {
    return MemoryDesc({shape[0], shape[2] / s.d, s.d, shape[3] / s.h, s.h, shape[4] / s.w, s.w, shape[1]},
                      type, {st[0], s.d * st[2], st[2], s.h * st[3], st[3], s.w * st[4], st[4], st[1]});
}
// The same 8-d view laid out as the dense (P x s^3*C) matrix: rows (n,d,h,w), columns (kd,kh,kw,c).
inline MemoryDesc gathered_desc(const Shape& shape, Index3 s, DataType type) {
    const Index c = shape[1], k = s.d * s.h * s.w;
    const Index d = shape[2] / s.d, h = shape[3] / s.h, w = shape[4] / s.w;
    return MemoryDesc({shape[0], d, s.d, h, s.h, w, s.w, c}, type,
                      {d * h * w * k * c, h * w * k * c, s.h * s.w * c, w * k * c, s.w * c, k * c, c, 1});
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
                                                const std::string& context) {
    const auto desc = AXONSEG_DNNL(context, dnnl::matmul::desc(a, b, c));
    return AXONSEG_DNNL(context, dnnl::matmul::primitive_desc(desc, user_scratchpad_attr(), engine()));
}

// Every descriptor of one backward call. dy' (P x s^3*Co) and W (Ci x s^3*Co) are dense buffers of
// the call's element type; dW (Ci x s^3*Co) is fp32, so bf16 is rounded once, in the final reorder,
// which also adds into the caller's dw for Grad::accumulate.
struct MatmulDescs {
    MemoryDesc dy, dy_gathered, w, w_packed, dw_packed, dw;  // as the caller's views, then buffers
    MemoryDesc dy_rows, w_t, dx_rows, x_t, dw_rows;          // the same memory as GEMM operands

    template <class T>
    MatmulDescs(ConstView<T> x, ConstView<T> w_view, ConstView<T> dy_view, TensorView<T> dw_view, Index3 s) {
        const DataType t = data_type_of<T>();
        const Index p = x.dim(0) * x.dim(2) * x.dim(3) * x.dim(4), ci = w_view.dim(0);
        const Index kco = s.d * s.h * s.w * w_view.dim(1);  // s^3*Co, the columns of dy' and W
        dy = lattice_desc(dy_view.shape(), dy_view.strides(), s, t);
        dy_gathered = gathered_desc(dy_view.shape(), s, t);
        w = weight_desc(w_view.shape(), w_view.strides(), t);
        w_packed = MemoryDesc(w.dims(), t, memory::format_tag::abcde);
        dw_packed = MemoryDesc(w.dims(), DataType::f32, memory::format_tag::abcde);
        dw = weight_desc(dw_view.shape(), dw_view.strides(), t);
        dy_rows = matrix(p, kco, t);
        w_t = matrix(kco, ci, t, true);
        dx_rows = matrix(p, ci, t);
        x_t = matrix(ci, p, t, true);
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
    const auto d = AXONSEG_DNNL(key, matmul_detail::MatmulDescs(x, w, dy, dw, stride));
    struct Entry {
        Primitive gather, pack_w, block_w, gemm_dx, gemm_dw, unpack_dw;  // pack_w..gemm_dx only with dx
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
        entry.gather = make_reorder(d.dy, d.dy_gathered, Grad::overwrite, key);
        entry.gemm_dw = Primitive::from<dnnl::matmul>(matmul_desc(d.x_t, d.dy_rows, d.dw_rows, key));
        entry.unpack_dw = make_reorder(d.dw_packed, d.dw, mode, key);
        if (with_dx) {
            entry.pack_w = make_reorder(d.w, d.w_packed, Grad::overwrite, key);
            // W^T is tiny and read for every row block: blocked as the kernel wants, gemm_dx ran 1.6x
            // faster than with plain (transposed) weights, which brgemm copies per block.
            const MemoryDesc any(d.w_t.dims(), d.w_t.data_type(), dnnl::memory::format_tag::any);
            const auto pd = matmul_desc(d.dy_rows, any, d.dx_rows, key);
            entry.gemm_dx = Primitive::from<dnnl::matmul>(pd);
            entry.w_blocked = pd.weights_desc();
            entry.block_w = make_reorder(d.w_t, entry.w_blocked, Grad::overwrite, key);
        }
        return entry;
    });
    std::vector<Tensor<std::uint8_t>> buffers;  // (bytes) each, pooled
    auto buffer = [&](const MemoryDesc& md) {
        return buffers.emplace_back(Shape{Index(md.get_size())}).data();
    };
    auto mem = [&](const MemoryDesc& md, const void* data) {
        return AXONSEG_DNNL(key, dnnl::memory(md, engine(), const_cast<void*>(data)));
    };
    std::uint8_t* const dy_data = buffer(d.dy_gathered);  // (P, s^3*Co)
    std::uint8_t* const dw_data = buffer(d.dw_packed);    // (Ci, s^3*Co) fp32
    Execution run(key);
    run.run(e.gather, {{DNNL_ARG_FROM, mem(d.dy, dy.data())}, {DNNL_ARG_TO, mem(d.dy_gathered, dy_data)}});
    if (with_dx) {
        std::uint8_t* const w_data = buffer(d.w_packed);  // (Ci, s^3*Co)
        run.run(e.pack_w, {{DNNL_ARG_FROM, mem(d.w, w.data())}, {DNNL_ARG_TO, mem(d.w_packed, w_data)}});
        std::uint8_t* const wb_data = buffer(e.w_blocked);  // (s^3*Co, Ci) blocked
        run.run(e.block_w, {{DNNL_ARG_FROM, mem(d.w_t, w_data)}, {DNNL_ARG_TO, mem(e.w_blocked, wb_data)}});
        run.run(e.gemm_dx, {{DNNL_ARG_SRC, mem(d.dy_rows, dy_data)},
                            {DNNL_ARG_WEIGHTS, mem(e.w_blocked, wb_data)},
                            {DNNL_ARG_DST, mem(d.dx_rows, dx.data())}});
    }
    run.run(e.gemm_dw, {{DNNL_ARG_SRC, mem(d.x_t, x.data())},
                        {DNNL_ARG_WEIGHTS, mem(d.dy_rows, dy_data)},
                        {DNNL_ARG_DST, mem(d.dw_rows, dw_data)}});
    run.run(e.unpack_dw, {{DNNL_ARG_FROM, mem(d.dw_packed, dw_data)}, {DNNL_ARG_TO, mem(d.dw, dw.data())}});
    run.finish();
}

}  // namespace axonseg::backend::onednn
