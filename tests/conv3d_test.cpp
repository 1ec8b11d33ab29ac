// conv3d: reference gradients against central differences, the oneDNN path against the reference
// (both layouts, odd sizes, channels 1, 3 and 32, strided views), against PyTorch, accumulation of
// parameter gradients, the kernels oneDNN picks, and bad arguments.
#include "axonseg/ops/add.hpp"
#include "axonseg/ops/conv3d.hpp"

#include "support/checks.hpp"
#include "support/fixture.hpp"

#include <cstring>

using namespace axonseg;
using namespace axonseg::test;

namespace {

struct ConvCase {
    std::string name;
    Shape x;  // (N,Ci,D,H,W)
    Index c_out;
    Index3 kernel;
    Conv3dParams p;
    bool bias = true;

    Shape w() const { return {c_out, x[1], kernel.d, kernel.h, kernel.w}; }
    Shape y() const { return conv3d_output_shape(x, w(), p); }
};

// The U-Net's kinds of layer on odd sizes: first (1 channel), stride-2 down, 32 -> 32, the final 1x1
// to classes, an anisotropic stage, and one without bias.
std::vector<ConvCase> cases() {
    return {
        {"1->32 k3 p1", {1, 1, 7, 9, 11}, 32, {3, 3, 3}, {.pad = {1, 1, 1}}},
        {"3->32 k3 s2 p1, N=2", {2, 3, 7, 9, 11}, 32, {3, 3, 3}, {.stride = {2, 2, 2}, .pad = {1, 1, 1}}},
        {"32->32 k3 p1", {1, 32, 6, 7, 5}, 32, {3, 3, 3}, {.pad = {1, 1, 1}}},
        {"32->3 k1", {1, 32, 7, 9, 11}, 3, {1, 1, 1}, {}},
        {"4->8 k1x3x3 s1x2x2, N=2", {2, 4, 5, 9, 11}, 8, {1, 3, 3}, {.stride = {1, 2, 2}, .pad = {0, 1, 1}}},
        {"3->5 k3 s2 p0 no bias", {1, 3, 8, 7, 9}, 5, {3, 3, 3}, {.stride = {2, 2, 2}}, false},
    };
}

template <class T>
struct ConvGrads {
    Tensor<T> y, dx, dw, db;
};

// Forward and backward on `backend`, every output pre-filled with `sentinel`.
template <class T, class B>
ConvGrads<T> run_conv(B backend, ConstView<T> x, ConstView<T> w, ConstView<T> b, ConstView<T> dy,
                      const Conv3dParams& p, Layout layout, double sentinel) {
    const bool with_bias = b.rank() != 0;
    ConvGrads<T> r{sentinel_tensor<T>(dy.shape(), sentinel, layout),
                   sentinel_tensor<T>(x.shape(), sentinel, layout), sentinel_tensor<T>(w.shape(), sentinel),
                   with_bias ? sentinel_tensor<T>(b.shape(), sentinel) : Tensor<T>()};
    conv3d_forward(backend, x, w, b, r.y, p);
    conv3d_backward(backend, x, w, dy, r.dx, r.dw, with_bias ? r.db.view() : TensorView<T>{}, p);
    return r;
}

// The reference for T: computed in float for bfloat16 (on the same, bf16-valued inputs).
template <class T>
using ReferenceT = std::conditional_t<std::is_same_v<T, bfloat16>, float, T>;

template <class T>
void check_grads(const ConvGrads<T>& actual, const ConvGrads<ReferenceT<T>>& expected, double rtol,
                 const std::string& name) {
    check_close(actual.y.view(), expected.y.view(), rtol, name + ": y");
    check_close(actual.dx.view(), expected.dx.view(), rtol, name + ": dx");
    check_close(actual.dw.view(), expected.dw.view(), rtol, name + ": dw");
    if (expected.db.rank() != 0) check_close(actual.db.view(), expected.db.view(), rtol, name + ": dbias");
}

template <class T>
void check_cpu_against_reference(ConstView<T> x, ConstView<T> w, ConstView<T> b, ConstView<T> dy,
                                 const Conv3dParams& p, Layout layout, const std::string& name) {
    using R = ReferenceT<T>;
    const auto rx = to<R>(x, layout), rw = to<R>(w), rdy = to<R>(dy, layout);
    const Tensor<R> rb = b.rank() != 0 ? to<R>(b) : Tensor<R>();
    const auto expected =
        run_conv<R>(reference, rx, rw, rb.rank() ? rb.view() : TensorView<R>{}, rdy, p, layout, 1e30);
    const auto actual = run_conv<T>(cpu, x, w, b, dy, p, layout, -1e30);
    check_grads(actual, expected, default_rtol<T>(), name);
}

}  // namespace

