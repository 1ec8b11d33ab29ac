// conv_transpose3d: reference gradients against central differences, the oneDNN deconvolution
// against the reference (both layouts, odd sizes, a channel-range output as in a decoder's concat),
// against PyTorch, accumulation of dw, the kernels oneDNN picks, and bad arguments.
#include "axonseg/ops/conv_transpose3d.hpp"

#include "support/checks.hpp"
#include "support/fixture.hpp"

using namespace axonseg;
using namespace axonseg::test;

namespace {

struct UpCase {
    std::string name;
    Shape x;  // (N,Ci,D,H,W)
    Index c_out;
    Index3 kernel;
    ConvTranspose3dParams p;

    Shape w() const { return {x[1], c_out, kernel.d, kernel.h, kernel.w}; }
    Shape y() const { return conv_transpose3d_output_shape(x, w(), p); }
};

std::vector<UpCase> cases() {
    return {
        {"64->32 k2 s2", {1, 64, 3, 5, 4}, 32, {2, 2, 2}, {}},
        {"32->3 k2 s2, N=2", {2, 32, 4, 3, 5}, 3, {2, 2, 2}, {}},
        {"8->4 k1x2x2 s1x2x2", {1, 8, 7, 4, 5}, 4, {1, 2, 2}, {.stride = {1, 2, 2}}},
        {"3->5 k3 s2 (overlapping)", {1, 3, 3, 4, 5}, 5, {3, 3, 3}, {}},
    };
}

template <class T>
struct UpGrads {
    Tensor<T> y, dx, dw;
};

template <class T, class B>
UpGrads<T> run_up(B backend, ConstView<T> x, ConstView<T> w, ConstView<T> dy, const ConvTranspose3dParams& p,
                  Layout layout, double sentinel) {
    UpGrads<T> r{sentinel_tensor<T>(dy.shape(), sentinel, layout),
                 sentinel_tensor<T>(x.shape(), sentinel, layout), sentinel_tensor<T>(w.shape(), sentinel)};
    conv_transpose3d_forward(backend, x, w, r.y, p);
    conv_transpose3d_backward(backend, x, w, dy, r.dx, r.dw, p);
    return r;
}

template <class T>
using ReferenceT = std::conditional_t<std::is_same_v<T, bfloat16>, float, T>;

template <class T>
void check_grads(const UpGrads<T>& actual, const UpGrads<ReferenceT<T>>& expected, double rtol,
                 const std::string& name) {
    check_close(actual.y.view(), expected.y.view(), rtol, name + ": y");
    check_close(actual.dx.view(), expected.dx.view(), rtol, name + ": dx");
    check_close(actual.dw.view(), expected.dw.view(), rtol, name + ": dw");
}

}  // namespace

TEST_CASE("conv_transpose3d backward matches float64 central differences (reference)") {
    for (const Index3 k : {Index3{2, 2, 2}, Index3{3, 3, 3}, Index3{1, 2, 2}}) {
        const ConvTranspose3dParams p{.stride = {k.d == 1 ? 1 : 2, 2, 2}};
        const Shape xs{2, 3, 3, 4, 2}, ws{3, 2, k.d, k.h, k.w};
        const Shape ys = conv_transpose3d_output_shape(xs, ws, p);  // (2,2,Do,Ho,Wo)
        Tensor<double> x = random_tensor<double>(xs, 1), w = random_tensor<double>(ws, 2);
        Tensor<double> r = random_tensor<double>(ys, 3), y(ys), dx(xs), dw(ws);
        auto loss = [&] {
            conv_transpose3d_forward(reference, x, w, y, p);
            return weighted_sum(y, r);
        };
        const Tensor<double> nx = numeric_gradient(x, loss), nw = numeric_gradient(w, loss);
        conv_transpose3d_backward(reference, x, w, r, dx, dw, p);
        const std::string name = "kernel " + detail::concat(k) + " stride " + detail::concat(p.stride);
        check_close(dx.view(), nx.view(), 1e-7, name + ": dx vs central differences");
        check_close(dw.view(), nw.view(), 1e-7, name + ": dw vs central differences");
    }
}

