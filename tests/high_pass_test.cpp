// The rough annotation's high-pass response: bit for bit against real cv2 (the original's label,
// fixture high_pass.fix, and cv2 on every slice for BlurPlane::yx; its cases "order" and
// "order_yx" have 512 voxels whose label changes with the order of OpenCV's roundings, in the zy
// and the yx plane), the zy kernel and the 3-d blur
// against plain loops, the zy kernel's float64 fallback (volumes whose blur is near integers),
// strided input, bad arguments, and the time on the brain example's 600 x 600 slices.
#include "support/checks.hpp"
#include "support/fixture.hpp"

#include "axonseg/io/slice_folder.hpp"
#include "axonseg/prep/high_pass.hpp"

#include <chrono>
#include <random>

using namespace axonseg;
using namespace axonseg::prep;

namespace {

Index count_differences(ConstView<std::uint16_t> a, ConstView<std::uint16_t> b) {
    REQUIRE(a.shape() == b.shape());
    Index n = 0;
    for (Index z = 0; z < a.dim(0); ++z)
        for (Index y = 0; y < a.dim(1); ++y)
            for (Index x = 0; x < a.dim(2); ++x) n += a(z, y, x) != b(z, y, x);
    return n;
}

// The 3 x 3 x 3 response with plain loops: separable Gaussian (the same kernel), reflect-101.
Tensor<std::uint16_t> response_3d_plain(ConstView<std::uint16_t> cube) {
    const double side = prep::detail::k_gauss3_side, centre = prep::detail::k_gauss3_centre;
    const auto blur = [&](const Tensor<double>& in, int axis) {
        Tensor<double> out(in.shape());  // (D,H,W)
        const Index n = in.dim(axis);
        for (Index z = 0; z < in.dim(0); ++z)
            for (Index y = 0; y < in.dim(1); ++y)
                for (Index x = 0; x < in.dim(2); ++x) {
                    std::array<Index, 3> i{z, y, x}, p = i, q = i;
                    p[axis] = n == 1 ? i[axis] : (i[axis] == 0 ? 1 : i[axis] - 1);
                    q[axis] = n == 1 ? i[axis] : (i[axis] == n - 1 ? n - 2 : i[axis] + 1);
                    const double w = n == 1 ? 0 : side;
                    out(z, y, x) = (n == 1 ? 1 : centre) * in(z, y, x) + w * (in(p[0], p[1], p[2]) + in(q[0], q[1], q[2]));
                }
        return out;
    };
    Tensor<double> g(cube.shape());  // (D,H,W)
    for (Index z = 0; z < cube.dim(0); ++z)
        for (Index y = 0; y < cube.dim(1); ++y)
            for (Index x = 0; x < cube.dim(2); ++x) g(z, y, x) = cube(z, y, x);
    g = blur(blur(blur(g, 2), 1), 0);
    Tensor<std::uint16_t> out(cube.shape());  // (D,H,W)
    for (Index z = 0; z < cube.dim(0); ++z)
        for (Index y = 0; y < cube.dim(1); ++y)
            for (Index x = 0; x < cube.dim(2); ++x)
                out(z, y, x) = std::uint16_t(std::max(0.0, double(cube(z, y, x)) - g(z, y, x)));
    return out;
}

Tensor<std::uint16_t> random_cube(const Shape& shape, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> value(0, 65535);
    Tensor<std::uint16_t> t(shape);
    for (Index i = 0; i < t.numel(); ++i) t.data()[i] = std::uint16_t(value(rng));
    return t;
}

TEST_CASE("the kernel is OpenCV's getGaussianKernel(3, 10, CV_64F)") {
    const test::Fixture fx(test::fixture_path("high_pass.fix"));
    const auto k = fx.meta()["kernel"];
    REQUIRE(k.size() == 3);
    CHECK(std::strtod(k[0].get<std::string>().c_str(), nullptr) == prep::detail::k_gauss3_side);
    CHECK(std::strtod(k[1].get<std::string>().c_str(), nullptr) == prep::detail::k_gauss3_centre);
    CHECK(std::strtod(k[2].get<std::string>().c_str(), nullptr) == prep::detail::k_gauss3_side);
}

TEST_CASE("high_pass_response equals cv2 bit for bit (zy: the original's label; yx: cv2 per slice)") {
    const test::Fixture fx(test::fixture_path("high_pass.fix"));
    for (const auto& entry : fx.meta()["cases"]) {
        const std::string name = entry.get<std::string>();
        CAPTURE(name);
        const Tensor<std::uint16_t> in = fx.tensor<std::uint16_t>(name + "_in");
        CHECK(count_differences(high_pass_response(in), fx.tensor<std::uint16_t>(name + "_zy")) == 0);
        CHECK(count_differences(high_pass_response(in, BlurPlane::yx), fx.tensor<std::uint16_t>(name + "_yx")) == 0);
        prep::detail::high_pass_avx512_allowed() = false;  // the generic path, as on a CPU without AVX-512
        CHECK(count_differences(high_pass_response(in), fx.tensor<std::uint16_t>(name + "_zy")) == 0);
        prep::detail::high_pass_avx512_allowed() = true;
    }
}

TEST_CASE("the three planes differ on axons, and the 3-d blur matches plain loops") {
    const test::Fixture fx(test::fixture_path("high_pass.fix"));
    const Tensor<std::uint16_t> in = fx.tensor<std::uint16_t>("axons_in");  // (20,24,28)
    const Tensor<std::uint16_t> zy = high_pass_response(in, BlurPlane::zy);
    const Tensor<std::uint16_t> yx = high_pass_response(in, BlurPlane::yx);
    const Tensor<std::uint16_t> zyx = high_pass_response(in, BlurPlane::zyx);
    CHECK(count_differences(zy, yx) > 0);
    CHECK(count_differences(zy, zyx) > 0);
    // Plain loops round differently, so a value may sit one below or above across an integer.
    const Tensor<std::uint16_t> plain = response_3d_plain(in);
    Index off_by_more = 0;
    for (Index i = 0; i < plain.numel(); ++i) off_by_more += std::abs(int(plain.data()[i]) - int(zyx.data()[i])) > 1;
    CHECK(off_by_more == 0);
    for (const Shape& s : {Shape{1, 1, 1}, Shape{1, 3, 1}, Shape{2, 1, 5}, Shape{3, 2, 2}}) {
        CAPTURE(to_string(s));
        const Tensor<std::uint16_t> c = random_cube(s, 3);
        const Tensor<std::uint16_t> a = high_pass_response(c, BlurPlane::zyx), b = response_3d_plain(c);
        for (Index i = 0; i < a.numel(); ++i) CHECK(std::abs(int(a.data()[i]) - int(b.data()[i])) <= 1);
    }
}

// The zy response voxel by voxel with the generic path's own arithmetic (gauss3_first along y,
// gauss3_second across z, high_pass_value), reflect-101 at every edge: bit-exact by construction.
Tensor<std::uint16_t> response_zy_plain(ConstView<std::uint16_t> cube) {
    const Index D = cube.dim(0), H = cube.dim(1), W = cube.dim(2);
    const auto first = [&](Index z, Index y, Index x) {
        if (H == 1) return double(cube(z, y, x));
        return prep::detail::gauss3_first(cube(z, prep::detail::reflect101_prev(y), x), cube(z, y, x),
                                          cube(z, prep::detail::reflect101_next(y, H), x));
    };
    Tensor<std::uint16_t> out(cube.shape());  // (D,H,W)
    for (Index z = 0; z < D; ++z)
        for (Index y = 0; y < H; ++y)
            for (Index x = 0; x < W; ++x) {
                double g = first(z, y, x);
                if (D > 1) {
                    const double p = first(prep::detail::reflect101_prev(z), y, x), m = g,
                                 n = first(prep::detail::reflect101_next(z, D), y, x);
                    prep::detail::gauss3_second(&p, &m, &n, &g, 1);
                }
                out(z, y, x) = prep::detail::high_pass_value(cube(z, y, x), g);
            }
    return out;
}

}  // namespace