TEST_CASE("conv3d backward matches float64 central differences (reference)") {
    struct Case {
        const char* name;
        Index3 kernel;
        Conv3dParams p;
    };
    for (const Case& c :
         {Case{"k3 stride 1 pad 0", {3, 3, 3}, {}},
          Case{"k3 stride 2 pad 1", {3, 3, 3}, {.stride = {2, 2, 2}, .pad = {1, 1, 1}}},
          Case{"k1x3x3 stride 1x2x2 pad 0x1x1", {1, 3, 3}, {.stride = {1, 2, 2}, .pad = {0, 1, 1}}}}) {
        const Shape xs{2, 2, 5, 6, 7}, ws{3, 2, c.kernel.d, c.kernel.h, c.kernel.w};
        const Shape ys = conv3d_output_shape(xs, ws, c.p);  // (2,3,Do,Ho,Wo)
        Tensor<double> x = random_tensor<double>(xs, 1), w = random_tensor<double>(ws, 2);
        Tensor<double> b = random_tensor<double>({3}, 3), r = random_tensor<double>(ys, 4);
        Tensor<double> y(ys), dx(xs), dw(ws), db({3});
        auto loss = [&] {
            conv3d_forward(reference, x, w, b, y, c.p);
            return weighted_sum(y, r);
        };
        const Tensor<double> nx = numeric_gradient(x, loss), nw = numeric_gradient(w, loss),
                             nb = numeric_gradient(b, loss);
        conv3d_backward(reference, x, w, r, dx, dw, db, c.p);
        check_close(dx.view(), nx.view(), 1e-7, std::string(c.name) + ": dx vs central differences");
        check_close(dw.view(), nw.view(), 1e-7, std::string(c.name) + ": dw vs central differences");
        check_close(db.view(), nb.view(), 1e-7, std::string(c.name) + ": dbias vs central differences");
    }
}

TEST_CASE_TEMPLATE("conv3d cpu matches the reference", T, float, bfloat16) {
    for (const ConvCase& c : cases())
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const std::string name = c.name + " " + to_string(dtype_v<T>) + " " + to_string(layout);
            const auto x = random_tensor<T>(c.x, 10, layout),
                       w = random_tensor<T>(c.w(), 11, Layout::contiguous, -0.3, 0.3);
            const auto dy = random_tensor<T>(c.y(), 12, layout);
            const Tensor<T> b = c.bias ? random_tensor<T>({c.c_out}, 13) : Tensor<T>();
            check_cpu_against_reference<T>(x, w, c.bias ? b.view() : TensorView<T>{}, dy, c.p, layout, name);
        }
}

// The weight gradient of strided and of 1x1x1 convs is a GEMM over chunks of output rows, each thread
// its own (onednn_per_thread.hpp): here two chunks per plane (the strided case: Ho = 40 rows, 20 fit
// a chunk; the 1x1x1 one: 80 rows, 40 fit), then more threads than chunks, so that the first thread
// has none, and inside a parallel region.
TEST_CASE_TEMPLATE("conv3d cpu: the GEMM weight gradient in several chunks per plane, and with idle threads", T,
                   float, bfloat16) {
    for (const ConvCase& c :
         {ConvCase{"32->8 k3 s2 p1, tall", {1, 32, 3, 80, 8}, 8, {3, 3, 3}, {.stride = {2, 2, 2}, .pad = {1, 1, 1}}},
          ConvCase{"32->2 k1, tall", {1, 32, 2, 80, 64}, 2, {1, 1, 1}, {}}}) {
        const auto x = random_tensor<T>(c.x, 50, Layout::channels_last);
        const auto w = random_tensor<T>(c.w(), 51, Layout::contiguous, -0.3, 0.3);
        const auto dy = random_tensor<T>(c.y(), 52, Layout::channels_last), b = random_tensor<T>({c.c_out}, 53);
        const int threads = thread_count();
        for (int n : {threads, 7}) {
            set_thread_count(n);
            check_cpu_against_reference<T>(x, w, b, dy, c.p, Layout::channels_last,
                                           c.name + " on " + std::to_string(n) + " threads");
        }
        set_thread_count(threads);
        // Called from a caller's own threads, each its own call: the inner team is one thread.
        using R = ReferenceT<T>;
        const auto expected = run_conv<R>(reference, to<R>(x, Layout::channels_last), to<R>(w),
                                          to<R>(b), to<R>(dy, Layout::channels_last), c.p, Layout::channels_last, 1e30);
        std::vector<ConvGrads<T>> inside(2);
#pragma omp parallel for num_threads(2)
        for (int i = 0; i < 2; ++i)
            inside[std::size_t(i)] = run_conv<T>(cpu, x, w, b, dy, c.p, Layout::channels_last, -1e30);
        for (const ConvGrads<T>& r : inside)
            check_grads(r, expected, default_rtol<T>(), c.name + " inside a parallel region");
        const std::string key = std::string("conv3d_backward weights gemm ") + to_string(dtype_v<T>) + " x " +
                                backend::onednn::describe(ConstView<T>(x)) + " ";
        int gemm = 0;
        for (const std::string& entry : backend::onednn::PrimitiveCache::instance().implementations())
            gemm += entry.rfind(key, 0) == 0;
        CHECK_MESSAGE(gemm == 1, c.name);
    }
}

