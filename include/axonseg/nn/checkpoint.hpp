// Training checkpoints: a model file (nn/model_file.hpp) whose JSON also has a "training" section
// (epoch, RNG, optimiser kind, hyper-parameters and step count, scheduler state) and whose tensor
// table also holds the optimiser's per-parameter state as "optimizer.<state>.<parameter name>".
// The decision a reader would otherwise get wrong: restoring must make the next steps bit-identical
// to never having stopped, so everything a step reads is saved (Adam's step count sets its bias
// correction; the RNG draws the next batches), and hyper-parameters other than the learning rate
// must agree with the optimiser being loaded into rather than being silently replaced.
#pragma once

#include "axonseg/nn/model_file.hpp"
#include "axonseg/optim/adam.hpp"
#include "axonseg/optim/lr_schedule.hpp"
#include "axonseg/optim/sgd.hpp"

#include <cmath>
#include <concepts>
#include <random>
#include <sstream>

namespace axonseg::nn {

struct TrainingState {
    long long epoch = 0;
    std::mt19937_64 rng{};  // the trainer's: patch sampling and augmentation
    // The parameters the optimiser updates, in its order; empty means all of the network's.
    std::vector<std::string> optimised{};
    nlohmann::json user = nlohmann::json::object();  // the trainer's own counters and histories
};

// ---- optimiser state: hyper-parameters as JSON, moment tensors by name --------------------------

inline nlohmann::json optimiser_json(const optim::Adam& a) {
    const optim::AdamParams& p = a.params();
    return {{"kind", "adam"},          {"lr", p.lr},         {"beta1", p.beta1},
            {"beta2", p.beta2},        {"eps", p.eps},       {"weight_decay", p.weight_decay},
            {"amsgrad", p.amsgrad},    {"decoupled_weight_decay", p.decay == optim::WeightDecay::decoupled},
            {"step_count", a.step_count()}};
}
inline nlohmann::json optimiser_json(const optim::Sgd& s) {
    const optim::SgdParams& p = s.params();
    return {{"kind", "sgd"},        {"lr", p.lr},           {"momentum", p.momentum},
            {"weight_decay", p.weight_decay}, {"nesterov", p.nesterov}, {"step_count", s.step_count()}};
}

inline std::vector<std::pair<std::string, std::vector<Tensor<float>>*>> optimiser_state(optim::Adam& a) {
    std::vector<std::pair<std::string, std::vector<Tensor<float>>*>> s{{"exp_avg", &a.exp_avg()},
                                                                      {"exp_avg_sq", &a.exp_avg_sq()}};
    if (a.params().amsgrad) s.emplace_back("max_exp_avg_sq", &a.max_exp_avg_sq());
    return s;
}
inline std::vector<std::pair<std::string, std::vector<Tensor<float>>*>> optimiser_state(optim::Sgd& s) {
    return {{"momentum_buffer", &s.momentum_buffers()}};
}

template <class O>
concept CheckpointOptimiser = requires(O& o, long long n, double lr) {
    { optimiser_json(o) } -> std::same_as<nlohmann::json>;
    optimiser_state(o);
    o.set_step_count(n);
    o.set_lr(lr);
};

// ---- scheduler state -----------------------------------------------------------------------------

namespace detail {
// JSON has no infinity; the plateau's "best" starts there.
inline nlohmann::json real_json(double v) {
    if (std::isfinite(v)) return v;
    return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}
inline double real_of(const nlohmann::json& j) {
    if (j.is_number()) return j.get<double>();
    const std::string s = j.get<std::string>();
    if (s == "nan") return std::nan("");
    if (s == "inf" || s == "-inf") return s == "inf" ? HUGE_VAL : -HUGE_VAL;
    throw nlohmann::json::other_error::create(501, "expected a number, got \"" + s + "\"", &j);
}
}  // namespace detail

inline nlohmann::json scheduler_json(const optim::ReduceLROnPlateau& s) {
    const optim::PlateauParams& p = s.params();
    return {{"kind", "reduce_lr_on_plateau"},
            {"mode", p.mode == optim::PlateauMode::min ? "min" : "max"},
            {"factor", p.factor},
            {"patience", p.patience},
            {"threshold", p.threshold},
            {"threshold_mode", p.threshold_mode == optim::ThresholdMode::absolute ? "abs" : "rel"},
            {"cooldown", p.cooldown},
            {"min_lr", p.min_lr},
            {"eps", p.eps},
            {"lr", s.lr()},
            {"best", detail::real_json(s.best())},
            {"bad_epochs", s.bad_epochs()},
            {"cooldown_counter", s.cooldown_counter()}};
}
inline void restore_scheduler(optim::ReduceLROnPlateau& s, const nlohmann::json& j) {
    s.restore(j.at("lr").get<double>(), detail::real_of(j.at("best")), j.at("bad_epochs").get<long long>(),
              j.at("cooldown_counter").get<long long>());
}
// PolyLR has no state beyond its settings: they are saved and restored.
inline nlohmann::json scheduler_json(const optim::PolyLR& s) {
    return {{"kind", "poly"}, {"initial_lr", s.initial_lr}, {"max_epochs", s.max_epochs}, {"exponent", s.exponent}};
}
inline void restore_scheduler(optim::PolyLR& s, const nlohmann::json& j) {
    s = {j.at("initial_lr").get<double>(), j.at("max_epochs").get<long long>(), j.at("exponent").get<double>()};
}

// ---- save and load ---------------------------------------------------------------------------------

namespace detail {
// The names of the optimised parameters: state.optimised, or all of the network's.
template <Floating T, Backend B>
std::vector<std::string> optimised_names(UNet<T, B>& net, const TrainingState& state) {
    if (!state.optimised.empty()) return state.optimised;
    std::vector<std::string> names;
    for (const Parameter& p : net.parameters()) names.push_back(p.name);
    return names;
}
}  // namespace detail

// Saves the network, the optimiser's and scheduler's state and `state` to `path` atomically.
// Requires the optimiser to have been made for the parameters state.optimised names (all of the
// network's when empty), in that order.
template <Floating T, Backend B, CheckpointOptimiser O, class S>
void save_checkpoint(const std::filesystem::path& path, UNet<T, B>& net, O& optimiser, const S& scheduler,
                     const TrainingState& state, const ModelMetadata& metadata = {}) {
    const std::vector<std::string> names = detail::optimised_names(net, state);
    std::vector<NamedView> tensors;
    for (const Parameter& p : net.parameters()) tensors.push_back({p.name, p.value});
    nlohmann::json opt = optimiser_json(optimiser);
    opt["state"] = nlohmann::json::array();
    for (const auto& [role, moments] : optimiser_state(optimiser)) {
        AXONSEG_CHECK(moments->size() == names.size(), "save_checkpoint: ", path.string(), ": the optimiser holds ",
                      moments->size(), " ", role, " tensors for ", names.size(), " optimised parameters");
        opt["state"].push_back(role);
        for (std::size_t i = 0; i < names.size(); ++i) {
            AXONSEG_CHECK((*moments)[i].shape() == net.parameter(names[i]).value.shape(), "save_checkpoint: ",
                          path.string(), ": ", role, " ", i, " ", (*moments)[i].shape(), " does not match parameter '",
                          names[i], "' ", net.parameter(names[i]).value.shape());
            tensors.push_back({"optimizer." + role + "." + names[i], (*moments)[i]});
        }
    }
    std::ostringstream rng;
    rng << state.rng;
    nlohmann::json meta = model_json(net.topology(), metadata, "checkpoint");
    meta["training"] = {{"epoch", state.epoch},        {"rng", rng.str()},
                        {"optimised", names},          {"optimizer", std::move(opt)},
                        {"scheduler", scheduler_json(scheduler)}, {"user", state.user}};
    write_model_file(path, std::move(meta), tensors);
}

struct LoadedCheckpoint {
    ModelMetadata metadata;
    TrainingState state;
};

// Restores a checkpoint into a network, optimiser and scheduler of the saved kinds (made for the
// same parameters as when saved). The optimiser's learning rate, step count and state are
// replaced; its other hyper-parameters must equal the saved ones. Throws naming the file on any
// mismatch, before changing anything.
template <Floating T, Backend B, CheckpointOptimiser O, class S>
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path, UNet<T, B>& net, O& optimiser, S& scheduler) {
    const std::string where = path.string();
    const LoadedModel model = load_model(path);
    AXONSEG_CHECK(model.meta.contains("training"), where, ": a model file, not a training checkpoint");
    LoadedCheckpoint out{.metadata = model.metadata, .state = {}};
    try {
        const nlohmann::json& tr = model.meta.at("training");
        const nlohmann::json& saved = tr.at("optimizer");
        const nlohmann::json given = optimiser_json(optimiser);
        AXONSEG_CHECK(saved.at("kind") == given.at("kind"), where, ": the checkpoint holds ", saved.at("kind"),
                      " state, the optimiser given is ", given.at("kind"));
        for (const auto& [key, value] : given.items())
            AXONSEG_CHECK(key == "lr" || key == "step_count" || saved.at(key) == value, where, ": the checkpoint's ",
                          given.at("kind").get<std::string>(), " has ", key, " ", saved.at(key),
                          ", the optimiser given has ", value);
        out.state.epoch = tr.at("epoch").get<long long>();
        out.state.optimised = tr.at("optimised").get<std::vector<std::string>>();
        out.state.user = tr.at("user");
        std::istringstream rng(tr.at("rng").get<std::string>());
        rng >> out.state.rng;
        AXONSEG_CHECK(!rng.fail(), where, ": invalid metadata: the RNG state does not parse");

        std::unordered_map<std::string_view, const StoredTensor*> stored;
        for (const StoredTensor& t : model.tensors) stored.emplace(t.name, &t);
        const auto state = optimiser_state(optimiser);
        for (const auto& [role, moments] : state) {
            AXONSEG_CHECK(moments->size() == out.state.optimised.size(), where, ": the checkpoint's optimiser updates ",
                          out.state.optimised.size(), " parameters, the optimiser given ", moments->size());
            for (std::size_t i = 0; i < moments->size(); ++i) {
                const std::string name = "optimizer." + role + "." + out.state.optimised[i];
                const auto it = stored.find(name);
                AXONSEG_CHECK(it != stored.end(), where, ": optimiser state '", name, "' is missing from the file");
                AXONSEG_CHECK(it->second->value.shape() == (*moments)[i].shape(), where, ": optimiser state '", name,
                              "' is ", it->second->value.shape(), " in the file, ", (*moments)[i].shape(),
                              " in the optimiser given");
            }
        }
        const nlohmann::json given_scheduler = scheduler_json(scheduler);
        AXONSEG_CHECK(tr.at("scheduler").at("kind") == given_scheduler.at("kind"), where, ": the checkpoint holds ",
                      tr.at("scheduler").at("kind"), " scheduler state, the scheduler given is ",
                      given_scheduler.at("kind"));
        // A plateau's settings must agree (its state is restored); PolyLR's settings are its content.
        if (given_scheduler.at("kind") == "reduce_lr_on_plateau")
            for (const auto& [key, value] : given_scheduler.items())
                AXONSEG_CHECK(key == "lr" || key == "best" || key == "bad_epochs" || key == "cooldown_counter" ||
                                  tr.at("scheduler").at(key) == value,
                              where, ": the checkpoint's scheduler has ", key, " ", tr.at("scheduler").at(key),
                              ", the scheduler given has ", value);
        S restored = scheduler;
        restore_scheduler(restored, tr.at("scheduler"));

        model.load_into(net);
        for (const auto& [role, moments] : state)
            for (std::size_t i = 0; i < moments->size(); ++i)
                copy(TensorView<const float>(stored.at("optimizer." + role + "." + out.state.optimised[i])->value),
                     (*moments)[i].view());
        optimiser.set_lr(saved.at("lr").get<double>());
        optimiser.set_step_count(saved.at("step_count").get<long long>());
        scheduler = restored;
    } catch (const nlohmann::json::exception& e) {
        AXONSEG_FAIL(where, ": invalid metadata (", e.what(), ")");
    }
    return out;
}

}  // namespace axonseg::nn
