// Binarising the high-pass response into the "rough" label (pipeline §2): 255 where the response
// is above a threshold, 0 elsewhere. The original has the user pick the threshold in ImageJ; here
// it is either given or found automatically from the response's histogram:
//   otsu        the split that maximises the between-class variance (Otsu 1979): good when axons
//               are a sizeable, distinct bright class;
//   triangle    the bin farthest below the line from the histogram's peak to the end of its longer
//               tail (Zack et al. 1977): suited to a huge dark background peak with a thin bright
//               tail, which is what a high-pass response of sparse axons looks like;
//   percentile  keep at most (100 - P) % of the voxels: a fixed foreground budget.
// Every rule returns T with foreground = value > T (so T = 65535 keeps nothing).
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace axonseg::prep {

enum class ThresholdMethod { otsu, triangle, percentile };

struct AutoThreshold {
    ThresholdMethod method = ThresholdMethod::otsu;
    double percentile = 99.0;  // P for ThresholdMethod::percentile, in [0, 100]
};

// "otsu", "triangle" or "percentile:P" (P a number in [0, 100]), as the command line spells it.
inline AutoThreshold parse_auto_threshold(const std::string& text) {
    if (text == "otsu") return {.method = ThresholdMethod::otsu};
    if (text == "triangle") return {.method = ThresholdMethod::triangle};
    const std::string prefix = "percentile:";
    if (text.rfind(prefix, 0) == 0) {
        const std::string number = text.substr(prefix.size());
        std::size_t used = 0;
        double p = -1;
        try {
            p = std::stod(number, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != number.size() || number.empty() || !(p >= 0 && p <= 100))
            AXONSEG_FAIL("automatic threshold '", text, "': the percentile must be a number in [0, 100]");
        return {.method = ThresholdMethod::percentile, .percentile = p};
    }
    AXONSEG_FAIL("automatic threshold '", text, "': expected otsu, triangle or percentile:P");
}

// The 65536-bin histogram of a uint16 volume (any rank and strides); per-thread counts, summed in
// thread order (integers, so the result is exact anyway).
inline std::vector<Index> histogram_u16(ConstView<std::uint16_t> v) {
    const Index threads = thread_count(), n = v.numel();
    std::vector<std::vector<Index>> partial(static_cast<std::size_t>(threads), std::vector<Index>(65536, 0));
    parallel_chunks(0, n, [&](Index begin, Index end, int t) {
        std::vector<Index>& h = partial[static_cast<std::size_t>(t)];
        if (v.is_contiguous()) {
            for (Index i = begin; i < end; ++i) ++h[v.data()[i]];
            return;
        }
        for (Index i = begin; i < end; ++i) {  // logical index -> offset, last dimension fastest
            Index rest = i, offset = 0;
            for (int d = v.rank() - 1; d >= 0; --d) {
                offset += (rest % v.dim(d)) * v.stride(d);
                rest /= v.dim(d);
            }
            ++h[v.data()[offset]];
        }
    });
    std::vector<Index> hist(65536, 0);
    for (const std::vector<Index>& h : partial)
        for (std::size_t b = 0; b < hist.size(); ++b) hist[b] += h[b];
    return hist;
}

namespace detail {

struct HistogramRange {
    Index lo = 0, hi = -1, total = 0;  // first and last non-empty bins, number of voxels
};

inline HistogramRange histogram_range(std::span<const Index> hist, const char* op) {
    HistogramRange r;
    for (Index b = 0; b < Index(hist.size()); ++b) {
        if (hist[std::size_t(b)] == 0) continue;
        if (r.hi < 0) r.lo = b;
        r.hi = b;
        r.total += hist[std::size_t(b)];
    }
    AXONSEG_CHECK(r.total > 0, op, ": the histogram is empty (no voxels)");
    return r;
}

}  // namespace detail

// Otsu: the T in [lo, hi) maximising w0 * w1 * (mu0 - mu1)^2 for the classes <= T and > T (the
// first on ties); T = hi (nothing above) when the volume holds a single value.
inline std::uint16_t otsu_threshold(std::span<const Index> hist) {
    const detail::HistogramRange r = detail::histogram_range(hist, "otsu_threshold");
    double total_sum = 0;
    for (Index b = r.lo; b <= r.hi; ++b) total_sum += double(b) * double(hist[std::size_t(b)]);
    double w0 = 0, sum0 = 0, best = -1;
    Index best_t = r.hi;
    for (Index t = r.lo; t < r.hi; ++t) {
        w0 += double(hist[std::size_t(t)]);
        sum0 += double(t) * double(hist[std::size_t(t)]);
        const double w1 = double(r.total) - w0;
        const double diff = sum0 / w0 - (total_sum - sum0) / w1;
        const double between = w0 * w1 * diff * diff;
        if (between > best) {
            best = between;
            best_t = t;
        }
    }
    return std::uint16_t(best_t);
}

// Triangle: the line from the peak (the first highest bin) to the far end of the longer tail;
// T is the bin between them with the largest vertical gap below the line (for a fixed line, the
// largest perpendicular distance). A tail on the dark side gives a T below the peak.
inline std::uint16_t triangle_threshold(std::span<const Index> hist) {
    const detail::HistogramRange r = detail::histogram_range(hist, "triangle_threshold");
    Index peak = r.lo;
    for (Index b = r.lo; b <= r.hi; ++b)
        if (hist[std::size_t(b)] > hist[std::size_t(peak)]) peak = b;
    const Index end = r.hi - peak >= peak - r.lo ? r.hi : r.lo;
    if (end == peak) return std::uint16_t(peak);
    const double h_peak = double(hist[std::size_t(peak)]), h_end = double(hist[std::size_t(end)]);
    const Index step = end > peak ? 1 : -1;
    double best = -1;
    Index best_t = peak;
    for (Index b = peak + step; b != end; b += step) {
        const double line = h_peak + (h_end - h_peak) * double(b - peak) / double(end - peak);
        const double gap = line - double(hist[std::size_t(b)]);
        if (gap > best) {
            best = gap;
            best_t = b;
        }
    }
    return std::uint16_t(best_t);
}

// Percentile: the smallest T with at least P % of the voxels <= T, so at most (100 - P) % lie above.
inline std::uint16_t percentile_threshold(std::span<const Index> hist, double percent) {
    AXONSEG_CHECK(percent >= 0 && percent <= 100, "percentile_threshold: percentile ", percent,
                  " outside [0, 100]");
    const detail::HistogramRange r = detail::histogram_range(hist, "percentile_threshold");
    const double needed = percent / 100.0 * double(r.total);
    Index below = 0;
    for (Index b = r.lo; b <= r.hi; ++b) {
        below += hist[std::size_t(b)];
        if (double(below) >= needed) return std::uint16_t(b);
    }
    return std::uint16_t(r.hi);
}

// The threshold the rule picks for a response volume (any rank and strides, not empty).
inline std::uint16_t auto_threshold(ConstView<std::uint16_t> response, const AutoThreshold& rule) {
    AXONSEG_CHECK(response.numel() > 0, "auto_threshold: the response is empty, shape ", response.shape());
    const std::vector<Index> hist = histogram_u16(response);
    switch (rule.method) {
    case ThresholdMethod::otsu: return otsu_threshold(hist);
    case ThresholdMethod::triangle: return triangle_threshold(hist);
    case ThresholdMethod::percentile: return percentile_threshold(hist, rule.percentile);
    }
    AXONSEG_FAIL("auto_threshold: unknown method ", int(rule.method));
}

// The rough label: 255 where response > threshold, else 0. Requires a (D,H,W) response, any
// strides. Ensures a new contiguous uint8 tensor of the same shape.
inline Tensor<std::uint8_t> binarize(ConstView<std::uint16_t> response, std::uint16_t threshold) {
    AXONSEG_CHECK(response.rank() == 3, "binarize: the response must be a (D,H,W) volume, got shape ",
                  response.shape());
    Tensor<std::uint8_t> out(response.shape());  // (D,H,W)
    const Index H = response.dim(1), W = response.dim(2);
    parallel_for(0, response.dim(0), [&](Index z) {
        std::uint8_t* o = out.data() + z * H * W;
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) o[y * W + x] = response(z, y, x) > threshold ? 255 : 0;
    });
    return out;
}

}  // namespace axonseg::prep
