// What an optimiser updates: a parameter's values and its gradient, both fp32 (the master copy
// when training in mixed precision). The optimiser keeps its own state per parameter, in the order
// the parameters were given, so that order must stay fixed between steps (and in checkpoints).
#pragma once

#include "axonseg/core/tensor.hpp"

#include <span>
#include <vector>

namespace axonseg::optim {

struct ParamRef {
    TensorView<float> value;       // updated in place
    TensorView<const float> grad;  // same shape as value
};

// Requires value and grad of one shape and dense storage (the optimisers walk them flat).
inline void check_params(std::span<const ParamRef> params, const char* who) {
    for (std::size_t i = 0; i < params.size(); ++i) {
        const ParamRef& p = params[i];
        AXONSEG_CHECK(p.value.shape() == p.grad.shape(), who, ": parameter ", i, " has value ",
                      p.value.shape(), " but gradient ", p.grad.shape());
        AXONSEG_CHECK(p.value.is_dense() && p.grad.is_dense() && p.value.strides() == p.grad.strides(),
                      who, ": parameter ", i, " ", p.value.shape(),
                      " must be dense with its gradient in the same layout");
    }
}

// One zero-initialised state tensor per parameter, shaped like it.
inline std::vector<Tensor<float>> zeros_like(std::span<const ParamRef> params) {
    std::vector<Tensor<float>> out;
    out.reserve(params.size());
    for (const ParamRef& p : params) out.push_back(Tensor<float>::zeros(p.value.shape()));
    return out;
}

}  // namespace axonseg::optim
