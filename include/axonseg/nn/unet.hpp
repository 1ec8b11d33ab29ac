// nnU-Net v1's Generic U-Net (convolutional pooling and upsampling, InstanceNorm3d + LeakyReLU
// blocks, deep supervision) built from a UNetTopology, with PyTorch's parameter names, forward and
// backward. Activations are channels-last between layers; T is the compute type (float, double for
// gradient checks, bfloat16 for inference), the parameters are fp32 masters (nn/parameter.hpp).
// The decision a reader would otherwise get wrong is what training keeps. PyTorch keeps every conv
// block's conv output and its activated output, and each concat. Here a block keeps only its conv
// output z and the norm statistics; its activated output (one norm pass over z) is recomputed
// whenever a backward needs it as an input, and freed at once. No concat exists: a decoder level's
// first conv runs on the two halves of its weight in turn (upsampled, then skip) and sums them, in
// the forward and in the backward (each half's input recomputed there: the upsampling once more, the
// skip from its z), so neither the concat nor its gradient is ever allocated; at full resolution the
// concat alone is 512 MiB in fp32 and set the peak of the forward. The skip's activation lives from
// its encoder stage to its decoder level. Inference keeps nothing: a block normalises its conv
// output in place and every activation is freed once consumed.
#pragma once

#include "axonseg/nn/parameter.hpp"
#include "axonseg/nn/unet_topology.hpp"
#include "axonseg/ops/add.hpp"
#include "axonseg/ops/conv3d.hpp"
#include "axonseg/ops/conv_transpose3d.hpp"
#include "axonseg/ops/instance_norm_leaky_relu.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace axonseg::nn {

template <Floating T, Backend B = Cpu>
    requires is_host_device<device_of<B>>
class UNet {
public:
    // Builds the network of `topology` with nnU-Net's He initialisation drawn from `seed`.
    explicit UNet(UNetTopology topology, std::uint64_t seed = 0) : m_top(std::move(topology)) {
        m_top.validate();
        build();
        std::mt19937_64 rng(seed);
        for (Parameter& p : m_params)
            if (p.name.ends_with("weight") && !p.name.ends_with("instnorm.weight")) he_normal(p.value, 1e-2, rng);
        update_working_copy();
    }

    const UNetTopology& topology() const { return m_top; }
    Mode mode() const { return m_mode; }
    // Switching mode drops whatever a training forward kept.
    void set_mode(Mode mode) {
        m_mode = mode;
        release_caches();
    }

    // In PyTorch's named_parameters() order.
    std::span<Parameter> parameters() { return m_params; }
    std::vector<optim::ParamRef> param_refs() { return nn::param_refs(m_params); }

    // The parameter of a state-dict key; a DataParallel checkpoint's "module." prefix is accepted.
    Parameter& parameter(std::string_view name) { return m_params[std::size_t(index_of(name))]; }

    // Copies `value` into the named parameter (shapes must agree) and its working copy.
    void load(std::string_view name, TensorView<const float> value) {
        const int i = index_of(name);
        Parameter& p = m_params[std::size_t(i)];
        AXONSEG_CHECK(value.shape() == p.value.shape(), "UNet::load: parameter '", p.name, "' is ",
                      p.value.shape(), ", the value given is ", value.shape());
        copy(value, p.value.view());
        if constexpr (!k_master_is_working) copy(TensorView<const float>(p.value), m_work[std::size_t(i)].view());
    }

    // Casts the fp32 masters into the T working copy; call after changing parameter values in place
    // (an optimiser step). Nothing to do when T is float: the network computes on the masters.
    void update_working_copy() {
        if constexpr (!k_master_is_working) {
            m_work.resize(m_params.size());
            for (std::size_t i = 0; i < m_params.size(); ++i)
                m_work[i] = to<T>(TensorView<const float>(m_params[i].value));
        }
    }

    // The weights and gradients the network computes with, in T (the masters themselves for float;
    // the gradients exist after a backward pass). Gradient checks in double perturb these directly.
    TensorView<T> working_value(std::size_t i) {
        if constexpr (k_master_is_working) return m_params[i].value;
        else return m_work[i];
    }
    TensorView<const T> working_grad(std::size_t i) const { return grad(int(i)); }

    void zero_grad() {
        for (Parameter& p : m_params) fill(p.grad.view(), 0.0f);
    }

