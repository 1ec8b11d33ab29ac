// The U-Net fixtures of tools/fixtures/make_unet_fixture.py: the topology their metadata describes.
#pragma once

#include "support/fixture.hpp"

#include "axonseg/nn/unet_topology.hpp"

#include <vector>

namespace axonseg::test {

inline nn::UNetTopology topology_of(const Fixture& fx) {
    const nlohmann::json& m = fx.meta();
    auto triples = [](const nlohmann::json& list) {
        std::vector<Index3> out;
        for (const auto& v : list) out.push_back({v[0], v[1], v[2]});
        return out;
    };
    return {.input_channels = 1,
            .classes = m["classes"].get<int>(),
            .pool_strides = triples(m["pools"]),
            .conv_kernels = triples(m["kernels"]),
            .base_features = m["base_features"].get<int>(),
            .max_features = m["max_features"].get<int>()};
}

}  // namespace axonseg::test
