// Reference 3-d convolution (PyTorch's conv3d: cross-correlation, zero padding), plain loops over
// any strides and element types: the specification the oneDNN path is tested against.
// Every sum accumulates in double and is rounded to T once, so the reference is at least as exact
// as any fast path; backward data is written as a gather (one output element per input voxel),
// which keeps it a pure function of the inputs, free of the order of a scatter.
// The transposed convolution's reference reuses these loops (it is this backward-data pass).
#pragma once

#include "axonseg/core/grad.hpp"
#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"

namespace axonseg::backend {

namespace detail {

// Sizes and strides of one convolution, read once from the views.
struct ConvLoops {
    Index n, ci, co, id, ih, iw, od, oh, ow, kd, kh, kw;
    Index3 stride, pad;

    ConvLoops(const Shape& x, const Shape& w, const Shape& y, Index3 s, Index3 p)
        : n(x[0]), ci(x[1]), co(w[0]), id(x[2]), ih(x[3]), iw(x[4]), od(y[2]), oh(y[3]), ow(y[4]),
          kd(w[2]), kh(w[3]), kw(w[4]), stride(s), pad(p) {}

    // The output index o whose window puts kernel tap k on input index i along an axis, or -1.
    static Index output_of(Index i, Index k, Index s, Index p, Index size) {
        const Index t = i + p - k;
        if (t < 0 || t % s != 0 || t / s >= size) return -1;
        return t / s;
    }
};

}  // namespace detail

// y(n,co,o) = bias(co) + sum_{ci,k} x(n,ci,o*stride - pad + k) * w(co,ci,k), overwritten or added
// into per `mode`. bias may be absent (rank 0). Shapes are checked by ops/conv3d.hpp.
template <class T>
void conv3d_forward(Reference, ConstView<T> x, ConstView<T> w, ConstView<T> bias, TensorView<T> y,
                    Index3 stride, Index3 pad, Grad mode = Grad::overwrite) {
    const detail::ConvLoops c(x.shape(), w.shape(), y.shape(), stride, pad);
    parallel_for(0, c.n * c.co, [&](Index nco) {
        const Index n = nco / c.co, co = nco % c.co;
        const double b = bias.empty() ? 0.0 : double(compute_t<T>(bias(co)));
        for (Index od = 0; od < c.od; ++od)
            for (Index oh = 0; oh < c.oh; ++oh)
                for (Index ow = 0; ow < c.ow; ++ow) {
                    double acc = b;
                    if (mode == Grad::accumulate) acc += double(compute_t<T>(y(n, co, od, oh, ow)));
                    for (Index ci = 0; ci < c.ci; ++ci)
                        for (Index kd = 0; kd < c.kd; ++kd) {
                            const Index id = od * stride.d - pad.d + kd;
                            if (id < 0 || id >= c.id) continue;
                            for (Index kh = 0; kh < c.kh; ++kh) {
                                const Index ih = oh * stride.h - pad.h + kh;
                                if (ih < 0 || ih >= c.ih) continue;
                                for (Index kw = 0; kw < c.kw; ++kw) {
                                    const Index iw = ow * stride.w - pad.w + kw;
                                    if (iw < 0 || iw >= c.iw) continue;
                                    acc += double(compute_t<T>(x(n, ci, id, ih, iw))) *
                                           double(compute_t<T>(w(co, ci, kd, kh, kw)));
                                }
                            }
                        }
                    y(n, co, od, oh, ow) = T(compute_t<T>(acc));
                }
    });
}

// dx(n,ci,i) = sum_{co,k,o: o*stride - pad + k = i} dy(n,co,o) * w(co,ci,k), overwriting dx.
template <class T>
void conv3d_backward_data(Reference, ConstView<T> w, ConstView<T> dy, TensorView<T> dx, Index3 stride,
                          Index3 pad) {
    const detail::ConvLoops c(dx.shape(), w.shape(), dy.shape(), stride, pad);
    parallel_for(0, c.n * c.ci, [&](Index nci) {
        const Index n = nci / c.ci, ci = nci % c.ci;
        for (Index id = 0; id < c.id; ++id)
            for (Index ih = 0; ih < c.ih; ++ih)
                for (Index iw = 0; iw < c.iw; ++iw) {
                    double acc = 0;
                    for (Index co = 0; co < c.co; ++co)
                        for (Index kd = 0; kd < c.kd; ++kd) {
                            const Index od = c.output_of(id, kd, stride.d, pad.d, c.od);
                            if (od < 0) continue;
                            for (Index kh = 0; kh < c.kh; ++kh) {
                                const Index oh = c.output_of(ih, kh, stride.h, pad.h, c.oh);
                                if (oh < 0) continue;
                                for (Index kw = 0; kw < c.kw; ++kw) {
                                    const Index ow = c.output_of(iw, kw, stride.w, pad.w, c.ow);
                                    if (ow < 0) continue;
                                    acc += double(compute_t<T>(dy(n, co, od, oh, ow))) *
                                           double(compute_t<T>(w(co, ci, kd, kh, kw)));
                                }
                            }
                        }
                    dx(n, ci, id, ih, iw) = T(compute_t<T>(acc));
                }
    });
}

// dw(co,ci,k) = sum_{n,o} dy(n,co,o) * x(n,ci,o*stride - pad + k); dbias(co) = sum_{n,o} dy(n,co,o).
// dbias may be absent. Both are overwritten or added into per `mode`.
template <class T>
void conv3d_backward_weights(Reference, ConstView<T> x, ConstView<T> dy, TensorView<T> dw,
                             TensorView<T> dbias, Index3 stride, Index3 pad, Grad mode) {
    const detail::ConvLoops c(x.shape(), dw.shape(), dy.shape(), stride, pad);
    auto store = [mode](T& out, double value) {
        if (mode == Grad::accumulate) value += double(compute_t<T>(out));
        out = T(compute_t<T>(value));
    };
    parallel_for(0, c.co, [&](Index co) {
        for (Index ci = 0; ci < c.ci; ++ci)
            for (Index kd = 0; kd < c.kd; ++kd)
                for (Index kh = 0; kh < c.kh; ++kh)
                    for (Index kw = 0; kw < c.kw; ++kw) {
                        double acc = 0;
                        for (Index n = 0; n < c.n; ++n)
                            for (Index od = 0; od < c.od; ++od) {
                                const Index id = od * stride.d - pad.d + kd;
                                if (id < 0 || id >= c.id) continue;
                                for (Index oh = 0; oh < c.oh; ++oh) {
                                    const Index ih = oh * stride.h - pad.h + kh;
                                    if (ih < 0 || ih >= c.ih) continue;
                                    for (Index ow = 0; ow < c.ow; ++ow) {
                                        const Index iw = ow * stride.w - pad.w + kw;
                                        if (iw < 0 || iw >= c.iw) continue;
                                        acc += double(compute_t<T>(dy(n, co, od, oh, ow))) *
                                               double(compute_t<T>(x(n, ci, id, ih, iw)));
                                    }
                                }
                            }
                        store(dw(co, ci, kd, kh, kw), acc);
                    }
        if (dbias.empty()) return;
        double acc = 0;
        for (Index n = 0; n < c.n; ++n)
            for (Index od = 0; od < c.od; ++od)
                for (Index oh = 0; oh < c.oh; ++oh)
                    for (Index ow = 0; ow < c.ow; ++ow) acc += double(compute_t<T>(dy(n, co, od, oh, ow)));
        store(dbias(co), acc);
    });
}

// The whole backward pass; dx (overwritten) and dbias may be absent (rank 0).
template <class T>
void conv3d_backward(Reference, ConstView<T> x, ConstView<T> w, ConstView<T> dy, TensorView<T> dx,
                     TensorView<T> dw, TensorView<T> dbias, Index3 stride, Index3 pad, Grad mode) {
    if (!dx.empty()) conv3d_backward_data(reference, w, dy, dx, stride, pad);
    conv3d_backward_weights(reference, x, dy, dw, dbias, stride, pad, mode);
}

}  // namespace axonseg::backend
