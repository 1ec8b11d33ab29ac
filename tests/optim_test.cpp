// Optimisers, schedules and clipping against real torch.optim (tests/fixtures/optim.fix).
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/optim/adam.hpp"
#include "axonseg/optim/clip.hpp"
#include "axonseg/optim/lr_schedule.hpp"
#include "axonseg/optim/sgd.hpp"

using namespace axonseg;
using namespace axonseg::test;
using namespace axonseg::optim;

namespace {

struct Problem {
    std::vector<Tensor<float>> values, grads;
    std::vector<ParamRef> refs() {
        std::vector<ParamRef> r;
        for (std::size_t i = 0; i < values.size(); ++i) r.push_back({values[i], grads[i]});
        return r;
    }
    void load_grads(const Fixture& fx, int step) {
        for (std::size_t i = 0; i < grads.size(); ++i) {
            Tensor<float> g = fx.tensor<float>("grad" + std::to_string(step) + "_" + std::to_string(i));
            copy(g.view(), grads[i].view());
        }
    }
};

Problem load_problem(const Fixture& fx) {
    Problem p;
    for (int i = 0; i < 3; ++i) {
        p.values.push_back(fx.tensor<float>("init" + std::to_string(i)));
        p.grads.push_back(Tensor<float>(p.values.back().shape()));
    }
    return p;
}

template <class Optimiser>
void check_three_steps(const Fixture& fx, Optimiser& opt, Problem& prob, const std::string& name) {
    for (int k = 0; k < 3; ++k) {
        prob.load_grads(fx, k);
        auto refs = prob.refs();
        opt.step(refs);
        for (int i = 0; i < 3; ++i) {
            const std::string key = name + "_step" + std::to_string(k) + "_" + std::to_string(i);
            check_close(prob.values[std::size_t(i)].view(), fx.tensor<float>(key).view(), 1e-6, key);
        }
    }
}

}  // namespace

TEST_CASE("Adam with AMSGrad and L2 weight decay matches torch.optim.Adam over three steps") {
    Fixture fx(fixture_path("optim.fix"));
    Problem prob = load_problem(fx);
    auto refs = prob.refs();
    Adam adam(refs, AdamParams{.lr = 3e-4, .weight_decay = 3e-5, .amsgrad = true});
    check_three_steps(fx, adam, prob, "adam");
    CHECK(adam.step_count() == 3);
}

TEST_CASE("AdamW (decoupled weight decay) matches torch.optim.AdamW") {
    Fixture fx(fixture_path("optim.fix"));
    Problem prob = load_problem(fx);
    auto refs = prob.refs();
    Adam adamw(refs, AdamParams{.lr = 1e-2, .weight_decay = 1e-1, .amsgrad = false,
                                .decay = WeightDecay::decoupled});
    check_three_steps(fx, adamw, prob, "adamw");
}

TEST_CASE("SGD with Nesterov momentum matches torch.optim.SGD") {
    Fixture fx(fixture_path("optim.fix"));
    Problem prob = load_problem(fx);
    auto refs = prob.refs();
    Sgd sgd(refs, SgdParams{.lr = 1e-2, .momentum = 0.99, .weight_decay = 3e-5, .nesterov = true});
    check_three_steps(fx, sgd, prob, "sgd");
}

TEST_CASE("ReduceLROnPlateau follows torch's learning rates epoch by epoch") {
    Fixture fx(fixture_path("optim.fix"));
    Tensor<double> metrics = fx.tensor<double>("plateau_metrics"), lrs = fx.tensor<double>("plateau_lrs");
    ReduceLROnPlateau sched(3e-4, PlateauParams{.factor = 0.2, .patience = 3, .threshold = 1e-3});
    for (Index e = 0; e < metrics.numel(); ++e) {
        INFO("epoch ", e);
        CHECK(sched.step(metrics.data()[e]) == doctest::Approx(lrs.data()[e]).epsilon(1e-12));
    }
    CHECK(sched.lr() < 3e-4);  // the sequence does reduce it
}

TEST_CASE("clip_grad_norm scales all gradients together as torch's clip_grad_norm_") {
    Fixture fx(fixture_path("optim.fix"));
    Problem prob = load_problem(fx);
    prob.load_grads(fx, 1);
    std::vector<TensorView<float>> grads(prob.grads.begin(), prob.grads.end());
    const double total = clip_grad_norm(grads, 12.0);
    CHECK(total == doctest::Approx(fx.meta()["clip_total_norm"].get<double>()).epsilon(1e-5));
    for (int i = 0; i < 3; ++i)
        check_close(prob.grads[std::size_t(i)].view(), fx.tensor<float>("clipped_" + std::to_string(i)).view(),
                    1e-6, "clipped " + std::to_string(i));
}

TEST_CASE("PolyLR is nnU-Net's poly schedule") {
    PolyLR poly{.initial_lr = 1e-2, .max_epochs = 1000, .exponent = 0.9};
    CHECK(poly.lr(0) == doctest::Approx(1e-2));
    CHECK(poly.lr(500) == doctest::Approx(1e-2 * std::pow(0.5, 0.9)));
    CHECK(poly.lr(1000) == doctest::Approx(0.0));
}

TEST_CASE("optimisers reject parameters whose gradient has another shape") {
    Tensor<float> v({3, 4}), g({4, 3});
    std::vector<ParamRef> refs{{v, g}};
    CHECK_THROWS_WITH_AS(Adam(refs, AdamParams{}),
                         doctest::Contains("Adam: parameter 0 has value (3,4) but gradient (4,3)"), Error);
}
