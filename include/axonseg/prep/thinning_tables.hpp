// The local tests of the 3-D thinning (thinning.hpp) on a 3x3x3 neighbourhood held as a 27-bit
// mask. The tables are computed at compile time from the geometry instead of being typed in.
// NB: scikit-image (after Lee's Fig. 1a) numbers the neighbourhood with x before y and types in
// Lee's Euler table (its Table 2, column deltaG26) for its own octant orders. Every test here is a
// property of the voxel set, not of a numbering, so our plain (z, y, x) numbering gives the same
// answers. k_vertex_euler's differences equal Lee's table in all 8 octants x 128 configurations
// (checked once against scikit-image's copy); the tests check the Euler test by brute force.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace axonseg::prep::detail {

// Bit k of a neighbourhood is the voxel at (dz, dy, dx) = (k / 9 - 1, k / 3 % 3 - 1, k % 3 - 1).
constexpr int neighbour_bit(int dz, int dy, int dx) { return 9 * (dz + 1) + 3 * (dy + 1) + (dx + 1); }
inline constexpr int k_centre_bit = 13;
inline constexpr std::uint32_t k_centre = 1u << k_centre_bit;

// k_touching[k]: the neighbourhood voxels other than the centre and k itself that share a face,
// an edge or a corner with voxel k (26-adjacency).
inline constexpr std::array<std::uint32_t, 27> k_touching = [] {
    std::array<std::uint32_t, 27> t{};
    for (int a = 0; a < 27; ++a)
        for (int b = 0; b < 27; ++b) {
            const int dz = a / 9 - b / 9, dy = a / 3 % 3 - b / 3 % 3, dx = a % 3 - b % 3;
            const bool touch = dz >= -1 && dz <= 1 && dy >= -1 && dy <= 1 && dx >= -1 && dx <= 1;
            if (a != b && b != k_centre_bit && touch) t[a] |= 1u << b;
        }
    return t;
}();

// Why the Euler test is local: let the foreground be the union of closed unit cubes, one per voxel
// (cubes that meet at a corner touch, which is 26-connectivity). Its Euler characteristic is
// vertices - edges + faces - cubes of that cube complex, a sum over lattice vertices of each
// vertex's share: the vertex itself, half of each of its 6 edges, a quarter of each of its 12
// faces, an eighth of each of its 8 cubes. A lattice vertex is the common corner of a 2x2x2 block
// of voxels; corner c = cz * 4 + cy * 2 + cx of the block is bit c of its configuration.
// vertex_euler[config] is 8 x that share (an integer).
inline constexpr std::array<int, 256> k_vertex_euler = [] {
    std::array<int, 256> t{};
    for (int config = 0; config < 256; ++config) {
        // any_corner(mask, value): some foreground corner c has (c & mask) == value.
        auto any_corner = [config](int mask, int value) {
            for (int c = 0; c < 8; ++c)
                if ((config >> c & 1) && (c & mask) == value) return true;
            return false;
        };
        int edges = 0, faces = 0;
        for (int axis = 0; axis < 3; ++axis)  // an edge along an axis: the 4 cubes on its side
            for (int side = 0; side < 2; ++side) edges += any_corner(1 << axis, side << axis);
        for (int a = 0; a < 3; ++a)  // a face across axis k: the 2 cubes in one quadrant of a, b
            for (int b = a + 1; b < 3; ++b)
                for (int q = 0; q < 4; ++q)
                    faces += any_corner((1 << a) | (1 << b), ((q & 1) << a) | ((q >> 1) << b));
        t[config] = 8 * (config != 0) - 4 * edges + 2 * faces - std::popcount(unsigned(config));
    }
    return t;
}();

// k_octant_bits[o][c]: the neighbourhood bit of corner c of octant o, the 2x2x2 block that holds
// the centre (corner 0) and grows towards -1 or +1 along z, y, x as bits 2, 1, 0 of o say.
inline constexpr std::array<std::array<int, 8>, 8> k_octant_bits = [] {
    std::array<std::array<int, 8>, 8> t{};
    for (int o = 0; o < 8; ++o)
        for (int c = 0; c < 8; ++c) {
            auto step = [&](int bit) { return (c >> bit & 1) ? ((o >> bit & 1) ? 1 : -1) : 0; };
            t[o][c] = neighbour_bit(step(2), step(1), step(0));
        }
    return t;
}();

// Removing the centre leaves the Euler characteristic of the foreground unchanged (Lee's
// condition 1): only the 8 lattice vertices around the centre voxel change their share.
inline bool is_euler_invariant(std::uint32_t nb) {
    int change = 0;
    for (const std::array<int, 8>& octant : k_octant_bits) {
        int config = 1;  // the centre, corner 0
        for (int c = 1; c < 8; ++c) config |= int(nb >> octant[c] & 1u) << c;
        change += k_vertex_euler[config] - k_vertex_euler[config & ~1];
    }
    return change == 0;
}

// The foreground neighbours, centre left out, form at most one 26-connected set (Lee's conditions
// 2 and 3 with the Euler test; scikit-image finds the same sets by labelling octant by octant).
inline bool is_simple(std::uint32_t nb) {
    nb &= ~k_centre;
    if (nb == 0) return true;
    std::uint32_t reached = nb & (~nb + 1u), frontier = reached;
    while (frontier != 0) {
        std::uint32_t grow = 0;
        for (std::uint32_t f = frontier; f != 0; f &= f - 1) grow |= k_touching[std::countr_zero(f)];
        frontier = grow & nb & ~reached;
        reached |= frontier;
    }
    return reached == nb;
}

// Exactly one foreground neighbour: the end of a line, which thinning keeps.
inline bool is_end_point(std::uint32_t nb) { return std::popcount(nb & ~k_centre) == 1; }

}  // namespace axonseg::prep::detail
