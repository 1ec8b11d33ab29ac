// CPU 3-d convolution through oneDNN, float and bfloat16 (double takes the reference loops).
// Activations are described with their real layout (so channels-last runs brgconv/jit kernels at
// ~92% of FMA peak), weights with format `any`: the user's OIDHW weights are reordered into the
// kernel's blocked format, and the result is kept while the weights' bytes stay the same
// (onednn_weight_cache.hpp: for bf16 that reorder took as long as the conv itself on 8^3).
// With stride 1, dx runs as a forward convolution of dy (oneDNN 2.6's backward-data kernel is
// slower than its forward one; see conv3d_backward below).
// bf16 computes with fp32 accumulation inside oneDNN; weight gradients are accumulated by the
// kernel in fp32 and rounded once when written (or added) into the caller's dw.
// The code is written once for oneDNN's convolution and deconvolution, which share descriptors
// and arguments; conv_transpose3d_onednn.hpp uses it with the deconvolution family.
#pragma once

#include "axonseg/backend/cpu/conv3d_stem_bf16.hpp"
#include "axonseg/backend/cpu/conv3d_weight_grad_direct.hpp"
#include "axonseg/backend/cpu/conv3d_weight_grad_gemm.hpp"
#include "axonseg/backend/cpu/onednn.hpp"
#include "axonseg/backend/cpu/onednn_weight_cache.hpp"
#include "axonseg/backend/reference/conv3d_ref.hpp"
#include "axonseg/core/parallel.hpp"

namespace axonseg::backend {

namespace onednn {

struct Convolution {
    using Forward = dnnl::convolution_forward;
    using BackwardData = dnnl::convolution_backward_data;
    using BackwardWeights = dnnl::convolution_backward_weights;
    static constexpr dnnl::algorithm k_algorithm = dnnl::algorithm::convolution_direct;
};
struct Deconvolution {
    using Forward = dnnl::deconvolution_forward;
    using BackwardData = dnnl::deconvolution_backward_data;
    using BackwardWeights = dnnl::deconvolution_backward_weights;
    static constexpr dnnl::algorithm k_algorithm = dnnl::algorithm::deconvolution_direct;
};

// Strides and the symmetric zero padding. oneDNN checks (D + pad_l + pad_r - k) / stride + 1 == Do
// with integer division, so PyTorch's floor semantics pass with pad_r = pad_l.
struct ConvGeometry {
    Index3 stride, pad;
};

// The descriptors of one (de)convolution in oneDNN's terms: src (N,IC,...), weights (OC,IC,k...)
// in format `any`, bias (OC) or none, dst (N,OC,...), activations dense in `layout`.
struct ConvDescs {
    MemoryDesc src, weights, bias, dst;
    dnnl::memory::dims stride, pad;

    template <class T>
    ConvDescs(ConstView<T> src_view, const Shape& weights_shape, bool with_bias, const Shape& dst_shape,
              Layout layout, const ConvGeometry& g)
        : src(dense_desc(src_view.shape(), layout, data_type_of<T>())),
          weights(dnnl::memory::dims(weights_shape.begin(), weights_shape.end()), data_type_of<T>(),
                  dnnl::memory::format_tag::any),
          bias(with_bias ? MemoryDesc({weights_shape[0]}, data_type_of<T>(), dnnl::memory::format_tag::x)
                         : MemoryDesc()),
          dst(dense_desc(dst_shape, layout, data_type_of<T>())),
          stride(dims_of(g.stride)),
          pad(dims_of(g.pad)) {}

