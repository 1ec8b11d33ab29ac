// CPU 3-d convolution through oneDNN, float and bfloat16 (double takes the reference loops).
// Activations are described with their real layout (so channels-last runs brgconv/jit kernels at
// ~92% of FMA peak), weights with format `any`: the user's OIDHW weights are reordered into the
// kernel's blocked format on every call (cheap, and caching them would go stale in training).
// bf16 computes with fp32 accumulation inside oneDNN; weight gradients are accumulated by the
// kernel in fp32 and rounded once when written (or added) into the caller's dw.
// The code is written once for oneDNN's convolution and deconvolution, which share descriptors
// and arguments; conv_transpose3d_onednn.hpp uses it with the deconvolution family.
#pragma once

#include "axonseg/backend/cpu/onednn.hpp"
#include "axonseg/backend/reference/conv3d_ref.hpp"

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

// dst = (de)conv(src, weights) + bias. `weights` is (OC,IC,k...) with any strides; bias may be absent.
template <class Family, class T>
void conv_forward(const char* op, ConstView<T> src, ConstView<T> weights, ConstView<T> bias,
                  TensorView<T> dst, const ConvGeometry& g) {
    const bool with_bias = !bias.empty();
    const std::string key = axonseg::detail::concat(
        op, " ", to_string(dtype_v<T>), " src ", describe(src), " weights ", describe(weights), " bias ",
        describe(bias), " dst ", describe(dst), " stride ", g.stride, " pad ", g.pad);
    struct Entry {
        Primitive conv;
        Operand src, weights, bias, dst;
        std::string implementations() const { return conv.implementation; }
    };
    const Entry& e = PrimitiveCache::instance().get<Entry>(key, [&] {
        const Layout layout = activation_layout(dst, src);
        const ConvDescs d(src, weights.shape(), with_bias, dst.shape(), layout, g);
        const auto pd = d.forward<Family>(user_scratchpad_attr(), key);
        return Entry{Primitive::from<typename Family::Forward>(pd),
                     Operand::input(view_desc(src, layout), pd.src_desc(), key),
                     Operand::input(view_desc(weights, layout), pd.weights_desc(), key),
                     with_bias ? Operand::input(view_desc(bias, layout), pd.bias_desc(), key) : Operand{},
                     Operand::output(view_desc(dst, layout), pd.dst_desc(), Grad::overwrite, key)};
    });
    Execution run(key);
    Args args{{DNNL_ARG_SRC, run.input(e.src, src.data())},
              {DNNL_ARG_WEIGHTS, run.input(e.weights, weights.data())},
              {DNNL_ARG_DST, run.output(e.dst, dst.data())}};
    if (with_bias) args[DNNL_ARG_BIAS] = run.input(e.bias, bias.data());
    run.run(e.conv, std::move(args));
    run.finish();
}

// The gradients of conv_forward: dsrc (overwritten) and dbias may be absent; dweights and dbias are
// overwritten or added into per `mode`. Weight gradients are computed in fp32 for every T.
template <class Family, class T>
void conv_backward(const char* op, ConstView<T> src, ConstView<T> weights, ConstView<T> ddst,
                   TensorView<T> dsrc, TensorView<T> dweights, TensorView<T> dbias, const ConvGeometry& g,
                   Grad mode) {
    const bool with_dsrc = !dsrc.empty(), with_bias = !dbias.empty();
    const std::string key = axonseg::detail::concat(
        op, " ", to_string(dtype_v<T>), " src ", describe(src), " weights ", describe(weights), " ddst ",
        describe(ddst), " dsrc ", describe(dsrc), " dweights ", describe(dweights), " dbias ",
        describe(dbias), " stride ", g.stride, " pad ", g.pad, mode == Grad::accumulate ? " accumulate" : "");
    struct Entry {
        std::optional<Primitive> data;
        Primitive weights;
        Operand src, w, ddst, dsrc, dw, dbias;
        std::string implementations() const {
            return (data ? data->implementation + " / " : std::string()) + weights.implementation;
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
            entry.dsrc = Operand::output(view_desc(dsrc, layout), pd.diff_src_desc(), Grad::overwrite, key);
        }
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
        entry.ddst = Operand::input(view_desc(ddst, layout), pd.diff_dst_desc(), key);
        entry.dw = Operand::output(view_desc(dweights, layout), pd.diff_weights_desc(), mode, key);
        if (with_bias)
            entry.dbias = Operand::output(view_desc(dbias, layout), pd.diff_bias_desc(), mode, key);
        return entry;
    });
    Execution run(key);
    const dnnl::memory dy = run.input(e.ddst, ddst.data());
    if (with_dsrc)
        run.run(*e.data, {{DNNL_ARG_DIFF_DST, dy},
                          {DNNL_ARG_WEIGHTS, run.input(e.w, weights.data())},
                          {DNNL_ARG_DIFF_SRC, run.output(e.dsrc, dsrc.data())}});
    Args args{{DNNL_ARG_SRC, run.input(e.src, src.data())},
              {DNNL_ARG_DIFF_DST, dy},
              {DNNL_ARG_DIFF_WEIGHTS, run.output(e.dw, dweights.data())}};
    if (with_bias) args[DNNL_ARG_DIFF_BIAS] = run.output(e.dbias, dbias.data());
    run.run(e.weights, std::move(args));
    run.finish();
}

}  // namespace onednn

template <class T>
void conv3d_forward(Cpu, ConstView<T> x, ConstView<T> w, ConstView<T> bias, TensorView<T> y, Index3 stride,
                    Index3 pad) {
    if constexpr (!onednn::has_data_type<T>)
        conv3d_forward(reference, x, w, bias, y, stride, pad);
    else
        onednn::conv_forward<onednn::Convolution>("conv3d_forward", x, w, bias, y, {stride, pad});
}

template <class T>
void conv3d_backward(Cpu, ConstView<T> x, ConstView<T> w, ConstView<T> dy, TensorView<T> dx, TensorView<T> dw,
                     TensorView<T> dbias, Index3 stride, Index3 pad, Grad mode) {
    if constexpr (!onednn::has_data_type<T>)
        conv3d_backward(reference, x, w, dy, dx, dw, dbias, stride, pad, mode);
    else
        onednn::conv_backward<onednn::Convolution>("conv3d_backward", x, w, dy, dx, dw, dbias, {stride, pad},
                                                   mode);
}

}  // namespace axonseg::backend