    // x (N, input_channels, D, H, W), each spatial size a positive multiple of the total pooling.
    // Returns the logits (N, classes, ...) channels-last, full resolution first: every
    // deep-supervision output in training mode (one per pooling), the full-resolution one alone in
    // inference mode or without deep supervision. Training mode keeps what backward() needs.
    std::vector<Tensor<T>> forward(TensorView<const T> x) {
        check_input(x.shape());
        const bool training = m_mode == Mode::training;
        const int P = m_top.poolings();
        release_caches();
        if (training) m_input = to<T>(x, Layout::channels_last);  // the first conv's backward reads it

        // Encoder: stage s < P ends in the skip for the decoder level of its resolution.
        std::vector<Tensor<T>> skips(static_cast<std::size_t>(P));
        Tensor<T> a;                                          // (N,C,D,H,W) the latest activation
        TensorView<const T> in = training ? m_input.view() : x;  // the next block's input
        for (int s = 0; s <= P; ++s) {
            for (Block& b : m_encoder[s]) {
                a = block_forward(b, in, std::move(a));  // the old activation dies in the call that read it
                in = a;
            }
            if (s < P) skips[std::size_t(s)] = std::move(a);
        }

        // Decoder: level u (lowest resolution first) upsamples, joins the skip of stage P-1-u.
        std::vector<Tensor<T>> outputs;
        for (int u = 0; u < P; ++u) {
            const int stage = P - 1 - u;
            Tensor<T>& skip = skips[std::size_t(stage)];  // (N,C,D,H,W)
            Tensor<T> upsampled(skip.shape(), Layout::channels_last);  // (N,C,D,H,W)
            conv_transpose3d_forward(backend(), in, working(m_up[u]), upsampled.view(),
                                     ConvTranspose3dParams{.stride = m_top.pool_strides[std::size_t(stage)]});
            a = {};
            a = first_block_forward(m_decoder[u].front(), std::move(upsampled), std::move(skip));
            for (std::size_t i = 1; i < m_decoder[u].size(); ++i) {
                const TensorView<const T> block_in = a;
                a = block_forward(m_decoder[u][i], block_in, std::move(a));
            }
            in = a;
            if (returns_output(u)) outputs.push_back(seg_forward(u, a));
        }
        std::reverse(outputs.begin(), outputs.end());
        m_output_shapes.clear();
        for (const Tensor<T>& o : outputs) m_output_shapes.push_back(o.shape());
        m_ready_for_backward = training;
        return outputs;
    }

