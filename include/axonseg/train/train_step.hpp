// One nnU-Net training step on one batch, in a precision policy (train/precision.hpp):
//   forward (training mode) -> deep-supervised Dice + CE in fp32 -> backward -> optimiser step on the
//   fp32 masters -> the working copy cast from the updated masters.
// The targets per deep-supervision output come from the full-resolution mask by nnU-Net's centre
// rule; the optimiser updates every parameter but the seg heads whose outputs have loss weight 0
// (PyTorch's optimisers skip a parameter whose gradient is None, weight decay included).
#pragma once

#include "axonseg/core/tensor.hpp"
#include "axonseg/loss/deep_supervision.hpp"
#include "axonseg/loss/dice_ce.hpp"
#include "axonseg/nn/unet.hpp"
#include "axonseg/ops/downsample_nearest.hpp"
#include "axonseg/optim/parameter.hpp"
#include "axonseg/train/precision.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace axonseg::train {

// The target of each output a training forward of `top` returns (full resolution first), from the
// mask (N,1,D,H,W): output i is the mask reduced by the first i pooling strides.
template <Backend B>
std::vector<Tensor<std::uint8_t, device_of<B>>> deep_supervision_targets(
    B backend, const nn::UNetTopology& top, Input<std::uint8_t, B> mask) {
    AXONSEG_CHECK(mask.rank() == 5 && mask.dim(1) == 1, "deep_supervision_targets: mask ", mask.shape(),
                  " must be (N,1,D,H,W)");
    const int outputs = top.deep_supervision ? top.poolings() : 1;
    std::vector<Tensor<std::uint8_t, device_of<B>>> targets;
    Shape s = mask.shape();
    for (int i = 0; i < outputs; ++i) {
        if (i > 0) {
            const Index3 p = top.pool_strides[std::size_t(i - 1)];
            s = Shape{s[0], 1, s[2] / p.d, s[3] / p.h, s[4] / p.w};
        }
        targets.emplace_back(s);
        downsample_nearest(backend, mask, targets.back().view(), NearestRule::centre);
    }
    return targets;
}

// What the optimiser updates: every master but the heads of weight-0 outputs, in the network's
// order (so optimiser state lines up with a checkpoint's).
template <Floating T, Backend B>
std::vector<optim::ParamRef> trained_parameters(nn::UNet<T, B>& net) {
    const nn::UNetTopology& top = net.topology();
    const int P = top.poolings();
    const std::vector<double> w = deep_supervision_weights(P);
    auto head_unused = [&](const std::string& name) {
        for (int u = 0; u < P; ++u)  // head u serves output P-1-u (full resolution first)
            if (name == axonseg::detail::concat("seg_outputs.", u, ".weight"))
                return top.deep_supervision ? w[std::size_t(P - 1 - u)] == 0 : u != P - 1;
        return false;
    };
    std::vector<optim::ParamRef> refs;
    for (nn::Parameter& p : net.parameters())
        if (!head_unused(p.name)) refs.push_back({p.value.view(), p.grad.view()});
    return refs;
}

// One step on batch x (N,C,D,H,W) in the policy's compute type with `targets` from
// deep_supervision_targets; `refs` are what `opt` was built on (trained_parameters(net)). Returns
// the loss. Leaves the master gradients of this batch in each Parameter::grad.
template <Precision P, Backend B, class Optimizer>
double train_step(nn::UNet<typename P::compute, B>& net, Optimizer& opt, std::span<const optim::ParamRef> refs,
                  Input<typename P::compute, B> x,
                  const std::vector<Tensor<std::uint8_t, device_of<B>>>& targets, const DiceCeParams& loss_params = {}) {
    using T = typename P::compute;
    if (net.mode() != nn::Mode::training) net.set_mode(nn::Mode::training);
    std::vector<Tensor<T, device_of<B>>> douts;
    double loss = 0;
    {
        const std::vector<Tensor<T, device_of<B>>> outputs = net.forward(x);  // freed before the backward
        loss = deep_supervision_loss(B{}, outputs, targets, douts, loss_params);
    }
    const std::vector<TensorView<const T, device_of<B>>> grads(douts.begin(), douts.end());
    net.backward(grads);
    douts.clear();
    opt.step(refs);
    net.update_working_copy();
    return loss;
}

}  // namespace axonseg::train