TEST_CASE("the zy response (the AVX-512 kernel where the CPU has it) equals per-voxel loops bit for bit") {
    MESSAGE("fused AVX-512 kernel in use: ", std::string(prep::detail::has_high_pass_avx512() ? "yes" : "no"));
    // Widths around the vectors of 8 and 16 lanes (masked rows under 16, an overlapping last
    // vector above), the fewest slices and rows it takes, and strips of columns (2100 = 3 x 700).
    for (const Shape& s : {Shape{2, 2, 1}, Shape{2, 3, 7}, Shape{3, 2, 8}, Shape{5, 7, 9}, Shape{2, 2, 16},
                           Shape{4, 9, 17}, Shape{3, 4, 31}, Shape{7, 5, 33}, Shape{2, 40, 64}, Shape{3, 5, 2100}}) {
        CAPTURE(to_string(s));
        const Tensor<std::uint16_t> c = random_cube(s, 7);
        CHECK(count_differences(high_pass_response(c), response_zy_plain(c)) == 0);
        prep::detail::high_pass_avx512_allowed() = false;
        CHECK(count_differences(high_pass_response(c), response_zy_plain(c)) == 0);
        prep::detail::high_pass_avx512_allowed() = true;
        const int threads = thread_count();
        set_thread_count(3);
        CHECK(count_differences(high_pass_response(c), response_zy_plain(c)) == 0);
        set_thread_count(threads);
    }
}