    // The backward pass of the last training forward. doutputs: one per returned output, in the same
    // order, each the gradient of the loss with respect to that output (any dense layout), or empty
    // for an output the loss ignores. Parameter gradients are overwritten or added into per `mode`;
    // the caches are freed as the pass goes.
    void backward(std::span<const TensorView<const T>> doutputs, Grad mode = Grad::overwrite) {
        check_doutputs(doutputs);
        if constexpr (!k_master_is_working)
            for (std::size_t i = m_work_grad.size(); i < m_params.size(); ++i)
                m_work_grad.push_back(Tensor<T>(m_params[i].value.shape()));
        const int P = m_top.poolings();
        const Grad gm = k_master_is_working ? mode : Grad::overwrite;  // working grads are merged below
        auto doutput_of = [&](int u) {  // the gradient for level u's seg output, or empty
            if (!returns_output(u)) return TensorView<const T>{};
            return doutputs[std::size_t(m_top.deep_supervision ? P - 1 - u : 0)];
        };

        // Decoder, full resolution first. `a` is the level's output (recomputed), `da` its gradient
        // as the level above sent it down through its upsampling.
        std::vector<Tensor<T>> dskips(static_cast<std::size_t>(P));
        Tensor<T> a = block_output(m_decoder[P - 1].back());
        Tensor<T> da;
        for (int u = P - 1; u >= 0; --u) {
            std::vector<Block>& blocks = m_decoder[u];
            const Shape a_shape = a.shape();
            Tensor<T> dseg = seg_backward(u, std::move(a), doutput_of(u), gm);
            if (da.empty()) da = dseg.empty() ? Tensor<T>::zeros(a_shape, Layout::channels_last) : std::move(dseg);
            else if (!dseg.empty()) add_forward(backend(), da, dseg, da.view());
            dseg = {};
            for (std::size_t i = blocks.size() - 1; i >= 1; --i) {
                norm_backward(blocks[i], da, gm);
                da = conv_backward(blocks[i], block_output(blocks[i - 1]), da, gm);
            }

            // The first block's input was the concat [upsampled, skip] (never formed, see
            // first_block_forward). Its conv backward runs per half of the weight's input channels,
            // each on its recomputed half.
            Block& first = blocks.front();
            norm_backward(first, da, gm);  // da is now the gradient of the conv output
            const int stage = P - 1 - u, p = first.param;
            const Index C = m_top.stage_features(stage);
            const ConvTranspose3dParams up{.stride = m_top.pool_strides[std::size_t(stage)]};

            // Upsampled half. The upsampling's input is the output of the level below (or of the
            // bottleneck), which is also the output whose seg head comes next.
            a = block_output(u > 0 ? m_decoder[u - 1].back() : m_encoder[P].back());
            Tensor<T> da_below(a.shape(), Layout::channels_last);
            {
                Tensor<T> upsampled(Shape{a.dim(0), C, da.dim(2), da.dim(3), da.dim(4)}, Layout::channels_last);
                conv_transpose3d_forward(backend(), a, working(m_up[u]), upsampled.view(), up);
                conv3d_backward(backend(), upsampled, working(p).narrow(1, 0, C), da, {}, grad(p).narrow(1, 0, C),
                                grad(p + 1), first.conv, gm);
                const Tensor<T> dupsampled = data_grad_into(std::move(upsampled), working(p).narrow(1, 0, C), da,
                                                            first.conv);
                conv_transpose3d_backward(backend(), a, working(m_up[u]), dupsampled, da_below.view(), grad(m_up[u]),
                                          up, gm);
            }
            // Skip half; the skip's gradient waits for its encoder stage.
            {
                Tensor<T> skip = block_output(m_encoder[stage].back());
                conv3d_backward(backend(), skip, working(p).narrow(1, C, C), da, {}, grad(p).narrow(1, C, C), {},
                                first.conv, gm);
                dskips[std::size_t(stage)] = data_grad_into(std::move(skip), working(p).narrow(1, C, C), da,
                                                            first.conv);
            }
            da = std::move(da_below);
        }
        a = {};

        // Encoder, bottleneck first; a stage's output gradient is what the deeper stage sent back
        // plus what its skip received.
        for (int s = P; s >= 0; --s) {
            std::vector<Block>& blocks = m_encoder[s];
            if (s < P) {
                add_forward(backend(), da, dskips[std::size_t(s)], da.view());
                dskips[std::size_t(s)] = {};
            }
            for (std::size_t i = blocks.size(); i-- > 0;) {
                norm_backward(blocks[i], da, gm);
                if (i > 0) da = conv_backward(blocks[i], block_output(blocks[i - 1]), da, gm);
                else if (s > 0) da = conv_backward(blocks[i], block_output(m_encoder[s - 1].back()), da, gm);
                else {  // the network's first conv: the image needs no gradient
                    const int p = blocks[i].param;
                    conv3d_backward(backend(), m_input, working(p), da, {}, grad(p), grad(p + 1), blocks[i].conv, gm);
                }
            }
        }
        m_input = {};
        m_ready_for_backward = false;
        if constexpr (!k_master_is_working) merge_grads(mode);
    }

private:
    // The network computes directly on the fp32 masters when T is float.
    static constexpr bool k_master_is_working = std::is_same_v<T, float>;

    // One nnU-Net conv block: Conv3d(bias) -> InstanceNorm3d(affine, eps 1e-5) -> LeakyReLU(0.01).
    struct Block {
        int param = 0;  // index of conv.weight; conv.bias, instnorm.weight, instnorm.bias follow
        Conv3dParams conv;
        Tensor<T> z;                    // training: the conv output, the only activation kept
        Tensor<stat_t<T>> mean, rstd;   // training: its statistics per (n, c)
    };

    static B backend() { return B{}; }

    TensorView<const T> working(int i) const {
        if constexpr (k_master_is_working) return m_params[std::size_t(i)].value;
        else return m_work[std::size_t(i)];
    }
    TensorView<T> grad(int i) const {
        if constexpr (k_master_is_working) return m_params[std::size_t(i)].grad;
        else return m_work_grad[std::size_t(i)];
    }

    // ---- one block, forward and backward ----------------------------------------------------------