TEST_CASE_TEMPLATE("conv_transpose3d cpu matches the reference", T, float, bfloat16) {
    using R = ReferenceT<T>;
    for (const UpCase& c : cases())
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const std::string name = c.name + " " + to_string(dtype_v<T>) + " " + to_string(layout);
            const auto x = random_tensor<T>(c.x, 10, layout),
                       w = random_tensor<T>(c.w(), 11, Layout::contiguous, -0.3, 0.3);
            const auto dy = random_tensor<T>(c.y(), 12, layout);
            const auto expected = run_up<R>(reference, to<R>(x), to<R>(w), to<R>(dy), c.p, layout, 1e30);
            check_grads(run_up<T>(cpu, x, w, dy, c.p, layout, -1e30), expected, default_rtol<T>(), name);
        }
}

TEST_CASE_TEMPLATE("conv_transpose3d cpu writes into a channel range (a decoder's concat buffer)", T, float,
                   bfloat16) {
    using R = ReferenceT<T>;
    const auto x = random_tensor<T>({1, 64, 3, 5, 4}, 20, Layout::channels_last);
    const auto w = random_tensor<T>({64, 32, 2, 2, 2}, 21, Layout::contiguous, -0.3, 0.3);
    const auto dy_big = random_tensor<T>({1, 64, 6, 10, 8}, 22, Layout::channels_last);
    const auto dy = dy_big.narrow(1, 0, 32);  // the upsampled half of the concat's gradient
    Tensor<T> cat = sentinel_tensor<T>({1, 64, 6, 10, 8}, -1e30, Layout::channels_last);
    const auto y = cat.narrow(1, 0, 32);  // (1,32,6,10,8)
    Tensor<T> dx({1, 64, 3, 5, 4}, Layout::channels_last), dw({64, 32, 2, 2, 2});
    conv_transpose3d_forward(cpu, x, w, y, {});
    conv_transpose3d_backward(cpu, x, w, dy, dx, dw, {});
    const auto expected =
        run_up<R>(reference, to<R>(x.view()), to<R>(w.view()), to<R>(dy), {}, Layout::contiguous, 1e30);
    check_grads(UpGrads<T>{clone(y), std::move(dx), std::move(dw)}, expected, default_rtol<T>(),
                "channel range");
    CHECK(float_of(cat(0, 32, 5, 9, 7)) == float_of(T(-1e30)));  // the skip half stays untouched
}

TEST_CASE_TEMPLATE("conv_transpose3d cpu uses weights changed in place, not a cached reorder", T, float,
                   bfloat16) {
    // The forward reads the (Ci,Co,k...) weight through a dimension-swapped view and keeps its
    // reorder (onednn_weight_cache.hpp); the backward of the overlapping case does too.
    using R = ReferenceT<T>;
    for (const UpCase& c : {cases()[0], cases()[3]}) {
        const auto x = random_tensor<T>(c.x, 50, Layout::channels_last);
        const auto dy = random_tensor<T>(c.y(), 51, Layout::channels_last);
        Tensor<T> w = random_tensor<T>(c.w(), 52, Layout::contiguous, -0.3, 0.3);
        for (int step = 0; step < 3; ++step) {
            if (step == 2) w(1, 2, 0, 1, 1) = T(float_of(w(1, 2, 0, 1, 1)) + 0.5);  // in place
            const auto actual = run_up<T>(cpu, x, w, dy, c.p, Layout::channels_last, -1e30);
            const auto expected =
                run_up<R>(reference, to<R>(x.view()), to<R>(w.view()), to<R>(dy.view()), c.p, Layout::contiguous, 1e30);
            check_grads(actual, expected, default_rtol<T>(), c.name + ", step " + std::to_string(step));
        }
    }
}

