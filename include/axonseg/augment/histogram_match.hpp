// Histogram matching by the cumulative distribution, as scikit-image's match_histograms (which
// D-LMBmap uses to make a cube look like another brain's): each distinct value of the source goes
// to the reference value at the same quantile, interpolated linearly between the reference's
// distinct values (numpy.interp), in float64.
#pragma once

#include "axonseg/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace axonseg::augment {

namespace detail {

// The distinct values of v, ascending, and the cumulative fraction of elements <= each.
struct Cdf {
    std::vector<float> values;
    std::vector<double> quantiles;
};

inline Cdf cumulative_distribution(TensorView<const float> v, const char* what) {
    std::vector<float> sorted;
    sorted.reserve(std::size_t(v.numel()));
    for_each_offsets(v.shape(), [&](Index o) { sorted.push_back(v.data()[o]); }, v.strides());
    for (float x : sorted)
        AXONSEG_CHECK(!std::isnan(x), "match_histograms: the ", what, " ", v.shape(), " holds NaN");
    std::sort(sorted.begin(), sorted.end());
    Cdf cdf;
    const double n = double(sorted.size());
    for (std::size_t i = 0; i < sorted.size(); ++i)
        if (i + 1 == sorted.size() || sorted[i + 1] != sorted[i]) {
            cdf.values.push_back(sorted[i]);
            cdf.quantiles.push_back(double(i + 1) / n);
        }
    return cdf;
}

}  // namespace detail

// source with its histogram matched to reference's. Any shapes (the two may differ); non-empty.
inline Tensor<float> match_histograms(TensorView<const float> source, TensorView<const float> reference) {
    AXONSEG_CHECK(source.numel() > 0 && reference.numel() > 0, "match_histograms: empty source ", source.shape(),
                  " or reference ", reference.shape());
    const detail::Cdf src = detail::cumulative_distribution(source, "source");
    const detail::Cdf ref = detail::cumulative_distribution(reference, "reference");
    // Where each distinct source value goes: numpy.interp(quantile, ref quantiles, ref values).
    std::vector<float> mapped(src.values.size());
    for (std::size_t i = 0; i < src.values.size(); ++i) {
        const double q = src.quantiles[i];
        const auto hi = std::lower_bound(ref.quantiles.begin(), ref.quantiles.end(), q);
        const std::size_t j = std::size_t(hi - ref.quantiles.begin());
        if (j == 0) mapped[i] = ref.values.front();
        else if (j == ref.quantiles.size()) mapped[i] = ref.values.back();
        else {
            const double q0 = ref.quantiles[j - 1], q1 = ref.quantiles[j];
            const double v0 = ref.values[j - 1], v1 = ref.values[j];
            mapped[i] = float(v0 + (q - q0) * (v1 - v0) / (q1 - q0));
        }
    }
    Tensor<float> out(source.shape());
    Index k = 0;
    for_each_offsets(
        source.shape(),
        [&](Index o) {
            const auto it = std::lower_bound(src.values.begin(), src.values.end(), source.data()[o]);
            out.data()[k++] = mapped[std::size_t(it - src.values.begin())];
        },
        source.strides());
    return out;
}

}  // namespace axonseg::augment