    // Returns the block's output for input x; training keeps z and the statistics.
    // x_owner, if given, holds x's memory and is consumed: the output may take that memory once the
    // conv has read x (one full-resolution buffer fewer at the training forward's peak).
    Tensor<T> block_forward(Block& b, TensorView<const T> x, Tensor<T> x_owner = {}) {
        const int p = b.param;
        Tensor<T> z(conv3d_output_shape(x.shape(), working(p).shape(), b.conv), Layout::channels_last);
        conv3d_forward(backend(), x, working(p), working(p + 1), z.view(), b.conv);
        return normalise(b, std::move(z), std::move(x_owner));
    }

    // A decoder level's first block, whose input is the concat [upsampled, skip]: its conv is the sum
    // of the convs of the two halves of its weight's input channels. Each input is freed once read.
    Tensor<T> first_block_forward(Block& b, Tensor<T> upsampled, Tensor<T> skip) {
        const int p = b.param;
        const Index C = skip.dim(1);
        const TensorView<const T> w_up = working(p).narrow(1, 0, C), w_skip = working(p).narrow(1, C, C);
        Tensor<T> z(conv3d_output_shape(skip.shape(), w_skip.shape(), b.conv), Layout::channels_last);  // (N,C,D,H,W)
        conv3d_forward(backend(), upsampled, w_up, working(p + 1), z.view(), b.conv);
        upsampled = {};
        conv3d_forward(backend(), skip, w_skip, {}, z.view(), b.conv, Grad::accumulate);  // the skip half's share
        skip = {};
        return normalise(b, std::move(z));
    }

    // The block's output from its conv output z; training keeps z and the statistics. The output
    // goes into `spare` (consumed) when that is a dead channels-last tensor of z's shape.
    Tensor<T> normalise(Block& b, Tensor<T> z, Tensor<T> spare = {}) {
        const int p = b.param;
        if (m_mode == Mode::inference) {  // normalise in place: nothing is kept
            instance_norm_leaky_relu_forward(backend(), z, working(p + 2), working(p + 3), z.view(), {}, {});
            return z;
        }
        Tensor<T> a = spare.shape() == z.shape() && spare.is_channels_last() ? std::move(spare)
                                                                              : Tensor<T>(z.shape(), Layout::channels_last);
        spare = {};
        b.mean = Tensor<stat_t<T>>(Shape{z.dim(0), z.dim(1)});
        b.rstd = Tensor<stat_t<T>>(Shape{z.dim(0), z.dim(1)});
        instance_norm_leaky_relu_forward(backend(), z, working(p + 2), working(p + 3), a.view(), b.mean.view(),
                                         b.rstd.view());
        b.z = std::move(z);
        return a;
    }

    // The block's output again, from the kept z (the same statistics come out: same data, same order).
    Tensor<T> block_output(const Block& b) const {
        Tensor<T> a(b.z.shape(), Layout::channels_last);
        instance_norm_leaky_relu_forward(backend(), b.z, working(b.param + 2), working(b.param + 3), a.view(),
                                         {}, {});
        return a;
    }

    // da: the gradient of the block's output, overwritten with the gradient of z. Frees the caches.
    void norm_backward(Block& b, TensorView<T> da, Grad gm) {
        const int p = b.param;
        instance_norm_leaky_relu_backward(backend(), b.z, working(p + 2), working(p + 3), b.mean, b.rstd, da, da,
                                          grad(p + 2), grad(p + 3), {}, gm);
        b.z = {};
        b.mean = {};
        b.rstd = {};
    }

    // The backward of a block's conv, after norm_backward (which frees z before x is recomputed):
    // x is the block's input (recomputed for the call, consumed), dz the gradient of the conv output.
    // Returns the gradient of x, in x's memory.
    Tensor<T> conv_backward(const Block& b, Tensor<T> x, TensorView<const T> dz, Grad gm) {
        const int p = b.param;
        conv3d_backward(backend(), x, working(p), dz, {}, grad(p), grad(p + 1), b.conv, gm);
        return data_grad_into(std::move(x), working(p), dz, b.conv);
    }

    // The data gradient of a conv whose parameter gradients are done, written over its input x: x is
    // dead by then and has dx's shape, so the backward's peak holds one full-resolution buffer fewer
    // (x, dy and dx would otherwise all be alive at once).
    Tensor<T> data_grad_into(Tensor<T> x, TensorView<const T> w, TensorView<const T> dy, const Conv3dParams& p) {
        conv3d_backward_data(backend(), w, dy, x.view(), p);
        return x;
    }

    // ---- the seg heads: 1x1x1 convs to the classes, no bias -----------------------------------------

    bool returns_output(int u) const {
        return u == m_top.poolings() - 1 || (m_mode == Mode::training && m_top.deep_supervision);
    }

