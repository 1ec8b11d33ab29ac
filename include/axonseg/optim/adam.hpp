// Adam, AMSGrad and AdamW exactly as torch.optim.Adam / AdamW compute them in fp32:
//   g = grad (+ weight_decay * p for Adam's L2; AdamW instead scales p by 1 - lr * weight_decay)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  v_max = max(v_max, v) with AMSGrad
//   p -= lr / (1 - b1^t) * m / (sqrt(v or v_max) / sqrt(1 - b2^t) + eps)
// D-LMBmap trains with Adam, AMSGrad, lr 3e-4, weight decay 3e-5 (L2, not decoupled).
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/optim/parameter.hpp"

#include <cmath>

namespace axonseg::optim {

enum class WeightDecay { l2, decoupled };  // Adam adds wd * p to the gradient; AdamW shrinks p

struct AdamParams {
    double lr = 3e-4;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 3e-5;
    bool amsgrad = true;
    WeightDecay decay = WeightDecay::l2;
};

class Adam {
public:
    Adam(std::span<const ParamRef> params, const AdamParams& p) : m_params(p) {
        check_params(params, "Adam");
        m_exp_avg = zeros_like(params);
        m_exp_avg_sq = zeros_like(params);
        if (p.amsgrad) m_max_exp_avg_sq = zeros_like(params);
    }

    // Requires the same parameters, in the same order, as at construction.
    void step(std::span<const ParamRef> params) {
        AXONSEG_CHECK(params.size() == m_exp_avg.size(), "Adam::step: ", params.size(),
                      " parameters given, the optimiser was made for ", m_exp_avg.size());
        check_params(params, "Adam::step");
        ++m_step;
        const float b1 = float(m_params.beta1), b2 = float(m_params.beta2);
        const float eps = float(m_params.eps), wd = float(m_params.weight_decay);
        const double bc1 = 1.0 - std::pow(m_params.beta1, double(m_step));
        const float step_size = float(m_params.lr / bc1);
        const float bc2_sqrt = float(std::sqrt(1.0 - std::pow(m_params.beta2, double(m_step))));
        const bool l2 = m_params.decay == WeightDecay::l2, amsgrad = m_params.amsgrad;
        const float shrink = float(1.0 - m_params.lr * m_params.weight_decay);
        for (std::size_t k = 0; k < params.size(); ++k) {
            float* p = params[k].value.data();
            const float* grad = params[k].grad.data();
            float* m = m_exp_avg[k].data();
            float* v = m_exp_avg_sq[k].data();
            float* vmax = amsgrad ? m_max_exp_avg_sq[k].data() : nullptr;
            parallel_chunks(0, params[k].value.numel(), [&](Index b, Index e, int) {
                for (Index i = b; i < e; ++i) {
                    float g = grad[i];
                    if (wd != 0) {
                        if (l2) g += wd * p[i];
                        else p[i] *= shrink;
                    }
                    m[i] += (1.0f - b1) * (g - m[i]);  // torch's lerp(m, g, 1 - b1)
                    v[i] = v[i] * b2 + (1.0f - b2) * (g * g);
                    float second = v[i];
                    if (amsgrad) second = vmax[i] = std::max(vmax[i], v[i]);
                    const float denom = std::sqrt(second) / bc2_sqrt + eps;
                    p[i] -= step_size * (m[i] / denom);
                }
            });
        }
    }

    double lr() const { return m_params.lr; }
    void set_lr(double lr) { m_params.lr = lr; }
    const AdamParams& params() const { return m_params; }
    long long step_count() const { return m_step; }

    // The state, for checkpoints: step count and the moment tensors per parameter.
    std::vector<Tensor<float>>& exp_avg() { return m_exp_avg; }
    std::vector<Tensor<float>>& exp_avg_sq() { return m_exp_avg_sq; }
    std::vector<Tensor<float>>& max_exp_avg_sq() { return m_max_exp_avg_sq; }
    void set_step_count(long long step) { m_step = step; }

private:
    AdamParams m_params;
    long long m_step = 0;
    std::vector<Tensor<float>> m_exp_avg, m_exp_avg_sq, m_max_exp_avg_sq;
};

}  // namespace axonseg::optim
