// axonseg's model file: a U-Net's parameters with what it takes to use them (topology, patch size,
// normalisation, class names, provenance), saved and loaded by name. The bytes are laid out by
// nn/model_file_format.hpp; training checkpoints add to it in nn/checkpoint.hpp.
// The decision a reader would otherwise get wrong: a load checks every name and shape before
// copying anything, so a network that does not fit is left as it was.
#pragma once

#include "axonseg/config.hpp"
#include "axonseg/nn/model_file_format.hpp"
#include "axonseg/nn/unet.hpp"

#include <chrono>
#include <ctime>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace axonseg::nn {

// What a model file says about the network besides its weights. Provenance fields other than
// `source` are filled in by save_model and read back by load_model.
struct ModelMetadata {
    std::optional<Index3> patch_size{};                                        // (D,H,W) trained on
    nlohmann::json normalisation = nlohmann::json{{"scheme", "zscore"}};      // the plan's scheme
    std::vector<std::string> class_names{};                                   // empty or one per class
    std::string source = "trained";  // or "imported from PyTorch file X"
    nlohmann::json user = nlohmann::json::object();  // free-form, kept as given
    std::string axonseg_version{};   // of the build that wrote the file
    std::string created{};           // ISO 8601 UTC time of writing
};

namespace detail {

inline std::string utc_now() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

inline nlohmann::json triple_json(const Index3& v) { return nlohmann::json::array({v.d, v.h, v.w}); }
inline Index3 triple_of(const nlohmann::json& j) {
    if (!j.is_array() || j.size() != 3)
        throw nlohmann::json::other_error::create(501, "expected [d, h, w], got " + j.dump(), &j);
    return {j.at(0).get<Index>(), j.at(1).get<Index>(), j.at(2).get<Index>()};
}

}  // namespace detail

inline nlohmann::json topology_to_json(const UNetTopology& t) {
    nlohmann::json pools = nlohmann::json::array(), kernels = nlohmann::json::array();
    for (const Index3& p : t.pool_strides) pools.push_back(detail::triple_json(p));
    for (const Index3& k : t.conv_kernels) kernels.push_back(detail::triple_json(k));
    return {{"input_channels", t.input_channels}, {"classes", t.classes},        {"pool_strides", pools},
            {"conv_kernels", kernels},             {"base_features", t.base_features},
            {"max_features", t.max_features},     {"convs_per_stage", t.convs_per_stage},
            {"deep_supervision", t.deep_supervision}};
}

// Throws nlohmann::json::exception on a missing or mistyped field (the readers below turn it into
// an axonseg::Error naming the file).
inline UNetTopology topology_from_json(const nlohmann::json& j) {
    UNetTopology t{.input_channels = j.at("input_channels").get<int>(),
                   .classes = j.at("classes").get<int>(),
                   .pool_strides = {},
                   .conv_kernels = {},
                   .base_features = j.at("base_features").get<int>(),
                   .max_features = j.at("max_features").get<int>(),
                   .convs_per_stage = j.at("convs_per_stage").get<int>(),
                   .deep_supervision = j.at("deep_supervision").get<bool>()};
    for (const auto& p : j.at("pool_strides")) t.pool_strides.push_back(detail::triple_of(p));
    for (const auto& k : j.at("conv_kernels")) t.conv_kernels.push_back(detail::triple_of(k));
    return t;
}

// The metadata as the file's JSON holds it, kind "model" or "checkpoint"; provenance gets this
// build's version and the time of writing.
inline nlohmann::json model_json(const UNetTopology& top, const ModelMetadata& m, std::string_view kind) {
    AXONSEG_CHECK(m.class_names.empty() || int(m.class_names.size()) == top.classes, "save_model: ",
                  m.class_names.size(), " class names for a network of ", top.classes, " classes");
    AXONSEG_CHECK(m.normalisation.is_object() && m.user.is_object(),
                  "save_model: normalisation and user fields must be JSON objects");
    return {{"kind", kind},
            {"topology", topology_to_json(top)},
            {"patch_size", m.patch_size ? detail::triple_json(*m.patch_size) : nlohmann::json()},
            {"normalisation", m.normalisation},
            {"class_names", m.class_names},
            {"provenance",
             {{"axonseg_version", AXONSEG_VERSION}, {"created", detail::utc_now()}, {"source", m.source}}},
            {"user", m.user}};
}