    template <class Family>
    typename Family::Forward::primitive_desc forward(const dnnl::primitive_attr& attr,
                                                     const std::string& context) const {
        return AXONSEG_DNNL(context, typename Family::Forward::primitive_desc(
                                         {dnnl::prop_kind::forward_training, Family::k_algorithm, src,
                                          weights, bias, dst, stride, pad, pad},
                                         attr, engine()));
    }
};

// Whether a call's weights go through the WeightCache: not for weights made for one call, whose
// entries would only hold memory until evicted.
enum class WeightCaching { on, off };

// dst = (de)conv(src, weights) + bias, overwritten or added into per `mode`. `weights` is
// (OC,IC,k...) with any strides; bias may be absent.
template <class Family, class T>
void conv_forward(const char* op, ConstView<T> src, ConstView<T> weights, ConstView<T> bias,
                  TensorView<T> dst, const ConvGeometry& g, WeightCaching caching = WeightCaching::on,
                  Grad mode = Grad::overwrite) {
    const bool with_bias = !bias.empty();
    const std::string key = axonseg::detail::concat(
        op, " ", to_string(dtype_v<T>), " src ", describe(src), " weights ", describe(weights), " bias ",
        describe(bias), " dst ", describe(dst), " stride ", g.stride, " pad ", g.pad,
        mode == Grad::accumulate ? " accumulate" : "");
    struct Entry {
        Primitive conv;
        Operand src, weights, bias, dst;
        std::string implementations() const { return conv.implementation; }
    };
    const Entry& e = PrimitiveCache::instance().get<Entry>(key, [&] {
        const Layout layout = activation_layout(dst, src);
        const ConvDescs d(src, weights.shape(), with_bias, dst.shape(), layout, g);
        // Accumulating: a dst the kernel writes in place adds with a sum post-op (no extra pass); a
        // staged one is written to a buffer that a reorder then adds into dst.
        const bool add_in_place = mode == Grad::accumulate && view_desc(dst, layout) == d.dst;
        const auto pd =
            d.forward<Family>(user_scratchpad_attr(add_in_place ? Grad::accumulate : Grad::overwrite), key);
        return Entry{Primitive::from<typename Family::Forward>(pd),
                     Operand::input(view_desc(src, layout), pd.src_desc(), key),
                     Operand::input(view_desc(weights, layout), pd.weights_desc(), key),
                     with_bias ? Operand::input(view_desc(bias, layout), pd.bias_desc(), key) : Operand{},
                     Operand::output(view_desc(dst, layout), pd.dst_desc(),
                                     add_in_place ? Grad::overwrite : mode, key)};
    });
    Execution run(key);
    Args args{{DNNL_ARG_SRC, run.input(e.src, src.data())},
              {DNNL_ARG_WEIGHTS, caching == WeightCaching::on ? weights_input(run, e.weights, weights)
                                                                : run.input(e.weights, weights.data())},
              {DNNL_ARG_DST, run.output(e.dst, dst.data())}};
    if (with_bias) args[DNNL_ARG_BIAS] = run.input(e.bias, bias.data());
    run.run(e.conv, std::move(args));
    run.finish();
}

// The gradients of conv_forward: dsrc (overwritten), dweights and dbias may be absent (dbias must be
// when dweights is); dweights and dbias are overwritten or added into per `mode`. Weight gradients
// are computed in fp32 for every T.
template <class Family, class T>
void conv_backward(const char* op, ConstView<T> src, ConstView<T> weights, ConstView<T> ddst,
                   TensorView<T> dsrc, TensorView<T> dweights, TensorView<T> dbias, const ConvGeometry& g,
                   Grad mode) {
    const bool with_dsrc = !dsrc.empty(), with_dw = !dweights.empty(), with_bias = !dbias.empty();
    const std::string key = axonseg::detail::concat(
        op, " ", to_string(dtype_v<T>), " src ", describe(src), " weights ", describe(weights), " ddst ",
        describe(ddst), " dsrc ", describe(dsrc), " dweights ", describe(dweights), " dbias ",
        describe(dbias), " stride ", g.stride, " pad ", g.pad, mode == Grad::accumulate ? " accumulate" : "");
    struct Entry {
        std::optional<Primitive> data, weights;
        Operand src, w, ddst, dsrc, dw, dbias;
        std::string implementations() const {
            return (data ? data->implementation : std::string()) + (data && weights ? " / " : "") +
                   (weights ? weights->implementation : std::string());
        }
    };
    const Entry& e = PrimitiveCache::instance().get<Entry>(key, [&] {
        const Layout layout = activation_layout(ddst, src, dsrc);
        const ConvDescs d(src, weights.shape(), with_bias, ddst.shape(), layout, g);
        // The forward descriptor is oneDNN's hint for choosing matching backward kernels.
        const auto hint = d.forward<Family>(dnnl::primitive_attr(), key);
        const dnnl::primitive_attr attr = user_scratchpad_attr();
        Entry entry;
        if (with_dsrc) {
            const auto pd =
                AXONSEG_DNNL(key, typename Family::BackwardData::primitive_desc(
                                      {Family::k_algorithm, d.src, d.weights, d.dst, d.stride, d.pad, d.pad},
                                      attr, engine(), hint));
            entry.data = Primitive::from<typename Family::BackwardData>(pd);
            entry.w = Operand::input(view_desc(weights, layout), pd.weights_desc(), key);
            entry.ddst = Operand::input(view_desc(ddst, layout), pd.diff_dst_desc(), key);
            entry.dsrc = Operand::output(view_desc(dsrc, layout), pd.diff_src_desc(), Grad::overwrite, key);
        }
        if (!with_dw) return entry;
        const MemoryDesc dw_any(d.weights.dims(), DataType::f32, dnnl::memory::format_tag::any);
        const MemoryDesc db = with_bias
                                  ? MemoryDesc({weights.dim(0)}, DataType::f32, dnnl::memory::format_tag::x)
                                  : MemoryDesc();
        const auto pd =
            AXONSEG_DNNL(key, typename Family::BackwardWeights::primitive_desc(
                                  {Family::k_algorithm, d.src, dw_any, db, d.dst, d.stride, d.pad, d.pad},
                                  attr, engine(), hint));
        entry.weights = Primitive::from<typename Family::BackwardWeights>(pd);
        entry.src = Operand::input(view_desc(src, layout), pd.src_desc(), key);
        entry.ddst = Operand::input(view_desc(ddst, layout), pd.diff_dst_desc(), key);  // as the data pass's
        entry.dw = Operand::output(view_desc(dweights, layout), pd.diff_weights_desc(), mode, key);
        if (with_bias)
            entry.dbias = Operand::output(view_desc(dbias, layout), pd.diff_bias_desc(), mode, key);
        return entry;
    });
    Execution run(key);
    const dnnl::memory dy = run.input(e.ddst, ddst.data());
    if (with_dsrc)
        run.run(*e.data, {{DNNL_ARG_DIFF_DST, dy},
                          {DNNL_ARG_WEIGHTS, weights_input(run, e.w, weights)},
                          {DNNL_ARG_DIFF_SRC, run.output(e.dsrc, dsrc.data())}});
    if (with_dw) {
        Args args{{DNNL_ARG_SRC, run.input(e.src, src.data())},
                  {DNNL_ARG_DIFF_DST, dy},
                  {DNNL_ARG_DIFF_WEIGHTS, run.output(e.dw, dweights.data())}};
        if (with_bias) args[DNNL_ARG_DIFF_BIAS] = run.output(e.dbias, dbias.data());
        run.run(*e.weights, std::move(args));
    }
    run.finish();
}

// Whether dx of a convolution runs as a forward convolution (below): stride 1 and pad <= k - 1.
inline bool is_forward_backward_data(const Shape& w, const ConvGeometry& g) {
    return g.stride == Index3::all(1) && g.pad.d <= w[2] - 1 && g.pad.h <= w[3] - 1 && g.pad.w <= w[4] - 1;
}

// The (Co,Ci,k...) weights w as the dense (Ci,Co,k...) weights of the convolution that computes dx:
// transposed and reversed in space. Written by our loop, in one pass over w: oneDNN takes no negative
// strides, and its reorder from a transposed view measured 40 ms for the 320x320x27 weights.
template <class T>
Tensor<T> flipped_transposed(ConstView<T> w) {
    const Index co = w.dim(0), ci = w.dim(1), kd = w.dim(2), kh = w.dim(3), kw = w.dim(4), k = kd * kh * kw;
    Tensor<T> out(Shape{ci, co, kd, kh, kw});
    T* const data = out.data();
    parallel_for(0, co * ci, [&](Index oi) {
        const Index o = oi / ci, i = oi % ci;
        const T* in = w.data() + o * w.stride(0) + i * w.stride(1);
        T* dst = data + (i * co + o + 1) * k - 1;  // its kernel, written backwards
        for (Index a = 0; a < kd; ++a)
            for (Index b = 0; b < kh; ++b)
                for (Index c = 0; c < kw; ++c) *dst-- = in[a * w.stride(2) + b * w.stride(3) + c * w.stride(4)];
    });
    return out;
}

}  // namespace onednn

template <class T>
void conv3d_forward(Cpu, ConstView<T> x, ConstView<T> w, ConstView<T> bias, TensorView<T> y, Index3 stride,
                    Index3 pad, Grad mode = Grad::overwrite) {
    if constexpr (!onednn::has_data_type<T>)
        conv3d_forward(reference, x, w, bias, y, stride, pad, mode);
    else {
#if defined(AXONSEG_STEM_BF16)
        if constexpr (std::is_same_v<T, bfloat16>)
            if (mode == Grad::overwrite && stem_bf16::applies(x, w, y, stride, pad))
                return stem_bf16::forward(x, w, bias, y);
#endif
        onednn::conv_forward<onednn::Convolution>("conv3d_forward", x, w, bias, y, {stride, pad},
                                                  onednn::WeightCaching::on, mode);
    }
}

// dx (overwritten) of conv3d(x, w): x's shape and layout are dx's.
template <class T>
void conv3d_backward_data(Cpu, ConstView<T> w, ConstView<T> dy, TensorView<T> dx, Index3 stride, Index3 pad) {
    if constexpr (!onednn::has_data_type<T>)
        conv3d_backward_data(reference, w, dy, dx, stride, pad);
    else if (!onednn::is_forward_backward_data(w.shape(), {stride, pad}))
        onednn::conv_backward<onednn::Convolution>("conv3d_backward (data)", ConstView<T>(dx), w, dy, dx,
                                                   TensorView<T>{}, TensorView<T>{}, {stride, pad}, Grad::overwrite);
    else {
        // oneDNN 2.6 has no brgemm kernel for backward data: its jit one took 164 ms against the
        // forward's 111 ms on 64->64, 64^3. With stride 1, dx is the forward convolution of dy with
        // the weights transposed and flipped, padded k-1-pad (what oneDNN 3 does inside).
        const Tensor<T> w_t = onednn::flipped_transposed(w);  // (Ci,Co,k...)
        const Index3 k{w.dim(2), w.dim(3), w.dim(4)};
        onednn::conv_forward<onednn::Convolution>(
            "conv3d_backward (data as a forward conv)", dy, ConstView<T>(w_t), ConstView<T>{}, dx,
            {Index3::all(1), Index3{k.d - 1 - pad.d, k.h - 1 - pad.h, k.w - 1 - pad.w}},
            onednn::WeightCaching::off);
    }
}

// dw and dbias (may be absent), overwritten or added into per `mode`, of conv3d(x, w).
template <class T>
void conv3d_backward_weights(Cpu, ConstView<T> x, ConstView<T> dy, TensorView<T> dw, TensorView<T> dbias,
                             Index3 stride, Index3 pad, Grad mode) {
    if constexpr (!onednn::has_data_type<T>) {
        conv3d_backward_weights(reference, x, dy, dw, dbias, stride, pad, mode);
    } else {
        if (weight_grad_direct::applies(x, dy, dw.shape(), stride, pad))
            weight_grad_direct::conv3d_weight_grad(x, dy, dw, dbias, pad, mode);
        else if (onednn::is_gemm_weight_grad(x, dy, dw.shape(), stride, pad))
            onednn::conv3d_weight_grad_gemm(x, dy, dw, dbias, stride, pad, mode);
        else
            onednn::conv_backward<onednn::Convolution>("conv3d_backward (weights)", x, ConstView<T>(dw), dy,
                                                       TensorView<T>{}, dw, dbias, {stride, pad}, mode);
    }
}

template <class T>
void conv3d_backward(Cpu, ConstView<T> x, ConstView<T> w, ConstView<T> dy, TensorView<T> dx, TensorView<T> dw,
                     TensorView<T> dbias, Index3 stride, Index3 pad, Grad mode) {
    if (!dx.empty()) conv3d_backward_data(cpu, w, dy, dx, stride, pad);
    conv3d_backward_weights(cpu, x, dy, dw, dbias, stride, pad, mode);
}

}  // namespace axonseg::backend