// The weight gradient of stride-1 convs with rows of 3 runs on a hand-written kernel
// (conv3d_weight_grad_direct.hpp), in chunks of output rows per thread: here several chunks per
// plane (the first case: 10 of its 37 rows fit a chunk, the last chunk has 7), an anisotropic
// kernel, odd rows (bf16 pairs voxels), rows of 2 voxels (both edge taps in one row), output
// channels that are not a multiple of 32 (bf16 pairs dy's channels with masks), 1 and 7 threads
// (the first idle on some), inside a parallel region, added into existing gradients, and written
// into a channel range of a wider one.
TEST_CASE_TEMPLATE("conv3d cpu: the direct weight gradient (stride 1, rows of 3)", T, float, bfloat16) {
    namespace direct = backend::weight_grad_direct;
    if (!(std::is_same_v<T, float> ? direct::cpu_has_kernel() : direct::cpu_has_bf16_kernel())) {
        MESSAGE("skipped: this CPU lacks the AVX-512 features of the direct ", to_string(dtype_v<T>),
                " weight gradient, so it is not used");
        return;
    }
    const double rtol = default_rtol<T>();
    for (const ConvCase& c :
         {ConvCase{"32->8 k3 p1, tall and wide", {1, 32, 3, 37, 100}, 8, {3, 3, 3}, {.pad = {1, 1, 1}}},
          ConvCase{"64->36 k1x3x3 p0x1x1, N=2, odd rows", {2, 64, 4, 9, 11}, 36, {1, 3, 3}, {.pad = {0, 1, 1}}},
          ConvCase{"32->12 k3 p1, rows of 2, no bias", {1, 32, 3, 4, 2}, 12, {3, 3, 3}, {.pad = {1, 1, 1}}, false}}) {
        const auto x = random_tensor<T>(c.x, 60, Layout::channels_last);
        const auto w = random_tensor<T>(c.w(), 61, Layout::contiguous, -0.3, 0.3);
        const auto dy = random_tensor<T>(c.y(), 62, Layout::channels_last);
        const Tensor<T> b = c.bias ? random_tensor<T>({c.c_out}, 63) : Tensor<T>();
        const TensorView<T> bias = c.bias ? b.view() : TensorView<T>{};
        REQUIRE_MESSAGE(direct::applies<T>(x, dy, c.w(), c.p.stride, c.p.pad), c.name);
        const int threads = thread_count();
        for (int n : {threads, 1, 7}) {
            set_thread_count(n);
            check_cpu_against_reference<T>(x, w, bias, dy, c.p, Layout::channels_last,
                                           c.name + " on " + std::to_string(n) + " threads");
        }
        set_thread_count(threads);
        using R = ReferenceT<T>;
        const Tensor<R> rb = c.bias ? to<R>(b.view()) : Tensor<R>();
        const auto expected = run_conv<R>(reference, to<R>(x, Layout::channels_last), to<R>(w),
                                          c.bias ? rb.view() : TensorView<R>{}, to<R>(dy, Layout::channels_last),
                                          c.p, Layout::channels_last, 1e30);
        std::vector<ConvGrads<T>> inside(2);
#pragma omp parallel for num_threads(2)
        for (int i = 0; i < 2; ++i)
            inside[std::size_t(i)] = run_conv<T>(cpu, x, w, bias, dy, c.p, Layout::channels_last, -1e30);
        for (const ConvGrads<T>& r : inside) check_grads(r, expected, rtol, c.name + " inside a parallel region");
        // Added into existing gradients.
        const auto dw0 = random_tensor<T>(c.w(), 64), db0 = random_tensor<T>({c.c_out}, 65);
        Tensor<T> dw = clone(dw0.view()), db = clone(db0.view());
        conv3d_backward(cpu, x, w, dy, {}, dw, c.bias ? db.view() : TensorView<T>{}, c.p, Grad::accumulate);
        Tensor<float> dw_sum = to<float>(dw0.view()), db_sum = to<float>(db0.view());
        for (Index i = 0; i < dw_sum.numel(); ++i) dw_sum.data()[i] += float(expected.dw.data()[i]);
        check_close(dw.view(), dw_sum.view(), rtol, c.name + ": accumulated dw");
        if (c.bias) {
            for (Index i = 0; i < db_sum.numel(); ++i) db_sum.data()[i] += float(expected.db.data()[i]);
            check_close(db.view(), db_sum.view(), rtol, c.name + ": accumulated dbias");
        }
        // Into a channel range of a wider gradient (the decoder's conv on [upsampled, skip] halves).
        Tensor<T> wide_dw = sentinel_tensor<T>({c.c_out, 2 * c.x[1], c.kernel.d, c.kernel.h, c.kernel.w}, -7.0);
        conv3d_backward(cpu, x, w, dy, {}, wide_dw.narrow(1, c.x[1], c.x[1]), {}, c.p);
        check_close(clone(wide_dw.narrow(1, c.x[1], c.x[1])).view(), expected.dw.view(), rtol,
                    c.name + ": dw into a channel range");
        CHECK(float_of(wide_dw(0, c.x[1] - 1, 0, 0, 0)) == -7.0f);  // the other half stays
        // The same bits on a second call (a fixed summation order).
        const auto first = run_conv<T>(cpu, x, w, bias, dy, c.p, Layout::channels_last, 0.0);
        const auto second = run_conv<T>(cpu, x, w, bias, dy, c.p, Layout::channels_last, 1.0);
        CHECK_MESSAGE(std::memcmp(first.dw.data(), second.dw.data(), sizeof(T) * std::size_t(first.dw.numel())) == 0,
                      c.name << ": the same bits on a second call");
    }
    // What stays with oneDNN: strides, 1x1x1 kernels, channel counts off the tiles, dWs over 2 MB,
    // activations that are not channels-last.
    const auto x32 = random_tensor<T>({1, 32, 4, 4, 4}, 66, Layout::channels_last);
    CHECK_FALSE(direct::applies<T>(x32, x32, {32, 32, 3, 3, 3}, Index3::all(2), Index3::all(1)));
    CHECK_FALSE(direct::applies<T>(x32, x32, {32, 32, 1, 1, 1}, Index3::all(1), Index3::all(0)));
    const auto x16 = random_tensor<T>({1, 16, 4, 4, 4}, 67, Layout::channels_last);
    CHECK_FALSE(direct::applies<T>(x16, x32, {32, 16, 3, 3, 3}, Index3::all(1), Index3::all(1)));
    const auto x128 = random_tensor<T>({1, 128, 4, 4, 4}, 68, Layout::channels_last);
    const auto x256 = random_tensor<T>({1, 256, 4, 4, 4}, 70, Layout::channels_last);
    CHECK(direct::applies<T>(x128, x128, {128, 128, 3, 3, 3}, Index3::all(1), Index3::all(1)));  // 1.8 MB
    CHECK_FALSE(direct::applies<T>(x256, x256, {256, 256, 3, 3, 3}, Index3::all(1), Index3::all(1)));
    CHECK_FALSE(direct::applies<T>(random_tensor<T>({1, 32, 4, 4, 4}, 69), x32, {32, 32, 3, 3, 3},
                                   Index3::all(1), Index3::all(1)));
}

