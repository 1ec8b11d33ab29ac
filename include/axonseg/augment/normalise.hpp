// Min-max normalisation of a sample's image to [0, 1] and the 0/1 label the trainer expects: the
// last step of every training sample (pipeline §4.6). A constant image, where the original divides
// by zero and writes NaN, becomes all zeros.
#pragma once

#include "axonseg/augment/random.hpp"
#include "axonseg/augment/sample.hpp"

#include <algorithm>
#include <cmath>

namespace axonseg::augment {

inline void min_max_normalise(TensorView<float> image) {
    AXONSEG_CHECK(image.is_contiguous(), "min_max_normalise: image ", image.shape(), " must be contiguous");
    float* v = image.data();
    const Index n = image.numel();
    float lo = INFINITY, hi = -INFINITY;
    for (Index i = 0; i < n; ++i) {
        AXONSEG_CHECK(std::isfinite(v[i]), "min_max_normalise: image ", image.shape(), " holds ", v[i], " at element ", i);
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
    }
    const double range = double(hi) - double(lo);
    for (Index i = 0; i < n; ++i) v[i] = range > 0 ? float((double(v[i]) - lo) / range) : 0.0f;
}

struct MinMaxNormalise {
    void operator()(Sample& s, Rng&) const {
        check_sample("MinMaxNormalise", s);
        min_max_normalise(s.image);
        std::uint8_t* l = s.label.data();
        for (Index i = 0; i < s.label.numel(); ++i) l[i] = l[i] != 0;
    }
};

}  // namespace axonseg::augment
