// CPU nearest-neighbour resampling: the source offset of every output index is worked out once per
// axis, then threads copy rows. The innermost loop runs along the output's unit-stride dimension
// (W in NCDHW, C in NDHWC), so writes are sequential; any strides work, views included.
#pragma once

#include "axonseg/backend/reference/downsample_nearest_ref.hpp"
#include "axonseg/core/parallel.hpp"

#include <vector>

namespace axonseg::backend {

template <class T>
void downsample_nearest(Cpu, ConstView<T> x, TensorView<T> y, NearestRule rule) {
    const Index C = y.dim(1), D = y.dim(2), H = y.dim(3), W = y.dim(4);
    // source[a][i]: the offset in x of output index i along spatial axis a
    std::vector<Index> source[3];
    for (int a = 0; a < 3; ++a)
        for (Index i = 0; i < y.dim(2 + a); ++i)
            source[a].push_back(nearest_source_index(i, x.dim(2 + a), y.dim(2 + a), rule) *
                                x.stride(2 + a));
    const Index* sd = source[0].data();
    const Index* sh = source[1].data();
    const Index* sw = source[2].data();
    const T* in = x.data();
    T* out = y.data();
    const Index xc = x.stride(1), yc = y.stride(1), yw = y.stride(4);
    if (C > 1 && yc == 1) {  // channels innermost in y: copy one voxel's channels at a time
        parallel_for(0, y.dim(0) * D * H, [&](Index r) {
            const Index h = r % H, d = r / H % D, n = r / (H * D);
            const T* src = in + n * x.stride(0) + sd[d] + sh[h];
            T* dst = out + n * y.stride(0) + d * y.stride(2) + h * y.stride(3);
            for (Index w = 0; w < W; ++w)
                for (Index c = 0; c < C; ++c) dst[w * yw + c] = src[sw[w] + c * xc];
        });
        return;
    }
    parallel_for(0, y.dim(0) * C * D, [&](Index r) {
        const Index d = r % D, c = r / D % C, n = r / (D * C);
        const T* src = in + n * x.stride(0) + c * xc + sd[d];
        T* dst = out + n * y.stride(0) + c * yc + d * y.stride(2);
        for (Index h = 0; h < H; ++h)
            for (Index w = 0; w < W; ++w) dst[h * y.stride(3) + w * yw] = src[sh[h] + sw[w]];
    });
}

}  // namespace axonseg::backend
