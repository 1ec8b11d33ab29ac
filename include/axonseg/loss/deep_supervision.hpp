// Deep-supervision weights as nnU-Net v1 sets them: 1/2^i per output (full resolution first),
// the lowest-resolution output masked to 0, normalised to sum 1. With 5 outputs:
// (1, 1/2, 1/4, 1/8, 0) / 1.875.
#pragma once

#include "axonseg/core/error.hpp"

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

}  // namespace axonseg