TEST_CASE_TEMPLATE("conv3d cpu on views that are not dense (staged through a copy)", T, float, bfloat16) {
    const Conv3dParams p{.pad = {1, 1, 1}};
    SUBCASE("a channel range of a wider channels-last tensor, outputs into channel ranges too") {
        const auto big_x = random_tensor<T>({2, 5, 7, 9, 11}, 20, Layout::channels_last);
        const auto x = big_x.narrow(1, 1, 3);  // (2,3,7,9,11) with the parent's strides
        const auto w = random_tensor<T>({32, 3, 3, 3, 3}, 21, Layout::contiguous, -0.3, 0.3);
        const auto b = random_tensor<T>({32}, 22),
                   dy = random_tensor<T>({2, 32, 7, 9, 11}, 23, Layout::channels_last);
        Tensor<T> big_y = sentinel_tensor<T>({2, 40, 7, 9, 11}, -1e30, Layout::channels_last);
        Tensor<T> big_dx = sentinel_tensor<T>({2, 6, 7, 9, 11}, -1e30, Layout::channels_last);
        const auto y = big_y.narrow(1, 4, 32), dx = big_dx.narrow(1, 2, 3);  // (2,32,...), (2,3,...)
        Tensor<T> dw({32, 3, 3, 3, 3}), db({32});
        conv3d_forward(cpu, x, w, b, y, p);
        conv3d_backward(cpu, x, w, dy, dx, dw, db, p);
        const auto expected = run_conv<ReferenceT<T>>(
            reference, to<ReferenceT<T>>(x), to<ReferenceT<T>>(w.view()), to<ReferenceT<T>>(b.view()),
            to<ReferenceT<T>>(dy.view()), p, Layout::contiguous, 1e30);
        check_grads(ConvGrads<T>{clone(y), clone(dx), std::move(dw), std::move(db)}, expected,
                    default_rtol<T>(), "narrowed channels");
        CHECK(float_of(big_y(1, 3, 6, 8, 10)) == float_of(T(-1e30)));  // channels outside the views stay
        CHECK(float_of(big_dx(1, 5, 6, 8, 10)) == float_of(T(-1e30)));
    }
    SUBCASE("a spatial tile of a bigger single-channel volume (the first layer during inference)") {
        const auto volume = random_tensor<T>({1, 1, 12, 13, 14}, 24);
        const auto x = volume.box({0, 0, 2, 1, 3}, {1, 1, 7, 9, 11});  // (1,1,7,9,11)
        const auto w = random_tensor<T>({32, 1, 3, 3, 3}, 25, Layout::contiguous, -0.3, 0.3);
        const auto b = random_tensor<T>({32}, 26);
        Tensor<T> y = sentinel_tensor<T>({1, 32, 7, 9, 11}, -1e30, Layout::channels_last);
        Tensor<ReferenceT<T>> y_ref({1, 32, 7, 9, 11});
        conv3d_forward(cpu, x, w, b, y, p);
        conv3d_forward(reference, to<ReferenceT<T>>(x), to<ReferenceT<T>>(w.view()),
                       to<ReferenceT<T>>(b.view()), y_ref, p);
        check_close(y.view(), y_ref.view(), default_rtol<T>(), "spatial tile");
    }
}

