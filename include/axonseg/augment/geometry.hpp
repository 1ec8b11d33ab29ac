// The lossless rearrangements of a sample: a sub-box, quarter turns in the (y, x) plane and flips,
// as plain functions, and the random policies the training set draws them with.
#pragma once

#include "axonseg/augment/random.hpp"
#include "axonseg/augment/sample.hpp"
#include "axonseg/core/parallel.hpp"

#include <array>

namespace axonseg::augment {

// v turned by k quarter turns in the (y, x) plane, as numpy.rot90(v, k, axes=(1, 2)):
// (D,H,W) -> (D,W,H) for odd k. out(z, i, j) = v(z, j, W-1-i) for k = 1.
template <class T>
Tensor<std::remove_const_t<T>> rot90_yx(TensorView<T> v, int k) {
    AXONSEG_CHECK(v.rank() == 3, "rot90_yx: volume ", v.shape(), " must be (D,H,W)");
    k = ((k % 4) + 4) % 4;
    const Index D = v.dim(0), H = v.dim(1), W = v.dim(2);
    Tensor<std::remove_const_t<T>> out(k % 2 ? Shape{D, W, H} : Shape{D, H, W});  // (D,H',W')
    const Index Ho = out.dim(1), Wo = out.dim(2);
    parallel_for(0, D, [&](Index z) {
        for (Index i = 0; i < Ho; ++i)
            for (Index j = 0; j < Wo; ++j) {
                Index y = i, x = j;  // the source voxel of out(z, i, j)
                if (k == 1) y = j, x = W - 1 - i;
                else if (k == 2) y = H - 1 - i, x = W - 1 - j;
                else if (k == 3) y = H - 1 - j, x = i;
                out(z, i, j) = v(z, y, x);
            }
    });
    return out;
}

// v reversed along `axis` (0 = z, 1 = y, 2 = x).
template <class T>
Tensor<std::remove_const_t<T>> flip(TensorView<T> v, int axis) {
    AXONSEG_CHECK(v.rank() == 3 && axis >= 0 && axis < 3, "flip: axis ", axis, " of volume ", v.shape(),
                  " (must be a (D,H,W) volume and an axis 0..2)");
    Tensor<std::remove_const_t<T>> out(v.shape());
    const Index D = v.dim(0), H = v.dim(1), W = v.dim(2);
    parallel_for(0, D, [&](Index z) {
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x)
                out(z, y, x) = v(axis == 0 ? D - 1 - z : z, axis == 1 ? H - 1 - y : y, axis == 2 ? W - 1 - x : x);
    });
    return out;
}

// A uniformly placed edge^3 box of the sample, copied out. Requires every axis >= edge.
struct RandomCrop {
    Index edge = 128;

    // A crop of `whole`, which is left as it is (one whole volume serves many crops).
    Sample cut(const Sample& whole, Rng& rng) const {
        check_sample("RandomCrop", whole);
        for (int a = 0; a < 3; ++a)
            AXONSEG_CHECK(whole.image.dim(a) >= edge, "RandomCrop: a crop of edge ", edge,
                          " does not fit the volume ", whole.image.shape());
        Index begin[3];
        for (int a = 0; a < 3; ++a) begin[a] = uniform_int(rng, 0, whole.image.dim(a) - edge);
        return {clone(whole.image.box({begin[0], begin[1], begin[2]}, {edge, edge, edge})),
                clone(whole.label.box({begin[0], begin[1], begin[2]}, {edge, edge, edge}))};
    }
    void operator()(Sample& s, Rng& rng) const { s = cut(s, rng); }
};

// k quarter turns in the (y, x) plane, k uniform in 0..3.
struct RandomRot90 {
    void operator()(Sample& s, Rng& rng) const {
        check_sample("RandomRot90", s);
        const int k = int(uniform_int(rng, 0, 3));
        s.image = rot90_yx(s.image.view(), k);
        s.label = rot90_yx(s.label.view(), k);
    }
};

// Each enabled axis flipped with probability p, independently (z, then y, then x).
struct RandomFlips {
    std::array<bool, 3> axes{true, true, true};
    double p = 0.5;

    void operator()(Sample& s, Rng& rng) const {
        check_sample("RandomFlips", s);
        for (int a = 0; a < 3; ++a)
            if (axes[std::size_t(a)] && coin(rng, p)) {
                s.image = flip(s.image.view(), a);
                s.label = flip(s.label.view(), a);
            }
    }
};

}  // namespace axonseg::augment