// Volumes whose blur lies on or near integers, where the AVX-512 kernel's float32 blur cannot
// tell which side of the integer cv2's lies: constants (their blur is near I itself, where the
// label is 0 on either side, so the kernel must not fall back), linear ramps (the symmetric blur
// keeps them, up to rounding), flat blocks in noise, values that differ by one, and random and
// bright random data (the margin grows with G: these send 1-3% of their voxels to the fallback).
std::vector<std::pair<std::string, Tensor<std::uint16_t>>> near_integer_cubes(const Shape& shape) {
    std::vector<std::pair<std::string, Tensor<std::uint16_t>>> cubes;
    const auto make = [&](const std::string& name, auto value) {
        Tensor<std::uint16_t> t(shape);  // (D,H,W)
        for (Index z = 0; z < shape[0]; ++z)
            for (Index y = 0; y < shape[1]; ++y)
                for (Index x = 0; x < shape[2]; ++x) t(z, y, x) = std::uint16_t(value(z, y, x));
        cubes.emplace_back(name, std::move(t));
    };
    for (int v : {0, 1, 2, 3, 9, 255, 1000, 4097, 32768, 65534, 65535})
        make("constant " + std::to_string(v), [v](Index, Index, Index) { return v; });
    make("ramp z", [](Index z, Index, Index x) { return 100 + 7 * z + x; });
    make("ramp y", [](Index, Index y, Index x) { return 60000 - 3 * y - x; });
    make("ramp zy", [](Index z, Index y, Index) { return 5 * z + 11 * y; });
    std::mt19937_64 rng(17);
    std::uniform_int_distribution<int> bit(0, 1), any(0, 65535);
    make("one apart", [&](Index, Index, Index) { return 40000 + bit(rng); });
    make("blocks in noise", [&](Index z, Index y, Index x) {
        return (z / 2 + y / 3 + x / 4) % 2 == 0 ? 1234 : any(rng);
    });
    make("random", [&](Index, Index, Index) { return any(rng); });
    make("bright noise", [&](Index, Index, Index) { return 60000 + any(rng) % 5536; });
    return cubes;
}

TEST_CASE("the zy kernel's float64 fallback: volumes whose blur is near integers, voxel for voxel") {
    // Widths that leave partial vectors of 16 (7, 17, 33) and whole ones (32), 2 slices or rows.
    for (const Shape& s : {Shape{3, 4, 7}, Shape{5, 6, 17}, Shape{4, 9, 32}, Shape{6, 5, 33}, Shape{2, 3, 18},
                           Shape{3, 2, 20}}) {
        for (const auto& [name, cube] : near_integer_cubes(s)) {
            CAPTURE(to_string(s));
            CAPTURE(name);
            const Tensor<std::uint16_t> fused = high_pass_response(cube);
            prep::detail::high_pass_avx512_allowed() = false;
            const Tensor<std::uint16_t> generic = high_pass_response(cube);
            prep::detail::high_pass_avx512_allowed() = true;
            CHECK(count_differences(fused, generic) == 0);
            CHECK(count_differences(fused, response_zy_plain(cube)) == 0);
        }
    }
#if defined(AXONSEG_HIGH_PASS_AVX512)
    if (!prep::detail::has_high_pass_avx512()) return;
    // The kernel itself on one band: how many voxels it recomputes.
    const auto exact_voxels = [](const Tensor<std::uint16_t>& c) {
        const Index D = c.dim(0), H = c.dim(1), W = c.dim(2);
        std::vector<float> ring(static_cast<std::size_t>(3 * W));
        Tensor<std::uint16_t> out(c.shape());  // (D,H,W)
        return prep::detail::high_pass_zy_band_avx512(c.data(), H * W, W, D, H, W, 0, H, ring.data(), out.data(), W);
    };
    for (const auto& [name, cube] : near_integer_cubes({6, 40, 64})) {
        CAPTURE(name);
        const Index exact = exact_voxels(cube);
        if (name.starts_with("constant")) CHECK(exact == 0);
        if (name == "random" || name == "bright noise") {
            CHECK(exact > cube.numel() / 100);
            CHECK(exact < cube.numel() / 30);
        }
    }
#endif
}