    Tensor<T> seg_forward(int u, TensorView<const T> a) {
        const int p = m_seg[u];
        Tensor<T> y(conv3d_output_shape(a.shape(), working(p).shape(), {}), Layout::channels_last);
        conv3d_forward(backend(), a, working(p), {}, y.view(), {});
        return y;
    }

    // a: the head's input (consumed). Returns the gradient of a, in a's memory, or an empty tensor
    // when the output has none.
    Tensor<T> seg_backward(int u, Tensor<T> a, TensorView<const T> dlogits, Grad gm) {
        const int p = m_seg[u];
        if (dlogits.empty()) {
            if (gm == Grad::overwrite) fill(grad(p), T(0));
            return {};
        }
        conv3d_backward(backend(), a, working(p), dlogits, {}, grad(p), {}, {}, gm);
        return data_grad_into(std::move(a), working(p), dlogits, {});
    }

    // ---- construction --------------------------------------------------------------------------------

    int add_parameter(std::string name, const Shape& shape, float value) {
        m_params.push_back({std::move(name), Tensor<float>::full(shape, value), Tensor<float>::zeros(shape)});
        return int(m_params.size()) - 1;
    }

    Block add_block(const std::string& prefix, Index cin, Index cout, Index3 kernel, Index3 stride) {
        Block b;
        using axonseg::detail::concat;
        b.param = add_parameter(concat(prefix, ".conv.weight"), Shape{cout, cin, kernel.d, kernel.h, kernel.w}, 0.0f);
        add_parameter(concat(prefix, ".conv.bias"), Shape{cout}, 0.0f);
        add_parameter(concat(prefix, ".instnorm.weight"), Shape{cout}, 1.0f);
        add_parameter(concat(prefix, ".instnorm.bias"), Shape{cout}, 0.0f);
        b.conv = {.stride = stride, .pad = UNetTopology::padding(kernel)};
        return b;
    }

    // Mirrors Generic_UNet.__init__. PyTorch registers conv_blocks_localization, conv_blocks_context,
    // tu and seg_outputs in that order, so the parameters are created in that order too.
    void build() {
        const int P = m_top.poolings(), convs = m_top.convs_per_stage;
        const int first_part = std::max(convs - 1, 1);  // StackedConvLayers(n - 1 convs) builds >= 1 block
        const Index3 one = Index3::all(1);
        auto features = [&](int s) { return Index(m_top.stage_features(s)); };
        using axonseg::detail::concat;
        auto key = [](const std::string& prefix, int part, int i) {  // part < 0: a plain StackedConvLayers
            return part < 0 ? concat(prefix, ".blocks.", i) : concat(prefix, ".", part, ".blocks.", i);
        };

        m_decoder.resize(std::size_t(P));
        for (int u = 0; u < P; ++u) {  // Sequential(StackedConvLayers(2C -> C, n - 1), StackedConvLayers(C -> C, 1))
            const std::string prefix = concat("conv_blocks_localization.", u);
            const Index C = features(P - 1 - u);
            const Index3 k = m_top.conv_kernels[std::size_t(P - u)];  // one stage deeper than the skip
            for (int i = 0; i < first_part; ++i)
                m_decoder[u].push_back(add_block(key(prefix, 0, i), i == 0 ? 2 * C : C, C, k, one));
            m_decoder[u].push_back(add_block(key(prefix, 1, 0), C, C, k, one));
        }
        m_encoder.resize(std::size_t(P + 1));
        for (int s = 0; s < P; ++s) {  // StackedConvLayers(n convs), the first strided for s >= 1
            const std::string prefix = concat("conv_blocks_context.", s);
            const Index cin = s == 0 ? m_top.input_channels : features(s - 1), cout = features(s);
            const Index3 k = m_top.conv_kernels[std::size_t(s)];
            const Index3 stride = s == 0 ? one : m_top.pool_strides[std::size_t(s - 1)];
            for (int i = 0; i < convs; ++i)
                m_encoder[s].push_back(
                    add_block(key(prefix, -1, i), i == 0 ? cin : cout, cout, k, i == 0 ? stride : one));
        }
        {  // the bottleneck: Sequential(StackedConvLayers(n - 1 convs, strided), StackedConvLayers(1 conv))
            const std::string prefix = concat("conv_blocks_context.", P);
            const Index cin = features(P - 1), cout = features(P);
            const Index3 k = m_top.conv_kernels[std::size_t(P)];
            for (int i = 0; i < first_part; ++i)
                m_encoder[P].push_back(add_block(key(prefix, 0, i), i == 0 ? cin : cout, cout, k,
                                                 i == 0 ? m_top.pool_strides[std::size_t(P - 1)] : one));
            m_encoder[P].push_back(add_block(key(prefix, 1, 0), cout, cout, k, one));
        }
        for (int u = 0; u < P; ++u) {  // ConvTranspose3d(C_below -> C_skip, kernel = stride = the pooling), no bias
            const Index3 s = m_top.pool_strides[std::size_t(P - 1 - u)];
            m_up.push_back(add_parameter(concat("tu.", u, ".weight"),
                                         Shape{features(P - u), features(P - 1 - u), s.d, s.h, s.w}, 0.0f));
        }
        for (int u = 0; u < P; ++u)
            m_seg.push_back(add_parameter(concat("seg_outputs.", u, ".weight"),
                                          Shape{m_top.classes, features(P - 1 - u), 1, 1, 1}, 0.0f));
    }

