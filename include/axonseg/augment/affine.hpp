// A random 3-d rotation and scaling about the volume's centre: trilinear for the image, nearest
// for the label, zero outside. D-LMBmap does this with imgaug on the crop seen as a 2-d (z, y)
// image with x as channels (rotation ±10° in that plane, the two scales from U(1, 1.2)); here the
// rotation turns about all three axes and each axis has its own scale (docs/training_set.md).
#pragma once

#include "axonseg/augment/random.hpp"
#include "axonseg/augment/sample.hpp"
#include "axonseg/core/parallel.hpp"

#include <array>
#include <cmath>
#include <numbers>

namespace axonseg::augment {

using Mat3 = std::array<std::array<double, 3>, 3>;  // acts on (z, y, x) column vectors

inline Mat3 multiply(const Mat3& a, const Mat3& b) {
    Mat3 c{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 3; ++k) c[i][j] += a[i][k] * b[k][j];
    return c;
}

// The rotation by `radians` in the plane of axes a and b (turning a towards b).
inline Mat3 plane_rotation(int a, int b, double radians) {
    Mat3 r{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
    const double c = std::cos(radians), s = std::sin(radians);
    r[a][a] = c, r[a][b] = -s, r[b][a] = s, r[b][b] = c;
    return r;
}

// The map from an output voxel to where it samples the input: in = centre + m (out - centre), with
// centre the middle of the volume ((n - 1) / 2 on each axis), as scipy.ndimage.affine_transform
// takes it after its offset is set to keep the centre fixed.
struct WarpMap {
    Mat3 m{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
};

namespace detail {

template <class T, class Sampler>
Tensor<T> warp(TensorView<const T> v, const WarpMap& map, Sampler&& sample) {
    AXONSEG_CHECK(v.rank() == 3 && v.is_contiguous(), "warp: volume ", v.shape(), " must be a contiguous (D,H,W)");
    const Index D = v.dim(0), H = v.dim(1), W = v.dim(2);
    const double c[3] = {(double(D) - 1) / 2, (double(H) - 1) / 2, (double(W) - 1) / 2};
    const auto& m = map.m;
    Tensor<T> out(v.shape());
    parallel_for(0, D, [&](Index z) {
        T* row = out.data() + z * H * W;
        for (Index y = 0; y < H; ++y) {
            const double dz = double(z) - c[0], dy = double(y) - c[1];
            double p[3];
            for (int a = 0; a < 3; ++a) p[a] = c[a] + m[a][0] * dz + m[a][1] * dy - m[a][2] * c[2];
            for (Index x = 0; x < W; ++x)  // p + m[.][2] * x
                row[y * W + x] = sample(p[0] + m[0][2] * double(x), p[1] + m[1][2] * double(x),
                                        p[2] + m[2][2] * double(x));
        }
    });
    return out;
}

}  // namespace detail

// Trilinear interpolation with the volume extended by zeros (scipy's mode "grid-constant", order 1):
// a point up to one voxel outside blends with the zeros, one further out is 0.
inline Tensor<float> warp_linear(TensorView<const float> v, const WarpMap& map) {
    const Index D = v.dim(0), H = v.dim(1), W = v.dim(2);
    const float* data = v.data();
    const auto at = [&](Index z, Index y, Index x) -> double {
        return z < 0 || y < 0 || x < 0 || z >= D || y >= H || x >= W ? 0.0 : double(data[(z * H + y) * W + x]);
    };
    return detail::warp(v, map, [&](double z, double y, double x) {
        if (!(z > -1 && y > -1 && x > -1 && z < double(D) && y < double(H) && x < double(W))) return 0.0f;
        const double fz = std::floor(z), fy = std::floor(y), fx = std::floor(x);
        const Index z0 = Index(fz), y0 = Index(fy), x0 = Index(fx);
        const double tz = z - fz, ty = y - fy, tx = x - fx;
        double acc = 0;
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
                for (int k = 0; k < 2; ++k)
                    acc += (i ? tz : 1 - tz) * (j ? ty : 1 - ty) * (k ? tx : 1 - tx) * at(z0 + i, y0 + j, x0 + k);
        return float(acc);
    });
}

// Nearest neighbour (ties round half up), 0 outside: for labels, which must keep their values.
inline Tensor<std::uint8_t> warp_nearest(TensorView<const std::uint8_t> v, const WarpMap& map) {
    const Index D = v.dim(0), H = v.dim(1), W = v.dim(2);
    const std::uint8_t* data = v.data();
    return detail::warp(v, map, [&](double z, double y, double x) -> std::uint8_t {
        const Index iz = Index(std::floor(z + 0.5)), iy = Index(std::floor(y + 0.5)), ix = Index(std::floor(x + 0.5));
        if (iz < 0 || iy < 0 || ix < 0 || iz >= D || iy >= H || ix >= W) return 0;
        return data[(iz * H + iy) * W + ix];
    });
}

// Rotation by an angle from U(-max_rotation, max_rotation) in each of the (y, x), (z, x) and (z, y)
// planes, and scaling of each axis by a factor from U(min_scale, max_scale) (> 1 enlarges the
// content, as imgaug's scale does). The output keeps the input's shape.
struct RandomAffine {
    double max_rotation_degrees = 10.0;
    double min_scale = 1.0, max_scale = 1.2;

    // The output-to-input map of one draw: (R S)^-1 = S^-1 R^T.
    WarpMap draw(Rng& rng) const {
        const double limit = max_rotation_degrees * std::numbers::pi / 180.0;
        Mat3 r = plane_rotation(1, 2, uniform(rng, -limit, limit));
        r = multiply(r, plane_rotation(0, 2, uniform(rng, -limit, limit)));
        r = multiply(r, plane_rotation(0, 1, uniform(rng, -limit, limit)));
        WarpMap map;
        for (int a = 0; a < 3; ++a) {
            const double inverse_scale = 1.0 / uniform(rng, min_scale, max_scale);
            for (int b = 0; b < 3; ++b) map.m[a][b] = inverse_scale * r[b][a];
        }
        return map;
    }

    void operator()(Sample& s, Rng& rng) const {
        check_sample("RandomAffine", s);
        const WarpMap map = draw(rng);
        s.image = warp_linear(s.image, map);
        s.label = warp_nearest(s.label, map);
    }
};

}  // namespace axonseg::augment
