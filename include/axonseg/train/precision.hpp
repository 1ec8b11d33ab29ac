// How a training step uses floating point, as a policy type: the element type the network computes
// in (activations, working weights and their gradients). Everything else is fixed for every policy:
// the parameters are fp32 masters that the optimiser updates (nn/parameter.hpp), and the loss is
// computed in fp32 (dice_ce_loss computes in compute_t<T>, float for bfloat16).
//   Fp32       computes on the masters themselves.
//   Bf16Mixed  computes in bfloat16 on a working copy cast from the masters after each step;
//              convolutions accumulate in fp32 and weight gradients are summed in fp32 inside oneDNN
//              and rounded once, then widened into the fp32 master gradients.
// NB: no loss scaling: bfloat16 has float's exponent range, so gradients do not underflow as fp16's do.
#pragma once

#include "axonseg/core/dtype.hpp"

#include <type_traits>

namespace axonseg::train {

struct Fp32 {
    using compute = float;
    static constexpr const char* k_name = "fp32";
};

struct Bf16Mixed {
    using compute = bfloat16;
    static constexpr const char* k_name = "bf16_mixed";
};

template <class P>
concept Precision = (std::is_same_v<typename P::compute, float> || std::is_same_v<typename P::compute, bfloat16>) &&
                    std::is_same_v<compute_t<typename P::compute>, float>;  // the loss runs in fp32

}  // namespace axonseg::train