    int index_of(std::string_view name) const {
        if (name.starts_with("module.")) name.remove_prefix(7);
        for (std::size_t i = 0; i < m_params.size(); ++i)
            if (m_params[i].name == name) return int(i);
        AXONSEG_FAIL("UNet: no parameter named '", name, "'");
    }

    // ---- checks and bookkeeping -------------------------------------------------------------------------

    void check_input(const Shape& x) const {
        AXONSEG_CHECK(x.rank() == 5, "UNet::forward: input ", x, " must be (N,C,D,H,W)");
        AXONSEG_CHECK(x[1] == m_top.input_channels, "UNet::forward: input ", x, " has ", x[1],
                      " channels, the network expects ", m_top.input_channels);
        const Index3 t = m_top.total_pooling();
        for (int a = 0; a < 3; ++a)
            AXONSEG_CHECK(x[2 + a] > 0 && x[2 + a] % t[a] == 0, "UNet::forward: input ", x, " has spatial size (",
                          x[2], ",", x[3], ",", x[4], "); each axis must be a positive multiple of the total pooling ",
                          t);
    }

    void check_doutputs(std::span<const TensorView<const T>> doutputs) const {
        AXONSEG_CHECK(m_mode == Mode::training && m_ready_for_backward,
                      "UNet::backward: needs a training-mode forward first (once per forward)");
        AXONSEG_CHECK(doutputs.size() == m_output_shapes.size(), "UNet::backward: ", doutputs.size(),
                      " output gradients given, the forward returned ", m_output_shapes.size(), " outputs");
        for (std::size_t j = 0; j < doutputs.size(); ++j)
            AXONSEG_CHECK(doutputs[j].empty() || (doutputs[j].shape() == m_output_shapes[j] && doutputs[j].is_dense()),
                          "UNet::backward: gradient ", j, " ", doutputs[j].shape(), " should be dense and ",
                          m_output_shapes[j], " like output ", j);
    }

    void release_caches() {
        for (auto* stages : {&m_encoder, &m_decoder})
            for (std::vector<Block>& blocks : *stages)
                for (Block& b : blocks) {
                    b.z = {};
                    b.mean = {};
                    b.rstd = {};
                }
        m_input = {};
        m_ready_for_backward = false;
    }

    // Working gradients (T) into the fp32 masters.
    void merge_grads(Grad mode) requires(!k_master_is_working) {
        for (std::size_t i = 0; i < m_params.size(); ++i) {
            float* g = m_params[i].grad.data();
            const T* w = m_work_grad[i].data();
            for (Index k = 0; k < m_params[i].grad.numel(); ++k)
                g[k] = mode == Grad::accumulate ? g[k] + float(w[k]) : float(w[k]);
        }
    }

    UNetTopology m_top;
    Mode m_mode = Mode::inference;
    std::vector<Parameter> m_params;
    std::vector<Tensor<T>> m_work, m_work_grad;  // T working copies (none when T is float)
    std::vector<std::vector<Block>> m_encoder;   // stages 0..P-1, then the bottleneck
    std::vector<std::vector<Block>> m_decoder;   // levels 0..P-1, lowest resolution first
    std::vector<int> m_up, m_seg;                // parameter indices of tu.{u} and seg_outputs.{u}
    Tensor<T> m_input;                           // training: the network input, channels-last
    std::vector<Shape> m_output_shapes;
    bool m_ready_for_backward = false;
};

}  // namespace axonseg::nn
