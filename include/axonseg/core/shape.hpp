// Shapes and strides of tensors up to rank 5, in elements.
// The logical order is always PyTorch's (N, C, D, H, W); the physical order is a separate choice
// (Layout), expressed only through strides, so a channels-last tensor still reads as NCDHW.
#pragma once

#include "axonseg/core/error.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

namespace axonseg {

using Index = std::int64_t;
constexpr int k_max_rank = 5;

// How a new tensor's elements are ordered in memory. `contiguous` is row-major in the logical
// order (NCDHW); `channels_last` puts dimension 1 innermost (NDHWC), which is what oneDNN and
// cuDNN run fastest for 3-d convolutions.
enum class Layout { contiguous, channels_last };

// Dimensions of a tensor: rank 0..5, each size >= 0.
class Shape {
public:
    constexpr Shape() = default;
    Shape(std::initializer_list<Index> dims) {
        AXONSEG_CHECK(dims.size() <= k_max_rank, "Shape: rank ", dims.size(), " exceeds ", k_max_rank);
        for (Index d : dims) {
            AXONSEG_CHECK(d >= 0, "Shape: negative dimension ", d);
            m_dims[m_rank++] = d;
        }
    }
    template <std::size_t R>
    explicit Shape(const std::array<Index, R>& dims) {
        static_assert(R <= k_max_rank);
        for (Index d : dims) {
            AXONSEG_CHECK(d >= 0, "Shape: negative dimension ", d);
            m_dims[m_rank++] = d;
        }
    }

    // From any range of dimensions (a std::vector, a std::span).
    template <class Range>
    static Shape from(const Range& dims) {
        Shape s;
        for (auto d : dims) {
            AXONSEG_CHECK(s.m_rank < k_max_rank, "Shape: more than ", k_max_rank, " dimensions");
            AXONSEG_CHECK(d >= 0, "Shape: negative dimension ", d);
            s.m_dims[s.m_rank++] = Index(d);
        }
        return s;
    }

    constexpr int rank() const { return m_rank; }
    constexpr Index operator[](int i) const { return m_dims[i]; }
    constexpr Index& operator[](int i) { return m_dims[i]; }
    constexpr Index numel() const {
        Index n = 1;
        for (int i = 0; i < m_rank; ++i) n *= m_dims[i];
        return n;
    }
    constexpr const Index* begin() const { return m_dims.data(); }
    constexpr const Index* end() const { return m_dims.data() + m_rank; }

    friend constexpr bool operator==(const Shape& a, const Shape& b) {
        if (a.m_rank != b.m_rank) return false;
        for (int i = 0; i < a.m_rank; ++i)
            if (a.m_dims[i] != b.m_dims[i]) return false;
        return true;
    }

private:
    std::array<Index, k_max_rank> m_dims{};
    int m_rank = 0;
};

// Element strides, one per dimension of the shape they belong to.
using Strides = std::array<Index, k_max_rank>;

inline std::ostream& operator<<(std::ostream& out, const Shape& s) {
    out << '(';
    for (int i = 0; i < s.rank(); ++i) out << (i ? "," : "") << s[i];
    return out << ')';
}

inline std::string to_string(const Shape& s) { return detail::concat(s); }

inline const char* to_string(Layout layout) {
    return layout == Layout::contiguous ? "contiguous" : "channels_last";
}

// Strides of a dense tensor of this shape in this layout. channels_last moves dimension 1 to the
// innermost position (needs rank >= 3).
inline Strides dense_strides(const Shape& shape, Layout layout) {
    Strides st{};
    const int r = shape.rank();
    if (layout == Layout::contiguous || r < 3) {
        Index s = 1;
        for (int i = r - 1; i >= 0; --i) {
            st[i] = s;
            s *= shape[i] > 0 ? shape[i] : 1;
        }
        return st;
    }
    Index s = 1;
    st[1] = s;
    s *= shape[1] > 0 ? shape[1] : 1;
    for (int i = r - 1; i >= 2; --i) {
        st[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
    st[0] = s;
    return st;
}

// Three per-axis integers in (D, H, W) order: kernel sizes, strides, paddings.
struct Index3 {
    Index d = 0, h = 0, w = 0;
    constexpr Index operator[](int i) const { return i == 0 ? d : (i == 1 ? h : w); }
    friend constexpr bool operator==(const Index3&, const Index3&) = default;
    static constexpr Index3 all(Index v) { return {v, v, v}; }
};

inline std::ostream& operator<<(std::ostream& out, const Index3& v) {
    return out << '(' << v.d << ',' << v.h << ',' << v.w << ')';
}

}  // namespace axonseg
