// Concatenation along channels, y = [a, b] (a first), as nnU-Net's torch.cat((up, skip), 1), and its
// backward, the split. A layer that can write into y.narrow(1, 0, Ca) or y.narrow(1, Ca, Cb) directly
// (a transposed conv's output, say) needs no concat at all: these views are ordinary outputs.
#pragma once

#include "axonseg/backend/cpu/concat_cpu.hpp"
#include "axonseg/backend/reference/concat_ref.hpp"
#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg {

namespace detail {
// True when two (N,C,D,H,W) shapes agree on N, D, H and W.
inline bool same_batch_and_voxels(const Shape& a, const Shape& b) {
    return a[0] == b[0] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4];
}
}  // namespace detail

// a (N,Ca,D,H,W) and b (N,Cb,D,H,W), any strides; y (N,Ca+Cb,D,H,W), overlapping neither.
// Ensures y[:, :Ca] = a and y[:, Ca:] = b.
template <Backend B, Floating T>
void concat_forward(B backend, Input<T, B> a, Input<T, B> b, Output<T, B> y) {
    AXONSEG_CHECK(a.rank() == 5 && b.rank() == 5, "concat_forward: inputs ", a.shape(), " and ", b.shape(),
                  " must have rank 5 (N,C,D,H,W)");
    AXONSEG_CHECK(detail::same_batch_and_voxels(a.shape(), b.shape()), "concat_forward: inputs ", a.shape(),
                  " and ", b.shape(), " disagree on N, D, H or W");
    const Shape expected{a.dim(0), a.dim(1) + b.dim(1), a.dim(2), a.dim(3), a.dim(4)};
    AXONSEG_CHECK(y.shape() == expected, "concat_forward: output ", y.shape(), " must be ", expected,
                  " for inputs ", a.shape(), " and ", b.shape());
    backend::concat_forward(backend, a, b, y);
}

// dy (N,C,D,H,W); da (N,Ca,D,H,W) and db (N,Cb,D,H,W), either may be empty (not wanted); with both,
// Ca + Cb = C. Ensures da = dy[:, :Ca] and db = dy[:, C-Cb:], added in when mode is accumulate (a
// skip connection's gradient also arrives from the encoder path). Also a plain split.
template <Backend B, Floating T>
void concat_backward(B backend, Input<T, B> dy, Output<T, B> da, Output<T, B> db, Grad mode = Grad::overwrite) {
    AXONSEG_CHECK(dy.rank() == 5, "concat_backward: dy ", dy.shape(), " must have rank 5 (N,C,D,H,W)");
    Index channels = 0;
    for (const auto& [name, part] : {std::pair{"da", da}, std::pair{"db", db}}) {
        if (part.empty()) continue;
        AXONSEG_CHECK(part.rank() == 5 && detail::same_batch_and_voxels(part.shape(), dy.shape()),
                      "concat_backward: ", name, " ", part.shape(), " and dy ", dy.shape(),
                      " disagree on rank, N, D, H or W");
        channels += part.dim(1);
    }
    AXONSEG_CHECK(channels == dy.dim(1) || (channels <= dy.dim(1) && (da.empty() || db.empty())),
                  "concat_backward: da ", da.shape(), " and db ", db.shape(), " split dy ", dy.shape(),
                  " into ", channels, " channels, not ", dy.dim(1));
    backend::concat_backward(backend, dy, da, db, mode);
}

}  // namespace axonseg
