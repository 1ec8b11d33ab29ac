// SGD with (Nesterov) momentum exactly as torch.optim.SGD computes it in fp32 (dampening 0):
//   g = grad + weight_decay * p;  buf = g on the first step, else momentum * buf + g
//   g = g + momentum * buf (Nesterov) or g = buf;  p -= lr * g
// Stock nnU-Net: lr 1e-2, momentum 0.99, Nesterov, weight decay 3e-5, with PolyLR.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/optim/parameter.hpp"

namespace axonseg::optim {

struct SgdParams {
    double lr = 1e-2;
    double momentum = 0.99;
    double weight_decay = 3e-5;
    bool nesterov = true;
};

class Sgd {
public:
    Sgd(std::span<const ParamRef> params, const SgdParams& p) : m_params(p) {
        check_params(params, "Sgd");
        AXONSEG_CHECK(!p.nesterov || p.momentum > 0, "Sgd: Nesterov momentum needs momentum > 0, got ",
                      p.momentum);
        m_momentum = zeros_like(params);
    }

    void step(std::span<const ParamRef> params) {
        AXONSEG_CHECK(params.size() == m_momentum.size(), "Sgd::step: ", params.size(),
                      " parameters given, the optimiser was made for ", m_momentum.size());
        check_params(params, "Sgd::step");
        const float lr = float(m_params.lr), mu = float(m_params.momentum), wd = float(m_params.weight_decay);
        const bool first = m_step == 0, nesterov = m_params.nesterov;
        ++m_step;
        for (std::size_t k = 0; k < params.size(); ++k) {
            float* p = params[k].value.data();
            const float* grad = params[k].grad.data();
            float* buf = m_momentum[k].data();
            parallel_chunks(0, params[k].value.numel(), [&](Index b, Index e, int) {
                for (Index i = b; i < e; ++i) {
                    float g = grad[i] + wd * p[i];
                    if (mu != 0) {
                        buf[i] = first ? g : mu * buf[i] + g;
                        g = nesterov ? g + mu * buf[i] : buf[i];
                    }
                    p[i] -= lr * g;
                }
            });
        }
    }

    double lr() const { return m_params.lr; }
    void set_lr(double lr) { m_params.lr = lr; }
    const SgdParams& params() const { return m_params; }
    long long step_count() const { return m_step; }
    std::vector<Tensor<float>>& momentum_buffers() { return m_momentum; }
    void set_step_count(long long step) { m_step = step; }

private:
    SgdParams m_params;
    long long m_step = 0;
    std::vector<Tensor<float>> m_momentum;
};

}  // namespace axonseg::optim