TEST_CASE_TEMPLATE("conv_transpose3d Grad::accumulate adds into dw", T, float, bfloat16) {
    const UpCase c{"32->3 k2 s2", {2, 32, 4, 3, 5}, 3, {2, 2, 2}, {}};
    const auto x = random_tensor<T>(c.x, 30, Layout::channels_last), w = random_tensor<T>(c.w(), 31);
    const auto dy = random_tensor<T>(c.y(), 32, Layout::channels_last), dw0 = random_tensor<T>(c.w(), 33);
    auto check_backend = [&](auto backend) {
        Tensor<T> dw = clone(dw0.view()), dw1(c.w());
        conv_transpose3d_backward(backend, x, w, dy, {}, dw1, c.p);
        conv_transpose3d_backward(backend, x, w, dy, {}, dw, c.p, Grad::accumulate);
        Tensor<float> sum = to<float>(dw0.view());
        for (Index i = 0; i < sum.numel(); ++i) sum.data()[i] += float(dw1.data()[i]);
        check_close(dw.view(), sum.view(), default_rtol<T>(), std::string(decltype(backend)::name) + ": dw");
    };
    check_backend(reference);
    check_backend(cpu);
}

TEST_CASE_TEMPLATE("conv_transpose3d cpu matches PyTorch", T, float, bfloat16) {
    const Fixture fx(fixture_path("conv_transpose3d.fix"));
    const std::string tag = std::is_same_v<T, float> ? "f32" : "bf16";
    for (const auto& c : fx.meta()["cases"]) {
        const std::string n = c["name"];
        const auto s = c["stride"].get<std::vector<Index>>();
        const ConvTranspose3dParams p{.stride = {s[0], s[1], s[2]}};
        for (Layout layout : {Layout::contiguous, Layout::channels_last}) {
            const auto x = to<T>(fx.tensor<T>(n + "_x").view(), layout),
                       dy = to<T>(fx.tensor<T>(n + "_dy").view(), layout);
            const auto w = fx.tensor<T>(n + "_w");
            const UpGrads<float> expected{fx.tensor<float>(n + "_y_" + tag),
                                          fx.tensor<float>(n + "_dx_" + tag),
                                          fx.tensor<float>(n + "_dw_" + tag)};
            check_grads(run_up<T>(cpu, x, w, dy, p, layout, -1e30), expected, default_rtol<T>(),
                        n + " " + tag + " " + to_string(layout));
        }
    }
}

TEST_CASE("conv_transpose3d cpu runs the backward of kernel == stride on channels-last input as matmuls") {
    // nnU-Net's upsampling; the other cases above (overlapping kernel, contiguous x) stay deconvolutions.
    const auto x = random_tensor<float>({1, 64, 4, 3, 2}, 40, Layout::channels_last);
    const auto w = random_tensor<float>({64, 32, 2, 2, 2}, 41);
    const auto dy = random_tensor<float>({1, 32, 8, 6, 4}, 42, Layout::channels_last);
    Tensor<float> y(dy.shape(), Layout::channels_last), dx(x.shape(), Layout::channels_last), dw(w.shape());
    conv_transpose3d_forward(cpu, x, w, y, {});
    conv_transpose3d_backward(cpu, x, w, dy, dx, dw, {});
    const std::string x_text = " x " + backend::onednn::describe(x.view()) + " ";
    int matmul = 0;
    for (const std::string& entry : backend::onednn::PrimitiveCache::instance().implementations())
        matmul += entry.rfind("conv_transpose3d_backward matmul", 0) == 0 &&
                  entry.find(x_text) != std::string::npos;
    CHECK(matmul == 1);
    const auto expected =
        run_up<float>(reference, x.view(), w.view(), dy.view(), {}, Layout::channels_last, 1e30);
    check_grads(UpGrads<float>{std::move(y), std::move(dx), std::move(dw)}, expected, default_rtol<float>(),
                "matmul path");
}

