// What the tests of binary volumes share: masks stored bit-packed in fixtures, voxel counts.
// Masks compare by the number of differing voxels, which says more than a largest error.
#pragma once

#include "support/fixture.hpp"

#include <doctest/doctest.h>

#include <string>

namespace axonseg::test {

// The fixture tensor `name`, written as numpy.packbits(mask.ravel(), bitorder="little") to keep
// files small, as a contiguous volume of `shape` holding 0 and `one`.
inline Tensor<std::uint8_t> unpack_mask(const Fixture& fx, const std::string& name, const Shape& shape,
                                        std::uint8_t one = 1) {
    const Tensor<std::uint8_t> bits = fx.tensor<std::uint8_t>(name);
    REQUIRE_MESSAGE(bits.numel() == (shape.numel() + 7) / 8, name, ": ", bits.numel(),
                    " bytes of bits for ", to_string(shape));
    Tensor<std::uint8_t> mask(shape);
    for (Index i = 0; i < mask.numel(); ++i) mask.data()[i] = (bits.data()[i / 8] >> (i % 8) & 1) ? one : 0;
    return mask;
}

// The number of voxels whose values differ (same shape, any strides).
inline Index count_differences(ConstView<std::uint8_t> a, ConstView<std::uint8_t> b) {
    REQUIRE_MESSAGE(a.shape() == b.shape(), "shapes differ: ", to_string(a.shape()), " vs ",
                    to_string(b.shape()));
    Index n = 0;
    for_each_offsets(a.shape(), [&](Index i, Index j) { n += a.data()[i] != b.data()[j]; }, a.strides(),
                     b.strides());
    return n;
}

// The number of non-zero voxels (any strides).
inline Index count_foreground(ConstView<std::uint8_t> m) {
    Index n = 0;
    for_each_offsets(m.shape(), [&](Index o) { n += m.data()[o] != 0; }, m.strides());
    return n;
}

}  // namespace axonseg::test