TEST_CASE_TEMPLATE("conv3d_forward with Grad::accumulate adds into y, dense and strided", T, float, bfloat16) {
    // The U-Net's decoder runs the conv over [upsampled, skip] as two convs adding into one z.
    for (const ConvCase& c : cases()) {
        const std::string name = c.name + " " + to_string(dtype_v<T>);
        const auto x = random_tensor<T>(c.x, 50, Layout::channels_last);
        const auto w = random_tensor<T>(c.w(), 51, Layout::contiguous, -0.3, 0.3);
        const Tensor<T> b = c.bias ? random_tensor<T>({c.c_out}, 52) : Tensor<T>();
        const auto y0 = random_tensor<T>(c.y(), 53, Layout::channels_last);
        Tensor<T> conv_only(c.y(), Layout::channels_last);
        conv3d_forward(cpu, x, w, b.rank() ? b.view() : TensorView<T>{}, conv_only, c.p);
        Tensor<ReferenceT<T>> expected = to<ReferenceT<T>>(y0.view());  // y0 + conv, in the reference type
        add_forward(reference, expected.view(), to<ReferenceT<T>>(conv_only.view()).view(), expected.view());
        // In place (dense channels-last: oneDNN's sum post-op) and staged (a channel range of a wider
        // tensor: written to a buffer, then added by a reorder).
        Tensor<T> dense = clone(y0.view(), Layout::channels_last);
        conv3d_forward(cpu, x, w, b.rank() ? b.view() : TensorView<T>{}, dense, c.p, Grad::accumulate);
        check_close(dense.view(), expected.view(), default_rtol<T>(), name + " in place");
        Shape wide = c.y();
        wide[1] += 3;
        Tensor<T> big = sentinel_tensor<T>(wide, 7.0, Layout::channels_last);
        const auto strided = big.narrow(1, 2, c.c_out);
        copy(y0.view(), strided);
        conv3d_forward(cpu, x, w, b.rank() ? b.view() : TensorView<T>{}, strided, c.p, Grad::accumulate);
        check_close(strided, expected.view(), default_rtol<T>(), name + " staged");
        CHECK(float_of(big(0, 0, 0, 0, 0)) == 7.0f);  // channels outside the view stay
        // The reference accumulates the same way.
        Tensor<ReferenceT<T>> ref = to<ReferenceT<T>>(y0.view());
        conv3d_forward(reference, to<ReferenceT<T>>(x.view()).view(), to<ReferenceT<T>>(w.view()).view(),
                       b.rank() ? to<ReferenceT<T>>(b.view()).view() : TensorView<ReferenceT<T>>{}, ref.view(), c.p,
                       Grad::accumulate);
        check_close(ref.view(), expected.view(), default_rtol<T>(), name + " reference");
    }
}

TEST_CASE_TEMPLATE("conv3d_backward_data equals the dx of conv3d_backward, also into x's own memory", T, float,
                   bfloat16) {
    // The U-Net computes the parameter gradients first, then dx into the buffer of the (recomputed)
    // input: the data gradient must not read x.
    for (const ConvCase& c : cases()) {
        const std::string name = c.name + " " + to_string(dtype_v<T>);
        Tensor<T> x = random_tensor<T>(c.x, 40, Layout::channels_last);
        const auto w = random_tensor<T>(c.w(), 41, Layout::contiguous, -0.3, 0.3);
        const auto dy = random_tensor<T>(c.y(), 42, Layout::channels_last);
        Tensor<T> dx_both(c.x, Layout::channels_last), dw(c.w());
        conv3d_backward(cpu, x, w, dy, dx_both, dw, {}, c.p);
        conv3d_backward_data(cpu, w.view(), dy.view(), x.view(), c.p);  // x's memory now holds dx
        check_close(x.view(), dx_both.view(), 0.0, name);
        Tensor<ReferenceT<T>> dx_ref(c.x);
        conv3d_backward_data(reference, to<ReferenceT<T>>(w.view()).view(), to<ReferenceT<T>>(dy.view()).view(),
                             dx_ref.view(), c.p);
        check_close(x.view(), dx_ref.view(), default_rtol<T>(), name + " against the reference");
    }
    const auto w = random_tensor<float>({8, 3, 3, 3, 3}, 43);
    Tensor<float> dx({1, 3, 7, 9, 11}), dy({1, 8, 7, 9, 10});
    CHECK_THROWS_WITH_AS(conv3d_backward_data(cpu, w.view(), dy.view(), dx.view(), {.pad = {1, 1, 1}}),
                         doctest::Contains("conv3d_backward_data: dy (1,8,7,9,10) should be (1,8,7,9,11)"), Error);
}