// The matmul backward runs in blocks of rows of x's planes, each thread its own: here two blocks per
// plane (H = 160 rows of 4 KB of gathered dy, 80 fit a block), and then more threads than blocks,
// so that the first thread has none.
TEST_CASE_TEMPLATE("conv_transpose3d cpu: the matmul backward in several blocks per plane, and with idle threads", T,
                   float, bfloat16) {
    using R = ReferenceT<T>;
    const UpCase c{"64->32 k2 s2, tall", {1, 64, 2, 160, 4}, 32, {2, 2, 2}, {}};
    const auto x = random_tensor<T>(c.x, 60, Layout::channels_last);
    const auto w = random_tensor<T>(c.w(), 61, Layout::contiguous, -0.3, 0.3);
    const auto dy = random_tensor<T>(c.y(), 62, Layout::channels_last);
    const auto expected = run_up<R>(reference, to<R>(x), to<R>(w), to<R>(dy), c.p, Layout::channels_last, 1e30);
    const int threads = thread_count();
    for (int n : {threads, 7}) {
        set_thread_count(n);
        check_grads(run_up<T>(cpu, x, w, dy, c.p, Layout::channels_last, -1e30), expected, default_rtol<T>(),
                    c.name + " on " + std::to_string(n) + " threads");
    }
    set_thread_count(threads);
}

TEST_CASE("conv_transpose3d: oneDNN runs no reference kernel for the cases above") {
    const bool fast_bf16 = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
    int checked = 0;
    for (const std::string& entry : backend::onednn::PrimitiveCache::instance().implementations()) {
        if (entry.rfind("conv_transpose3d", 0) != 0 ||
            (!fast_bf16 && entry.find("bfloat16") != std::string::npos))
            continue;
        INFO(entry);
        CHECK(entry.find("ref:") == std::string::npos);
        ++checked;
    }
    CHECK(checked > 0);
}

TEST_CASE("conv_transpose3d rejects bad arguments with clear messages") {
    // Views over one dummy element: the checks throw before any element is read (a null data
    // pointer would mean "absent", the empty view `{}`).
    static float dummy = 0;
    auto view = [](const Shape& s) { return TensorView<const float>(&dummy, s); };
    auto out = [](const Shape& s) { return TensorView<float>(&dummy, s); };
    CHECK_THROWS_WITH_AS(conv_transpose3d_forward(cpu, view({1, 64, 4, 4, 4}), view({32, 32, 2, 2, 2}),
                                                  out({1, 32, 8, 8, 8}), {}),
                         doctest::Contains("conv_transpose3d_forward: input (1,64,4,4,4) and weight "
                                           "(32,32,2,2,2) disagree on C_in (64 vs 32)"),
                         Error);
    CHECK_THROWS_WITH_AS(
        conv_transpose3d_forward(cpu, view({64, 4, 4, 4}), view({64, 32, 2, 2, 2}), out({1, 32, 8, 8, 8}),
                                 {}),
        doctest::Contains(
            "conv_transpose3d_forward: input (64,4,4,4) and weight (64,32,2,2,2) must be (N,C_in,D,H,W)"),
        Error);
    CHECK_THROWS_WITH_AS(
        conv_transpose3d_forward(cpu, view({1, 64, 4, 4, 4}), view({64, 32, 2, 2, 2}), out({1, 32, 8, 8, 9}),
                                 {}),
        doctest::Contains("conv_transpose3d_forward: output (1,32,8,8,9) should be (1,32,8,8,8)"), Error);
    CHECK_THROWS_WITH_AS(
        conv_transpose3d_output_shape({1, 64, 4, 4, 4}, {64, 32, 2, 2, 2}, {.stride = {2, 0, 2}}),
        doctest::Contains("conv_transpose3d_output_shape: stride (2,0,2) must be >= 1"), Error);
    CHECK_THROWS_WITH_AS(
        conv_transpose3d_backward(cpu, view({1, 64, 4, 4, 4}), view({64, 32, 2, 2, 2}),
                                  view({1, 32, 8, 8, 8}), out({1, 64, 4, 4, 3}), out({64, 32, 2, 2, 2}), {}),
        doctest::Contains(
            "conv_transpose3d_backward: dx (1,64,4,4,3) should be the input's shape (1,64,4,4,4)"),
        Error);
}
