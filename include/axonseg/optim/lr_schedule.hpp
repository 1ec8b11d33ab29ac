// Learning-rate schedules: nnU-Net's poly decay and torch's ReduceLROnPlateau.
// Each is a small policy with one job; the trainer reads lr() and sets it on the optimiser.
#pragma once

#include "axonseg/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace axonseg::optim {

// lr = initial * (1 - epoch / max_epochs)^exponent (nnU-Net's poly_lr, exponent 0.9).
struct PolyLR {
    double initial_lr = 1e-2;
    long long max_epochs = 1000;
    double exponent = 0.9;

    double lr(long long epoch) const {
        return initial_lr * std::pow(1.0 - double(epoch) / double(max_epochs), exponent);
    }
};

enum class PlateauMode { min, max };
enum class ThresholdMode { relative, absolute };

struct PlateauParams {
    PlateauMode mode = PlateauMode::min;
    double factor = 0.2;       // D-LMBmap: 0.2 (torch's default 0.1)
    long long patience = 30;   // epochs without improvement before a reduction
    double threshold = 1e-3;
    ThresholdMode threshold_mode = ThresholdMode::absolute;  // nnU-Net uses "abs"
    long long cooldown = 0;
    double min_lr = 0;
    double eps = 1e-8;         // a reduction smaller than this is skipped
};

// torch.optim.lr_scheduler.ReduceLROnPlateau for one parameter group: step(metric) once per
// epoch; the learning rate drops by `factor` after more than `patience` epochs without an
// improvement beyond `threshold`.
class ReduceLROnPlateau {
public:
    ReduceLROnPlateau(double initial_lr, const PlateauParams& p) : m_p(p), m_lr(initial_lr) {
        AXONSEG_CHECK(p.factor < 1.0 && p.factor >= 0, "ReduceLROnPlateau: factor must be in [0, 1), got ",
                      p.factor);
        m_best = worst();
    }

    // Returns the learning rate for the next epoch.
    double step(double metric) {
        if (is_better(metric)) {
            m_best = metric;
            m_bad_epochs = 0;
        } else {
            ++m_bad_epochs;
        }
        if (m_cooldown_counter > 0) {
            --m_cooldown_counter;
            m_bad_epochs = 0;
        }
        if (m_bad_epochs > m_p.patience) {
            const double reduced = std::max(m_lr * m_p.factor, m_p.min_lr);
            if (m_lr - reduced > m_p.eps) m_lr = reduced;
            m_cooldown_counter = m_p.cooldown;
            m_bad_epochs = 0;
        }
        return m_lr;
    }

    double lr() const { return m_lr; }
    const PlateauParams& params() const { return m_p; }
    double best() const { return m_best; }
    long long bad_epochs() const { return m_bad_epochs; }
    long long cooldown_counter() const { return m_cooldown_counter; }
    // Restores the state saved from lr(), best(), bad_epochs(), cooldown_counter().
    void restore(double lr, double best, long long bad_epochs, long long cooldown_counter) {
        m_lr = lr;
        m_best = best;
        m_bad_epochs = bad_epochs;
        m_cooldown_counter = cooldown_counter;
    }

private:
    double worst() const {
        const double inf = std::numeric_limits<double>::infinity();
        return m_p.mode == PlateauMode::min ? inf : -inf;
    }
    bool is_better(double a) const {
        const bool rel = m_p.threshold_mode == ThresholdMode::relative;
        if (m_p.mode == PlateauMode::min)
            return a < (rel ? m_best * (1.0 - m_p.threshold) : m_best - m_p.threshold);
        return a > (rel ? m_best * (1.0 + m_p.threshold) : m_best + m_p.threshold);
    }

    PlateauParams m_p;
    double m_lr;
    double m_best;
    long long m_bad_epochs = 0;
    long long m_cooldown_counter = 0;
};

}  // namespace axonseg::optim