TEST_CASE("conv3d cpu: the bf16 kernel for one input channel matches the reference") {
    // backend/cpu/conv3d_stem_bf16.hpp: widths around its 8-voxel blocks, 16, 32 and 48 output
    // channels (one group, a pair, a pair and one), no bias, batch 2, a tile of a bigger volume.
    if (!backend::stem_bf16::cpu_has_kernel()) {
        MESSAGE("skipped: this CPU has no AVX512-BF16, oneDNN runs these cases");
        return;
    }
    const Conv3dParams p{.pad = {1, 1, 1}};
    struct StemCase {
        Shape x;
        Index c_out;
        bool bias;
    };
    const StemCase stem_cases[] = {{{1, 1, 3, 4, 1}, 32, true},  {{1, 1, 2, 3, 7}, 16, true},
                                   {{1, 1, 4, 2, 8}, 48, true},  {{2, 1, 3, 5, 17}, 32, false},
                                   {{1, 1, 5, 3, 26}, 64, true}};
    for (const StemCase& c : stem_cases) {
        const std::string name = "stem " + to_string(c.x) + " -> " + std::to_string(c.c_out);
        const Shape padded{c.x[0], 1, c.x[2] + 2, c.x[3] + 1, c.x[4] + 3};
        const auto volume = random_tensor<bfloat16>(padded, 30, Layout::contiguous, 0.0, 65535.0);
        // strided, with the values of a raw 16-bit image
        const auto x = volume.box({0, 0, 1, 1, 2}, {c.x[0], 1, c.x[2], c.x[3], c.x[4]});
        const auto w = random_tensor<bfloat16>({c.c_out, 1, 3, 3, 3}, 31, Layout::contiguous, -0.3, 0.3);
        const auto b = random_tensor<bfloat16>({c.c_out}, 32);
        const ConstView<bfloat16> bias = c.bias ? b.view() : ConstView<bfloat16>{};
        const Shape y_shape{c.x[0], c.c_out, c.x[2], c.x[3], c.x[4]};
        Tensor<bfloat16> y = sentinel_tensor<bfloat16>(y_shape, -1e30, Layout::channels_last);
        REQUIRE(backend::stem_bf16::applies(x, w, y, Index3::all(1), Index3::all(1)));
        conv3d_forward(cpu, x, w, bias, y, p);
        Tensor<float> y_ref(y_shape);
        conv3d_forward(reference, to<float>(x), to<float>(w.view()),
                       c.bias ? to<float>(b.view()).view() : ConstView<float>{}, y_ref, p);
        check_close(y.view(), y_ref.view(), default_rtol<bfloat16>(), name);
    }
}

TEST_CASE_TEMPLATE("conv3d Grad::accumulate adds the parameter gradients into dw and dbias", T, float,
                   bfloat16) {
    const ConvCase c{
        "3->32 k3 s2 p1", {1, 3, 7, 9, 11}, 32, {3, 3, 3}, {.stride = {2, 2, 2}, .pad = {1, 1, 1}}};
    for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
        const auto x = random_tensor<T>(c.x, 30, layout), w = random_tensor<T>(c.w(), 31);
        const auto dy = random_tensor<T>(c.y(), 32, layout);
        const auto dw0 = random_tensor<T>(c.w(), 33), db0 = random_tensor<T>({32}, 34);
        auto check_backend = [&](auto backend) {
            Tensor<T> dw = clone(dw0.view()), db = clone(db0.view()), dw1(c.w()), db1({32});
            conv3d_backward(backend, x, w, dy, {}, dw1, db1, c.p);
            conv3d_backward(backend, x, w, dy, {}, dw, db, c.p, Grad::accumulate);
            Tensor<float> dw_sum = to<float>(dw0.view()), db_sum = to<float>(db0.view());
            for (Index i = 0; i < dw_sum.numel(); ++i) dw_sum.data()[i] += float(dw1.data()[i]);
            for (Index i = 0; i < db_sum.numel(); ++i) db_sum.data()[i] += float(db1.data()[i]);
            const std::string name = std::string(decltype(backend)::name) + " " + to_string(layout);
            check_close(dw.view(), dw_sum.view(), default_rtol<T>(), name + ": dw");
            check_close(db.view(), db_sum.view(), default_rtol<T>(), name + ": dbias");
        };
        check_backend(reference);
        check_backend(cpu);
    }
}