inline ModelMetadata metadata_from_json(const nlohmann::json& j) {
    const nlohmann::json& prov = j.at("provenance");
    ModelMetadata m{.patch_size = std::nullopt,
                    .normalisation = j.at("normalisation"),
                    .class_names = j.at("class_names").get<std::vector<std::string>>(),
                    .source = prov.at("source").get<std::string>(),
                    .user = j.at("user"),
                    .axonseg_version = prov.at("axonseg_version").get<std::string>(),
                    .created = prov.at("created").get<std::string>()};
    if (!j.at("patch_size").is_null()) m.patch_size = detail::triple_of(j.at("patch_size"));
    return m;
}

// A model file read back: the network's description, its parameters, and the whole JSON (a
// checkpoint's training section included).
struct LoadedModel {
    std::filesystem::path path;
    UNetTopology topology;
    ModelMetadata metadata;
    nlohmann::json meta;
    std::vector<StoredTensor> tensors;  // parameters first, then any optimiser state

    // Copies the stored parameters into `net`. Requires exactly the network's parameter names with
    // their shapes; on any mismatch throws naming the file and parameter and leaves `net` as it was.
    template <Floating T, Backend B>
    void load_into(UNet<T, B>& net) const {
        const std::string where = path.string();
        std::unordered_map<std::string_view, const StoredTensor*> stored;
        for (const StoredTensor& t : tensors)
            if (!t.name.starts_with("optimizer.")) stored.emplace(t.name, &t);
        for (const Parameter& p : net.parameters()) {
            const auto it = stored.find(p.name);
            AXONSEG_CHECK(it != stored.end(), where, ": the network's parameter '", p.name,
                          "' is missing from the file");
            AXONSEG_CHECK(it->second->value.shape() == p.value.shape(), where, ": parameter '", p.name, "' is ",
                          it->second->value.shape(), " in the file, ", p.value.shape(), " in the network being loaded");
        }
        AXONSEG_CHECK(stored.size() == net.parameters().size(), where, ": the file has ", stored.size(),
                      " parameters, the network ", net.parameters().size(), "; extra in the file: ",
                      extra_names(net));
        for (Parameter& p : net.parameters()) net.load(p.name, stored.at(p.name)->value);
    }

    // A new network of the stored topology with the stored parameters.
    template <Floating T, Backend B = Cpu>
    UNet<T, B> build() const {
        UNet<T, B> net(topology);
        load_into(net);
        return net;
    }

private:
    // The stored parameters `net` lacks, in file order.
    template <Floating T, Backend B>
    std::string extra_names(UNet<T, B>& net) const {
        std::string names;
        for (const StoredTensor& t : tensors) {
            bool known = t.name.starts_with("optimizer.");
            for (const Parameter& p : net.parameters()) known = known || p.name == t.name;
            if (!known) names += (names.empty() ? "'" : ", '") + t.name + "'";
        }
        return names;
    }
};

// Saves the network's parameters (fp32 masters, in parameter order) with `metadata` to `path`.
template <Floating T, Backend B>
void save_model(const std::filesystem::path& path, UNet<T, B>& net, const ModelMetadata& metadata) {
    std::vector<NamedView> tensors;
    for (const Parameter& p : net.parameters()) tensors.push_back({p.name, p.value});
    write_model_file(path, model_json(net.topology(), metadata, "model"), tensors);
}

// Reads a model file (or a checkpoint, whose training state it ignores); build<T, B>() or
// load_into(net) then give the network.
inline LoadedModel load_model(const std::filesystem::path& path) {
    ModelFile file = read_model_file(path);
    LoadedModel m{.path = path, .topology = {}, .metadata = {}, .meta = std::move(file.meta),
                  .tensors = std::move(file.tensors)};
    try {
        m.topology = topology_from_json(m.meta.at("topology"));
        m.metadata = metadata_from_json(m.meta);
    } catch (const nlohmann::json::exception& e) {
        AXONSEG_FAIL(path.string(), ": invalid metadata (", e.what(), ")");
    }
    try {
        m.topology.validate();
    } catch (const Error& e) {
        AXONSEG_FAIL(path.string(), ": invalid metadata (", e.what(), ")");
    }
    return m;
}

}  // namespace axonseg::nn