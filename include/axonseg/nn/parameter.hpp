// A trainable tensor of a network: its PyTorch state-dict name, the fp32 master value and its fp32
// gradient. Networks compute in their own element type T (a bf16 working copy, say) but the
// optimiser always updates these fp32 masters, so a low-precision step never rounds the weights.
// Initialisation follows nnU-Net v1's InitWeights_He(1e-2): kaiming_normal_(a = 1e-2, fan_in) on
// every (transposed) convolution weight, zero biases, instance-norm weight 1 and bias 0.
// NB: torch takes fan_in from dimension 1 of any weight, which for a ConvTranspose3d weight
// (Ci,Co,k,k,k) is Co * k^3, not Ci * k^3; he_normal does the same so the spreads match.
#pragma once

#include "axonseg/core/tensor.hpp"
#include "axonseg/optim/parameter.hpp"

#include <cmath>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace axonseg::nn {

struct Parameter {
    std::string name;     // PyTorch state-dict key, e.g. "conv_blocks_context.0.blocks.0.conv.weight"
    Tensor<float> value;  // contiguous, PyTorch's layout
    Tensor<float> grad;   // same shape
};

// Inference keeps no caches and frees every activation once consumed; training keeps what the
// backward pass needs.
enum class Mode { inference, training };

// Fills w (Co_or_Ci, fan dim, k...) as torch.nn.init.kaiming_normal_(w, a = negative_slope,
// mode='fan_in', nonlinearity='leaky_relu'): normal with std = sqrt(2 / (1 + a^2)) / sqrt(fan_in),
// fan_in = w.dim(1) * (product of the kernel dimensions). Draws in logical order from rng.
inline void he_normal(TensorView<float> w, double negative_slope, std::mt19937_64& rng) {
    AXONSEG_CHECK(w.rank() >= 2 && w.is_contiguous(), "he_normal: weight ", w.shape(),
                  " must be contiguous with rank >= 2");
    Index fan_in = w.dim(1);
    for (int i = 2; i < w.rank(); ++i) fan_in *= w.dim(i);
    const double gain = std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
    std::normal_distribution<double> normal(0.0, gain / std::sqrt(double(fan_in)));
    for (Index i = 0; i < w.numel(); ++i) w.data()[i] = float(normal(rng));
}

// The parameters as an optimiser takes them, in the network's order (PyTorch's named_parameters()
// order, so optimiser state lines up with a PyTorch checkpoint's).
inline std::vector<optim::ParamRef> param_refs(std::span<Parameter> params) {
    std::vector<optim::ParamRef> refs;
    refs.reserve(params.size());
    for (Parameter& p : params) refs.push_back({p.value.view(), p.grad.view()});
    return refs;
}

}  // namespace axonseg::nn