TEST_CASE_TEMPLATE("conv3d cpu reuses reordered weights only while they are unchanged", T, float, bfloat16) {
    using backend::onednn::WeightCache;
    using R = ReferenceT<T>;
    // Stride 1 computes dx as a forward conv of flipped weights; stride 2 with oneDNN's backward-data
    // kernel, whose reordered weights are cached too.
    const Conv3dParams p1{.pad = {1, 1, 1}}, p2{.stride = {2, 2, 2}, .pad = {1, 1, 1}};
    const auto x = random_tensor<T>({1, 32, 5, 6, 7}, 40, Layout::channels_last);
    const auto b = random_tensor<T>({16}, 41);
    // The forward and backward results of the cpu path against the reference on w's current values.
    auto check_against_reference = [&](ConstView<T> w, const std::string& name) {
        for (const Conv3dParams& p : {p1, p2}) {
            const Shape ys = conv3d_output_shape(x.shape(), w.shape(), p);
            const auto dy = random_tensor<T>(ys, 42, Layout::channels_last);
            Tensor<T> y = sentinel_tensor<T>(ys, -1e30, Layout::channels_last);
            Tensor<T> dx = sentinel_tensor<T>(x.shape(), -1e30, Layout::channels_last), dw(w.shape());
            conv3d_forward(cpu, x, w, b, y, p);
            conv3d_backward(cpu, x, w, dy, dx, dw, {}, p);
            Tensor<R> y_ref(ys), dx_ref(x.shape()), dw_ref(w.shape());
            const auto rx = to<R>(x.view()), rw = to<R>(w), rdy = to<R>(dy.view());
            conv3d_forward(reference, rx, rw, to<R>(b.view()), y_ref, p);
            conv3d_backward(reference, rx, rw, rdy, dx_ref, dw_ref, {}, p);
            const std::string n = name + (p.stride.d == 2 ? ", stride 2" : ", stride 1");
            check_close(y.view(), y_ref.view(), default_rtol<T>(), n + ": y");
            check_close(dx.view(), dx_ref.view(), default_rtol<T>(), n + ": dx");
        }
    };
    WeightCache& cache = WeightCache::instance();
    auto forward = [&](ConstView<T> w) {
        Tensor<T> y({1, 16, 5, 6, 7}, Layout::channels_last);
        conv3d_forward(cpu, x, w, b, y, p1);
        return y;
    };

    SUBCASE("a call with weights seen before hits, a weight changed in place misses and is used") {
        Tensor<T> w = random_tensor<T>({16, 32, 3, 3, 3}, 43, Layout::contiguous, -0.3, 0.3);
        check_against_reference(w, "first call");
        const Tensor<T> y1 = forward(w);
        const auto before = cache.stats();
        const Tensor<T> y2 = forward(w);
        CHECK(cache.stats().hits == before.hits + 1);
        CHECK(cache.stats().misses == before.misses);
        CHECK(std::memcmp(y1.data(), y2.data(), std::size_t(y1.numel()) * sizeof(T)) == 0);
        // One element, as an optimiser step or update_working_copy() would change it in place.
        w(7, 20, 1, 2, 0) = T(float_of(w(7, 20, 1, 2, 0)) + 0.25);
        forward(w);
        CHECK(cache.stats().misses == before.misses + 1);
        check_against_reference(w, "one weight changed in place");
        // The last byte of the span, a change a sampled fingerprint could miss.
        w(15, 31, 2, 2, 2) = T(-float_of(w(15, 31, 2, 2, 2)) - 0.5);
        check_against_reference(w, "the last weight changed");
    }
    SUBCASE("weights freed and others allocated at the same address are not mistaken for them") {
        const void* first = nullptr;
        for (std::uint64_t seed : {44, 45, 46}) {
            const auto w = random_tensor<T>({16, 32, 3, 3, 3}, seed, Layout::contiguous, -0.3, 0.3);
            INFO("same address as the first weights: ", w.data() == first);  // the pool reuses blocks
            if (!first) first = w.data();
            check_against_reference(w, "new weights, seed " + std::to_string(seed));
        }
    }
    SUBCASE("a channel range of a wider weight (the decoder's conv on a concatenation)") {
        Tensor<T> big_w = random_tensor<T>({16, 64, 3, 3, 3}, 47, Layout::contiguous, -0.3, 0.3);
        const auto w = big_w.narrow(1, 32, 32);  // (16,32,3,3,3) with the parent's strides
        check_against_reference(w, "narrowed");
        big_w(3, 40, 0, 1, 2) = T(float_of(big_w(3, 40, 0, 1, 2)) - 0.5);  // inside the view
        check_against_reference(w, "narrowed, changed inside the view");
        big_w(15, 0, 0, 0, 0) = T(1.0);  // inside the span, outside the view: a harmless miss
        check_against_reference(w, "narrowed, changed beside the view");
    }
    SUBCASE("weights changed before every call (training) hold no copies; unchanged again, they are cached") {
        cache.clear();
        Tensor<T> w = random_tensor<T>({16, 32, 3, 3, 3}, 49, Layout::contiguous, -0.3, 0.3);
        for (int step = 0; step < 4; ++step) {
            w(step, 5, 1, 1, 1) = T(float_of(w(step, 5, 1, 1, 1)) + 0.125);  // an optimiser step
            const Tensor<T> y = forward(w);
            Tensor<R> y_ref(y.shape());
            conv3d_forward(reference, to<R>(x.view()), to<R>(w.view()), to<R>(b.view()), y_ref, p1);
            check_close(y.view(), y_ref.view(), default_rtol<T>(), "step " + std::to_string(step));
            CHECK(cache.stats().entries == 0);  // a first sighting leaves only a marker
        }
        const auto before = cache.stats();
        forward(w);  // the same bytes twice in a row: cached again
        CHECK(cache.stats().entries == 1);
        CHECK(cache.stats().misses == before.misses + 1);
        forward(w);
        CHECK(cache.stats().hits == before.hits + 1);
    }
    SUBCASE("with capacity 0 nothing is kept and results stay right") {
        const std::size_t capacity = cache.capacity();
        cache.set_capacity(0);
        CHECK(cache.stats().entries == 0);
        CHECK(cache.stats().bytes == 0);
        const auto w = random_tensor<T>({16, 32, 3, 3, 3}, 48, Layout::contiguous, -0.3, 0.3);
        check_against_reference(w, "capacity 0");
        check_against_reference(w, "capacity 0, again");
        CHECK(cache.stats().entries == 0);
        cache.set_capacity(capacity);
    }
}

TEST_CASE_TEMPLATE("conv3d cpu matches PyTorch", T, float, bfloat16) {
    const Fixture fx(fixture_path("conv3d.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    for (const auto& c : fx.meta()["cases"]) {
        const std::string n = c["name"];
        const auto s = c["stride"].get<std::vector<Index>>(), pad = c["pad"].get<std::vector<Index>>();
        const Conv3dParams p{.stride = {s[0], s[1], s[2]}, .pad = {pad[0], pad[1], pad[2]}};
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const auto x = to<T>(fx.tensor<T>(n + "_x").view(), layout),
                       dy = to<T>(fx.tensor<T>(n + "_dy").view(), layout);
            const auto w = fx.tensor<T>(n + "_w"), b = fx.tensor<T>(n + "_b");
            const ConvGrads<T> actual = run_conv<T>(cpu, x, w, b, dy, p, layout, -1e30);
            const ConvGrads<float> expected{
                fx.tensor<float>(n + "_y_" + tag), fx.tensor<float>(n + "_dx_" + tag),
                fx.tensor<float>(n + "_dw_" + tag), fx.tensor<float>(n + "_db_" + tag)};
            check_grads(actual, expected, default_rtol<T>(), n + " " + tag + " " + to_string(layout));
        }
    }
}

