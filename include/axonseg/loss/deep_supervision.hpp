// Deep-supervision weights as nnU-Net v1 sets them: 1/2^i per output (full resolution first),
// the lowest-resolution output masked to 0, normalised to sum 1. With 5 outputs:
// (1, 1/2, 1/4, 1/8, 0) / 1.875. The deep-supervised loss is their weighted sum of Dice + CE, as
// nnU-Net's MultipleOutputLoss2 computes it.
#pragma once

#include "axonseg/core/error.hpp"
#include "axonseg/loss/dice_ce.hpp"

#include <cstdint>
#include <vector>

namespace axonseg {

inline std::vector<double> deep_supervision_weights(int outputs) {
    AXONSEG_CHECK(outputs >= 1, "deep_supervision_weights: need at least one output, got ", outputs);
    std::vector<double> w(static_cast<std::size_t>(outputs));
    double sum = 0;
    for (int i = 0; i < outputs; ++i) {
        const bool masked = outputs > 1 && i == outputs - 1;
        w[std::size_t(i)] = masked ? 0.0 : 1.0 / double(1 << i);
        sum += w[std::size_t(i)];
    }
    for (double& x : w) x /= sum;
    return w;
}

// sum_i weight_i * DiceCE(outputs[i], targets[i]) over the outputs, full resolution first; douts[i]
// becomes its gradient (in the output's layout), left empty for an output of weight 0, which
// MultipleOutputLoss2 skips. The Dice + CE runs in compute_t<T>: float for bfloat16 logits.
template <Backend B, Floating T>
double deep_supervision_loss(B backend, const std::vector<Tensor<T, device_of<B>>>& outputs,
                             const std::vector<Tensor<std::uint8_t, device_of<B>>>& targets,
                             std::vector<Tensor<T, device_of<B>>>& douts, const DiceCeParams& params = {})
    requires is_host_device<device_of<B>>
{
    AXONSEG_CHECK(outputs.size() == targets.size(), "deep_supervision_loss: ", outputs.size(), " outputs but ",
                  targets.size(), " targets");
    const std::vector<double> w = deep_supervision_weights(int(outputs.size()));
    double loss = 0;
    douts.clear();
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        douts.emplace_back();
        if (w[i] == 0) continue;
        douts[i] = Tensor<T, device_of<B>>(outputs[i].shape(), outputs[i].layout());
        loss += w[i] * dice_ce_loss(backend, outputs[i], targets[i], douts[i].view(), params, w[i]).loss;
    }
    return loss;
}

}  // namespace axonseg
