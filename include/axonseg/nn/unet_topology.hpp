// What nnU-Net's plan fixes about a Generic U-Net: channels, classes, the stride of each pooling
// and the conv kernel of each stage, feature counts and the number of convs per stage. Shapes and
// depth stay runtime values because the planner chooses them per dataset.
// NB: the pooling is convolutional (the first conv of stage d >= 1 has stride pool_strides[d-1]),
// and the decoder level u (lowest resolution first) uses conv_kernels[poolings() - u], the kernel of
// the stage one deeper than its skip, as nnU-Net v1's Generic_UNet builds it.
#pragma once

#include "axonseg/core/error.hpp"
#include "axonseg/core/shape.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace axonseg::nn {

struct UNetTopology {
    int input_channels = 1;
    int classes = 2;
    std::vector<Index3> pool_strides;  // one per pooling, (D,H,W)
    std::vector<Index3> conv_kernels;  // poolings() + 1 entries: the stages, bottleneck last
    int base_features = 32;
    int max_features = 320;
    int convs_per_stage = 2;
    bool deep_supervision = true;

    // D-LMBmap's 3d_fullres plan (network.md): 1 channel, 2 classes, 5 poolings by 2, kernels 3^3.
    static UNetTopology dlmbmap() {
        return {.input_channels = 1,
                .classes = 2,
                .pool_strides = std::vector<Index3>(5, Index3::all(2)),
                .conv_kernels = std::vector<Index3>(6, Index3::all(3))};
    }

    int poolings() const { return int(pool_strides.size()); }

    // Output features of encoder stage s (s = poolings() is the bottleneck): base doubled per
    // stage (rounded, as nnU-Net does), capped at max_features.
    int stage_features(int s) const {
        int f = base_features;
        for (int i = 0; i < s; ++i) f = std::min(int(std::lround(f * 2.0)), max_features);
        return f;
    }

    // The product of all pooling strides: every input spatial size must be a multiple of it.
    Index3 total_pooling() const {
        Index3 t = Index3::all(1);
        for (const Index3& p : pool_strides) t = {t.d * p.d, t.h * p.h, t.w * p.w};
        return t;
    }

    // nnU-Net pads 1 where a kernel is 3 and 0 where it is 1.
    static Index3 padding(const Index3& kernel) {
        return {kernel.d == 3 ? 1 : 0, kernel.h == 3 ? 1 : 0, kernel.w == 3 ? 1 : 0};
    }

    void validate() const {
        AXONSEG_CHECK(input_channels >= 1 && classes >= 2, "UNetTopology: need >= 1 input channel and >= 2 "
                      "classes, got ", input_channels, " and ", classes);
        AXONSEG_CHECK(poolings() >= 1, "UNetTopology: need at least one pooling");
        AXONSEG_CHECK(int(conv_kernels.size()) == poolings() + 1, "UNetTopology: ", poolings(),
                      " poolings need ", poolings() + 1, " conv kernels, got ", conv_kernels.size());
        for (const Index3& k : conv_kernels)
            for (int a = 0; a < 3; ++a)
                AXONSEG_CHECK(k[a] == 1 || k[a] == 3, "UNetTopology: conv kernel ", k,
                              " must be 1 or 3 per axis (nnU-Net's padding rule)");
        for (const Index3& p : pool_strides)
            for (int a = 0; a < 3; ++a)
                AXONSEG_CHECK(p[a] >= 1, "UNetTopology: pool stride ", p, " must be >= 1 per axis");
        AXONSEG_CHECK(base_features >= 1 && max_features >= base_features && convs_per_stage >= 1,
                      "UNetTopology: base_features ", base_features, ", max_features ", max_features,
                      " and convs_per_stage ", convs_per_stage, " are not a valid choice");
    }
};

}  // namespace axonseg::nn