TEST_CASE("conv3d: oneDNN runs no reference kernel for the cases above") {
    // Runs after the tests above (doctest keeps file order), so the cache holds every case. bf16
    // has fast kernels only from AVX-512 on; older CPUs are allowed oneDNN's reference for it.
    const bool fast_bf16 = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
    int checked = 0;
    for (const std::string& entry : backend::onednn::PrimitiveCache::instance().implementations()) {
        if (entry.rfind("conv3d", 0) != 0 || (!fast_bf16 && entry.find("bfloat16") != std::string::npos))
            continue;
        INFO(entry);
        CHECK(entry.find("ref:") == std::string::npos);
        ++checked;
    }
    CHECK(checked > 0);
}

TEST_CASE("conv3d rejects bad arguments with clear messages") {
    // Views over one dummy element: the checks throw before any element is read (a null data
    // pointer would mean "absent", the empty view `{}`).
    static float dummy = 0;
    auto view = [](const Shape& s) { return TensorView<const float>(&dummy, s); };
    auto out = [](const Shape& s) { return TensorView<float>(&dummy, s); };
    CHECK_THROWS_WITH_AS(
        conv3d_forward(cpu, view({1, 1, 64, 128, 128}), view({32, 2, 3, 3, 3}), {},
                       out({1, 32, 64, 128, 128}), {.pad = {1, 1, 1}}),
        doctest::Contains(
            "conv3d_forward: input (1,1,64,128,128) and weight (32,2,3,3,3) disagree on C_in (1 vs 2)"),
        Error);
    CHECK_THROWS_WITH_AS(
        conv3d_forward(cpu, view({1, 8, 8, 8}), view({4, 1, 3, 3, 3}), {}, out({1, 4, 6, 6, 6}), {}),
        doctest::Contains("conv3d_forward: input (1,8,8,8) and weight (4,1,3,3,3) must be (N,C_in,D,H,W)"),
        Error);
    CHECK_THROWS_WITH_AS(
        conv3d_output_shape({1, 1, 8, 8, 8}, {4, 1, 3, 3, 3}, {.pad = {0, -1, 0}}),
        doctest::Contains("conv3d_output_shape: stride (1,1,1) must be >= 1 and pad (0,-1,0) >= 0"), Error);
    CHECK_THROWS_WITH_AS(
        conv3d_forward(cpu, view({1, 1, 4, 4, 4}), view({4, 1, 5, 3, 3}), {}, out({1, 4, 1, 2, 2}), {}),
        doctest::Contains(
            "conv3d_forward: kernel (4,1,5,3,3) does not fit the input (1,1,4,4,4) padded by (0,0,0)"),
        Error);
    CHECK_THROWS_WITH_AS(conv3d_forward(cpu, view({1, 1, 4, 4, 4}), view({4, 1, 3, 3, 3}), view({3}),
                                        out({1, 4, 2, 2, 2}), {}),
                         doctest::Contains("conv3d_forward: bias (3) must have C_out = 4 elements"), Error);
    CHECK_THROWS_WITH_AS(
        conv3d_forward(cpu, view({1, 1, 4, 4, 4}), view({4, 1, 3, 3, 3}), {}, out({1, 4, 4, 4, 4}), {}),
        doctest::Contains("conv3d_forward: output (1,4,4,4,4) should be (1,4,2,2,2) for input (1,1,4,4,4)"),
        Error);
    CHECK_THROWS_WITH_AS(
        conv3d_backward(cpu, view({1, 1, 4, 4, 4}), view({4, 1, 3, 3, 3}), view({1, 4, 2, 2, 2}), {},
                        out({4, 1, 3, 3, 2}), {}, {}),
        doctest::Contains("conv3d_backward: dw (4,1,3,3,2) should be the weight's shape (4,1,3,3,3)"), Error);
    CHECK_THROWS_WITH_AS(conv3d_backward(cpu, view({1, 1, 4, 4, 4}), view({4, 1, 3, 3, 3}),
                                         view({1, 4, 2, 2, 3}), {}, out({4, 1, 3, 3, 3}), {}, {}),
                         doctest::Contains("conv3d_backward: dy (1,4,2,2,3) should be (1,4,2,2,2)"), Error);
}

TEST_CASE("a oneDNN failure becomes an axonseg::Error with the context and the call text") {
    using namespace backend::onednn;
    const MemoryDesc from = dense_desc({2, 3}, Layout::contiguous, DataType::f32);
    const MemoryDesc to = dense_desc({3, 2}, Layout::contiguous, DataType::f32);
    CHECK_THROWS_WITH_AS(
        make_reorder(from, to, Grad::overwrite, "conv3d_forward src (2,3)"),
        doctest::Contains("conv3d_forward src (2,3): oneDNN call `dnnl::reorder::primitive_desc("
                          "engine(), from, engine(), to, attr)` failed: "),
        Error);
}
