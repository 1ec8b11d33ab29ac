// One training sample as the augmentations pass it along: an image and its label of equal shape.
#pragma once

#include "axonseg/augment/random.hpp"
#include "axonseg/core/tensor.hpp"

#include <cstdint>

namespace axonseg::augment {

struct Sample {
    Tensor<float> image;         // (D,H,W) intensities
    Tensor<std::uint8_t> label;  // (D,H,W) 0 = background, anything else = axon
};

inline void check_sample(const char* op, const Sample& s) {
    AXONSEG_CHECK(s.image.rank() == 3 && s.image.numel() > 0 && s.image.shape() == s.label.shape(), op,
                  ": image ", s.image.shape(), " and label ", s.label.shape(), " must be equal non-empty (D,H,W)");
}

// Runs the policies on s in the order given; each is a callable (Sample&, Rng&).
template <class... Policy>
void apply(Sample& s, Rng& rng, const Policy&... policy) {
    (policy(s, rng), ...);
}

}  // namespace axonseg::augment