TEST_CASE("high_pass_response reads strided views and does not depend on the thread count") {
    const Tensor<std::uint16_t> big = random_cube({13, 17, 19}, 11);
    const ConstView<std::uint16_t> part = big.box({2, 3, 1}, {9, 11, 15});  // (9,11,15), non-contiguous
    Tensor<std::uint16_t> dense(part.shape());  // (9,11,15)
    copy(part, dense.view());
    for (BlurPlane plane : {BlurPlane::zy, BlurPlane::yx, BlurPlane::zyx}) {
        CAPTURE(int(plane));
        const Tensor<std::uint16_t> a = high_pass_response(part, plane);
        CHECK(a.is_contiguous());
        CHECK(count_differences(a, high_pass_response(dense, plane)) == 0);
        // x not adjacent: the same cube stored (W,H,D) and viewed as (D,H,W).
        Tensor<std::uint16_t> transposed({15, 11, 9});  // (W,H,D)
        for (Index z = 0; z < 9; ++z)
            for (Index y = 0; y < 11; ++y)
                for (Index x = 0; x < 15; ++x) transposed(x, y, z) = dense(z, y, x);
        const ConstView<std::uint16_t> strided_x(transposed.data(), Shape{9, 11, 15}, Strides{1, 9, 99});  // (D,H,W)
        CHECK(count_differences(a, high_pass_response(strided_x, plane)) == 0);
        const int threads = thread_count();
        set_thread_count(3);  // three bands of rows (4, 4, 3): two start inside the slice
        const Tensor<std::uint16_t> b = high_pass_response(dense, plane);
        set_thread_count(threads);
        CHECK(count_differences(a, b) == 0);
    }
}

TEST_CASE("high_pass_response: bad arguments name the operation and the shape") {
    Tensor<std::uint16_t> flat = Tensor<std::uint16_t>::zeros({4, 5});
    CHECK_THROWS_WITH_AS(high_pass_response(flat),
                         doctest::Contains("high_pass_response: the cube must be a (D,H,W) volume, got shape (4,5)"),
                         Error);
}

TEST_CASE("high_pass_response on the brain example's 100 slices of 600 x 600 (time)") {
    const std::filesystem::path data = test::shared_data_dir();
    Tensor<std::uint16_t> volume;
    if (data.empty()) {
        MESSAGE("../shared/data absent: timing a random 100 x 600 x 600 volume instead");
        volume = random_cube({100, 600, 600}, 5);
    } else {
        const io::SliceFolder folder(data / "dlmbmap/brain-example");
        volume = Tensor<std::uint16_t>({folder.depth(), folder.height(), folder.width()});
        folder.read_box(0, 0, 0, volume.view());
    }
#if defined(AXONSEG_HIGH_PASS_AVX512)
    if (prep::detail::has_high_pass_avx512()) {
        // How much of a real volume the zy kernel has to recompute in float64 (one band of all rows).
        const Index D = volume.dim(0), H = volume.dim(1), W = volume.dim(2);
        std::vector<float> ring(static_cast<std::size_t>(3 * W));
        Tensor<std::uint16_t> out(volume.shape());  // (D,H,W)
        const Index exact =
            prep::detail::high_pass_zy_band_avx512(volume.data(), H * W, W, D, H, W, 0, H, ring.data(), out.data(), W);
        MESSAGE("zy kernel: ", exact, " of ", volume.numel(), " voxels (", 100.0 * double(exact) / double(volume.numel()),
                "%) recomputed in float64");
        prep::detail::high_pass_avx512_allowed() = false;
        CHECK(count_differences(out, high_pass_response(volume)) == 0);  // against the generic path
        prep::detail::high_pass_avx512_allowed() = true;
    }
#endif
    high_pass_response(volume);  // the first call pays the page faults of fresh pool memory
    for (BlurPlane plane : {BlurPlane::zy, BlurPlane::yx, BlurPlane::zyx}) {
        const auto start = std::chrono::steady_clock::now();
        const Tensor<std::uint16_t> r = high_pass_response(volume, plane);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        MESSAGE("high_pass_response ", to_string(volume.shape()), " plane ", int(plane), ": ", s * 1e3, " ms, ",
                2.0 * double(volume.numel()) * 2 / s / 1e9, " GB/s (uint16 in + out), ", thread_count(),
                " threads");
        CHECK(r.shape() == volume.shape());
    }
}
