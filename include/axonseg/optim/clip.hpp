// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (L2 norm over all gradients):
// every gradient is scaled by min(1, max_norm / (total_norm + 1e-6)). nnU-Net clips at 12, after
// unscaling when training in mixed precision.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"

#include <cmath>
#include <span>
#include <vector>

namespace axonseg::optim {

// Returns the total L2 norm before clipping. Requires dense gradients.
inline double clip_grad_norm(std::span<const TensorView<float>> grads, double max_norm) {
    double sum_sq = 0;
    for (const TensorView<float>& g : grads) {
        AXONSEG_CHECK(g.is_dense(), "clip_grad_norm: gradient ", g.shape(), " must be dense");
        const float* p = g.data();
        // Per-thread partial sums added in thread order: deterministic for a thread count.
        std::vector<double> partial(std::size_t(thread_count()), 0.0);
        parallel_chunks(0, g.numel(), [&](Index b, Index e, int t) {
            double s = 0;
            for (Index i = b; i < e; ++i) s += double(p[i]) * p[i];
            partial[std::size_t(t)] = s;
        });
        double norm_sq = 0;  // torch takes each tensor's norm, then the norm of the norms
        for (double s : partial) norm_sq += s;
        sum_sq += norm_sq;
    }
    const double total = std::sqrt(sum_sq);
    const float coef = float(std::min(1.0, max_norm / (total + 1e-6)));
    if (coef < 1.0f)
        for (const TensorView<float>& g : grads) {
            float* p = g.data();
            parallel_for(0, g.numel(), [&](Index i) { p[i] *= coef; });
        }
    return total;
}

}  // namespace axonseg::optim
