// The one random generator of a dataset run and the few draws the augmentations make from it.
// The draws are written out here rather than taken from <random>'s distributions, whose algorithms
// the standard leaves to each library: with these, a seed gives the same dataset with any compiler.
#pragma once

#include "axonseg/core/error.hpp"
#include "axonseg/core/shape.hpp"

#include <cstdint>
#include <random>

namespace axonseg::augment {

using Rng = std::mt19937_64;  // its output sequence is fixed by the standard

// Uniform in [0, 1), 53 random bits.
inline double uniform01(Rng& rng) { return double(rng() >> 11) * 0x1.0p-53; }

// Uniform in [lo, hi).
inline double uniform(Rng& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }

// Uniform integer in [lo, hi], both ends included (Python's random.randint). Rejection sampling
// keeps it exactly uniform.
inline Index uniform_int(Rng& rng, Index lo, Index hi) {
    AXONSEG_CHECK(lo <= hi, "uniform_int: empty range [", lo, ", ", hi, "]");
    const std::uint64_t span = std::uint64_t(hi - lo) + 1;
    if (span == 0) return Index(rng());  // the whole 64-bit range
    const std::uint64_t limit = std::uint64_t(-1) - std::uint64_t(-1) % span;  // a multiple of span
    std::uint64_t r;
    do r = rng();
    while (r >= limit);
    return lo + Index(r % span);
}

// True with probability p.
inline bool coin(Rng& rng, double p = 0.5) { return uniform01(rng) < p; }

// A generator of its own for one piece of work, seeded from the run's generator in a fixed order,
// so that pieces can run in parallel and still give the same result as one after another.
inline Rng fork(Rng& rng) { return Rng(rng()); }

}  // namespace axonseg::augment
