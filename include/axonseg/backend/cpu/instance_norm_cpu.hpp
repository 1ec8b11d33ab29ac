// CPU instance normalisation, plain and fused with LeakyReLU (slope 1 is the plain norm).
// Each direction walks the tensor exactly twice: forward = statistics, then normalise-and-activate;
// backward = the two sums per (n, c), then dx. Both dense layouts run here; each pass splits the
// memory into one equal range per thread (parallel_segments), so a single sample still uses every
// thread, and per-thread partial sums are combined in thread order (deterministic per thread count).
// Sums run in compute_t<T> over blocks of k_norm_block positions, shifted by a sample value against
// cancellation, then in double: a 128^3 float sum stays within ~1e-6 relative. The fp32 backward on
// channels-last has AVX-512 kernels (the generic loops cost more instructions than one core can
// issue at memory speed). Other strides take the reference.
#pragma once

#include "axonseg/backend/reference/instance_norm_ref.hpp"
#include "axonseg/core/parallel.hpp"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace axonseg::backend {

namespace detail {

constexpr Index k_norm_block = 256;  // positions summed in compute_t<T> before the sum goes to double
constexpr Index k_norm_lanes = 256;  // channels-last: the lane count tiling aims for
constexpr Index k_norm_chunk = 64;   // channels-last sums: lanes kept in registers (C divides it)

// A dense (N,C,D,H,W) tensor as groups x positions x lanes (memory order), one slot per (group, lane):
// - contiguous: N*C groups (one channel of one sample) of S positions of one lane;
// - channels-last: N groups of S/R positions of R*C lanes: R consecutive voxels form one row, so the
//   vectorised lane loop is long (a 32-lane loop costs more than the memory it waits for). R is the
//   largest divisor of S with R*C <= k_norm_lanes. Slot n*L + l belongs to statistic n*C + l % C.
struct NormGeometry {
    Index N, C, S, groups, positions, lanes, lane_stats;

    NormGeometry(Index n, Index c, Index s, bool channels_last)
        : N(n), C(c), S(s), groups(n * c), positions(s), lanes(1), lane_stats(1) {
        if (!channels_last) return;
        Index r = std::max<Index>(1, k_norm_lanes / c);
        while (s % r != 0) --r;
        groups = n, positions = s / r, lanes = r * c, lane_stats = c;
    }
    Index slots() const { return groups * lanes; }
    Index stat_of(Index slot) const { return slot / lanes * lane_stats + slot % lanes % lane_stats; }
    // The offset of voxel p (0 <= p < S) of statistic k = n*C + c.
    Index element(Index k, Index p) const {
        return lane_stats == 1 ? k * S + p : (k / C * S + p) * C + k % C;
    }
};

// The mean of up to k_shift_samples voxels spread evenly over statistic k's S voxels.
constexpr Index k_shift_samples = 4096;
template <class A, class T>
double sample_mean(const NormGeometry& g, const T* in, Index k) {
    const Index m = std::min(g.S, k_shift_samples);
    double sum = 0;
    for (Index i = 0; i < m; ++i) sum += double(A(in[g.element(k, i * g.S / m)]));
    return m > 0 ? sum / double(m) : 0.0;
}

// One value per slot from one per statistic.
template <class A>
std::vector<A> per_slot(const NormGeometry& g, const std::vector<double>& per_stat) {
    std::vector<A> out(std::size_t(g.slots()));
    for (Index s = 0; s < g.slots(); ++s) out[s] = A(per_stat[g.stat_of(s)]);
    return out;
}

// Per-thread partial sums of two terms per slot, added per statistic in a fixed order by fold().
struct NormPartials {
    Index slots;
    std::vector<double> first, second;  // [thread][slot]
    explicit NormPartials(const NormGeometry& g)
        : slots(g.slots()), first(std::size_t(thread_count() * slots), 0.0), second(first.size(), 0.0) {}
    void add(int t, Index slot, double a, double b) {
        first[std::size_t(t * slots + slot)] += a;
        second[std::size_t(t * slots + slot)] += b;
    }
    std::pair<std::vector<double>, std::vector<double>> fold(const NormGeometry& g) const {
        std::vector<double> a(std::size_t(g.N * g.C), 0.0), b(a.size(), 0.0);
        for (std::size_t i = 0; i < first.size(); ++i) {
            a[g.stat_of(Index(i) % slots)] += first[i];
            b[g.stat_of(Index(i) % slots)] += second[i];
        }
        return {a, b};
    }
};

// Sums two terms per element into `out`, per slot: f(slot, element, a, b) adds them to a and b.
// f is called from vectorised loops, over the lanes of a position, or (one lane) over a block of
// positions. GCC 12 vectorises neither a loop that loads through an OpenMP closure, hence the
// local copies, nor one that unpacks a returned pair, hence the accumulator arguments.
template <class T, class F>
void norm_sums(const NormGeometry& g, NormPartials& out, F f) {
    using A = compute_t<T>;
    std::vector<A> scratch(std::size_t(thread_count() * 2 * g.lanes));
    parallel_segments(g.groups, g.positions, [&, g](Index grp, Index q0, Index q1, int t) {
        const F fn = f;
        const Index L = g.lanes, P = g.positions;
        A* sa = scratch.data() + std::size_t(t) * 2 * L;  // the block's sums per lane
        A* sb = sa + L;
        for (Index b0 = q0; b0 < q1; b0 += k_norm_block) {
            const Index b1 = std::min(q1, b0 + k_norm_block);
            if (L % k_norm_chunk == 0 && k_norm_chunk % g.lane_stats == 0) {
                // Every k_norm_chunk-lane chunk of a row holds the same channels: sum them all in
                // registers, a pure load stream like the contiguous case (stores to memory sums in
                // the loop cost ~2x: they stall the loads the out-of-order core could run ahead).
                A ra[k_norm_chunk] = {}, rb[k_norm_chunk] = {};
                for (Index q = b0; q < b1; ++q)
                    for (Index j = 0; j < L; j += k_norm_chunk) {
                        const Index base = (grp * P + q) * L + j;
#pragma omp simd
                        for (Index l = 0; l < k_norm_chunk; ++l) fn(grp * L + l, base + l, ra[l], rb[l]);
                    }
                for (Index l = 0; l < k_norm_chunk; ++l) out.add(t, grp * L + l, ra[l], rb[l]);
            } else if (L > 1) {
                std::fill(sa, sa + 2 * L, A(0));
                for (Index q = b0; q < b1; ++q) {
                    const Index base = (grp * P + q) * L;
#pragma omp simd
                    for (Index l = 0; l < L; ++l) fn(grp * L + l, base + l, sa[l], sb[l]);
                }
                for (Index l = 0; l < L; ++l) out.add(t, grp * L + l, sa[l], sb[l]);
            } else {
                A a_sum = 0, b_sum = 0;
                const Index base = grp * P;
#pragma omp simd reduction(+ : a_sum, b_sum)
                for (Index q = b0; q < b1; ++q) fn(grp, base + q, a_sum, b_sum);
                out.add(t, grp, a_sum, b_sum);
            }
        }
    });
}

// Calls f(slot, element) for every element, element being its offset from the data pointer.
template <class F>
void norm_for_each(const NormGeometry& g, F f) {
    parallel_segments(g.groups, g.positions, [&, g](Index grp, Index q0, Index q1, int) {
        const F fn = f;
        const Index L = g.lanes, P = g.positions;
        if (L > 1) {
            for (Index q = q0; q < q1; ++q) {
                const Index base = (grp * P + q) * L;
#pragma omp simd
                for (Index l = 0; l < L; ++l) fn(grp * L + l, base + l);
            }
        } else {
            const Index base = grp * P;
#pragma omp simd
            for (Index q = q0; q < q1; ++q) fn(grp, base + q);
        }
    });
}

// Per-slot mean, rstd * gamma and beta: what normalising (and recomputing the pre-activation) needs.
template <class A>
struct NormCoefficients {
    std::vector<A> mean, scale, beta;
};

template <class A, class T>
NormCoefficients<A> norm_coefficients(const NormGeometry& g, const std::vector<double>& mean,
                                      const std::vector<double>& rstd, ConstView<T> gamma, ConstView<T> beta) {
    const std::vector<double> gam = channel_values<double>(gamma, g.C, 1.0);
    const std::vector<double> bet = channel_values<double>(beta, g.C, 0.0);
    std::vector<double> scale(mean.size()), beta_k(mean.size());
    for (std::size_t k = 0; k < mean.size(); ++k) {
        scale[k] = rstd[k] * gam[k % g.C];
        beta_k[k] = bet[k % g.C];
    }
    return {per_slot<A>(g, mean), per_slot<A>(g, scale), per_slot<A>(g, beta_k)};
}

#ifdef __AVX512F__
// The fp32 channels-last backward written with AVX-512 intrinsics: one core runs out of
// instructions before memory (~40 GB/s per core here) with GCC's code for the generic loops, which
// tests the activation sign twice, reloads dy under a mask and, in the dx pass, reloads six per-slot
// coefficients per vector (it cannot prove dx does not alias them). Here the coefficients of one
// k_norm_avx_lanes-lane chunk stay in registers (every chunk of a row holds the same channels, as
// C divides the chunk) and each vector of 16 elements costs one compare and one masked op for the
// slope. dx goes out with non-temporal stores when large (k_norm_stream_bytes).
constexpr Index k_norm_avx_lanes = 32;  // two vectors; seven coefficients of each fit the registers
constexpr std::size_t k_norm_stream_bytes = std::size_t(64) << 20;  // 2x this machine's L3

inline bool norm_avx_fits(const NormGeometry& g) {
    return g.lanes > 1 && g.lanes % k_norm_avx_lanes == 0 && k_norm_avx_lanes % g.lane_stats == 0;
}

// Loads the coefficient of each of the chunk's lanes, slot grp * L + l for l < k_norm_avx_lanes.
struct NormChunkCoefficient {
    __m512 lo, hi;
    NormChunkCoefficient(const float* per_slot, Index first_slot)
        : lo(_mm512_loadu_ps(per_slot + first_slot)), hi(_mm512_loadu_ps(per_slot + first_slot + 16)) {}
};

// Pass 1 of the backward: sum(dz) and sum(dz * (x - mean)) per slot, dz = dy * (z > 0 ? 1 : slope)
// with z = (x - mean) * scale + beta. Each float accumulator takes k_norm_block terms (rows of L /
// k_norm_avx_lanes chunks each) before its sum goes to double.
// Returns false, doing nothing, unless T is float and the geometry fits (norm_avx_fits).
template <class T, class A = compute_t<T>>
bool norm_backward_sums_avx512(const NormGeometry& g, NormPartials& out, const T* x, const T* dy,
                               const A* mean, const A* scale, const A* beta, A slope) {
    if constexpr (!std::is_same_v<T, float>) {
        return false;
    } else {
        if (!norm_avx_fits(g)) return false;
        parallel_segments(g.groups, g.positions, [&, g](Index grp, Index q0, Index q1, int t) {
            const Index L = g.lanes, P = g.positions;
            const NormChunkCoefficient m(mean, grp * L), sc(scale, grp * L), b(beta, grp * L);
            const __m512 zero = _mm512_setzero_ps(), a = _mm512_set1_ps(slope);
            const Index rows = std::max<Index>(1, k_norm_block * k_norm_avx_lanes / L);
            for (Index b0 = q0; b0 < q1; b0 += rows) {
                const Index b1 = std::min(q1, b0 + rows);
                __m512 dz_lo = zero, dz_hi = zero, dzxc_lo = zero, dzxc_hi = zero;
                auto step = [&](Index e, __m512 mv, __m512 scv, __m512 bv, __m512& sum_dz,
                                __m512& sum_dzxc) {
                    const __m512 xc = _mm512_sub_ps(_mm512_loadu_ps(x + e), mv);
                    const __m512 z = _mm512_fmadd_ps(xc, scv, bv);
                    const __mmask16 neg = _mm512_cmp_ps_mask(z, zero, _CMP_NGT_UQ);
                    const __m512 d = _mm512_loadu_ps(dy + e);
                    const __m512 dz = _mm512_mask_mul_ps(d, neg, d, a);
                    sum_dz = _mm512_add_ps(sum_dz, dz);
                    sum_dzxc = _mm512_fmadd_ps(dz, xc, sum_dzxc);
                };
                for (Index q = b0; q < b1; ++q)
                    for (Index e = (grp * P + q) * L, end = e + L; e < end; e += k_norm_avx_lanes) {
                        step(e, m.lo, sc.lo, b.lo, dz_lo, dzxc_lo);
                        step(e + 16, m.hi, sc.hi, b.hi, dz_hi, dzxc_hi);
                    }
                alignas(64) float sums[2][k_norm_avx_lanes];
                _mm512_store_ps(sums[0], dz_lo), _mm512_store_ps(sums[0] + 16, dz_hi);
                _mm512_store_ps(sums[1], dzxc_lo), _mm512_store_ps(sums[1] + 16, dzxc_hi);
                for (Index l = 0; l < k_norm_avx_lanes; ++l)
                    out.add(t, grp * L + l, sums[0][l], sums[1][l]);
            }
        });
        return true;
    }
}

// Pass 2: dx = dy * (z > 0 ? g : g * slope) + (x - mean) * p + r, per-slot g = gamma rstd, p, r.
// dx may alias dy: each vector of dy is loaded before the same vector of dx is stored.
template <class T, class A = compute_t<T>>
bool norm_backward_dx_avx512(const NormGeometry& g, const T* x, const T* dy, T* dx, const A* mean,
                             const A* scale, const A* beta, const A* gr, const A* p, const A* r, A slope) {
    if constexpr (!std::is_same_v<T, float>) {
        return false;
    } else {
        if (!norm_avx_fits(g)) return false;
        // Aligned, every vector of dx is one cache line (rows start at multiples of L).
        const bool stream = std::size_t(g.slots() * g.positions) * sizeof(float) >= k_norm_stream_bytes &&
                            reinterpret_cast<std::uintptr_t>(dx) % 64 == 0;
        parallel_segments(g.groups, g.positions, [&, g](Index grp, Index q0, Index q1, int) {
            const Index L = g.lanes, P = g.positions;
            const NormChunkCoefficient m(mean, grp * L), sc(scale, grp * L), b(beta, grp * L),
                pv(p, grp * L), rv(r, grp * L), grv(gr, grp * L);
            const __m512 zero = _mm512_setzero_ps(), a = _mm512_set1_ps(slope);
            const __m512 gra_lo = _mm512_mul_ps(grv.lo, a), gra_hi = _mm512_mul_ps(grv.hi, a);
            auto step = [&](Index e, __m512 mv, __m512 scv, __m512 bv, __m512 pv_, __m512 rv_,
                            __m512 g_pos, __m512 g_neg) {
                const __m512 xc = _mm512_sub_ps(_mm512_loadu_ps(x + e), mv);
                const __m512 z = _mm512_fmadd_ps(xc, scv, bv);
                const __mmask16 neg = _mm512_cmp_ps_mask(z, zero, _CMP_NGT_UQ);
                const __m512 gsel = _mm512_mask_blend_ps(neg, g_pos, g_neg);
                const __m512 rest = _mm512_fmadd_ps(xc, pv_, rv_);
                const __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(dy + e), gsel, rest);
                if (stream)
                    _mm512_stream_ps(dx + e, v);
                else
                    _mm512_storeu_ps(dx + e, v);
            };
            for (Index q = q0; q < q1; ++q)
                for (Index e = (grp * P + q) * L, end = e + L; e < end; e += k_norm_avx_lanes) {
                    step(e, m.lo, sc.lo, b.lo, pv.lo, rv.lo, grv.lo, gra_lo);
                    step(e + 16, m.hi, sc.hi, b.hi, pv.hi, rv.hi, grv.hi, gra_hi);
                }
            if (stream) _mm_sfence();  // the streamed dx is visible to whoever reads it after the region
        });
        return true;
    }
}
#else
template <class... Args>
bool norm_backward_sums_avx512(Args&&...) { return false; }
template <class... Args>
bool norm_backward_dx_avx512(Args&&...) { return false; }
#endif

}  // namespace detail

template <class T>
void instance_norm_forward(Cpu, ConstView<T> x, ConstView<T> gamma, ConstView<T> beta, TensorView<T> y,
                           TensorView<compute_t<T>> saved_mean, TensorView<compute_t<T>> saved_rstd,
                           double eps, double slope) {
    const std::optional<Layout> layout = common_dense_layout(x, y);
    if (!layout)
        return instance_norm_forward(reference, x, gamma, beta, y, saved_mean, saved_rstd, eps, slope);
    using A = compute_t<T>;
    const Index N = x.dim(0), C = x.dim(1);
    const detail::NormGeometry g(N, C, x.dim(2) * x.dim(3) * x.dim(4), layout == Layout::channels_last);
    const T* in = x.data();
    T* out = y.data();

    // Pass 1: sums of (x - shift) and its square. The shift must lie near the mean, or the float
    // block sums lose the variance to cancellation: one voxel is not enough (in a U-Net the first
    // voxel is a zero-padded corner, far from the mean), so it is the mean of an even sample.
    std::vector<double> shift(std::size_t(N * C));
    for (Index k = 0; k < N * C; ++k) shift[k] = detail::sample_mean<A>(g, in, k);
    const std::vector<A> shift_slot = detail::per_slot<A>(g, shift);
    const A* sh = shift_slot.data();
    detail::NormPartials partials(g);
    detail::norm_sums<T>(g, partials, [=](Index s, Index i, A& sum, A& sum_sq) {
        const A d = A(in[i]) - sh[s];
        sum += d;
        sum_sq += d * d;
    });
    const auto [sum, sum_sq] = partials.fold(g);
    std::vector<double> mean(shift.size()), rstd(shift.size());
    for (Index k = 0; k < N * C; ++k) {
        const double m = sum[k] / double(g.S);
        mean[k] = shift[k] + m;
        rstd[k] = 1.0 / std::sqrt(std::max(sum_sq[k] / double(g.S) - m * m, 0.0) + eps);
        if (!saved_mean.empty()) saved_mean(k / C, k % C) = A(mean[k]);
        if (!saved_rstd.empty()) saved_rstd(k / C, k % C) = A(rstd[k]);
    }

    // Pass 2: normalise and activate (in place is fine: each element is read before it is written).
    const auto co = detail::norm_coefficients<A>(g, mean, rstd, gamma, beta);
    const A* m = co.mean.data();
    const A* sc = co.scale.data();
    const A* b = co.beta.data();
    const A a = A(slope);
    detail::norm_for_each(g, [=](Index s, Index i) {
        const A z = (A(in[i]) - m[s]) * sc[s] + b[s];
        out[i] = T(z > 0 ? z : z * a);
    });
}

// See the reference for the formulas; dx = dz * (gamma rstd) + (x - mean) * p + r per (n, c), with
// p = -gamma rstd^3 sum(dz (x - mean)) / S and r = -gamma rstd sum(dz) / S.
template <class T>
void instance_norm_backward(Cpu, ConstView<T> x, ConstView<T> gamma, ConstView<T> beta,
                            ConstView<compute_t<T>> saved_mean, ConstView<compute_t<T>> saved_rstd,
                            ConstView<T> dy, TensorView<T> dx, TensorView<T> dgamma, TensorView<T> dbeta,
                            double slope, Grad mode) {
    const std::optional<Layout> layout = common_dense_layout(x, dy, dx);
    if (!layout)
        return instance_norm_backward(reference, x, gamma, beta, saved_mean, saved_rstd, dy, dx, dgamma,
                                      dbeta, slope, mode);
    using A = compute_t<T>;
    const Index N = x.dim(0), C = x.dim(1);
    const detail::NormGeometry g(N, C, x.dim(2) * x.dim(3) * x.dim(4), layout == Layout::channels_last);
    std::vector<double> mean(std::size_t(N * C)), rstd(mean.size());
    for (Index k = 0; k < N * C; ++k) {
        mean[k] = saved_mean(k / C, k % C);
        rstd[k] = saved_rstd(k / C, k % C);
    }
    const auto co = detail::norm_coefficients<A>(g, mean, rstd, gamma, beta);
    const T* in = x.data();
    const T* grad = dy.data();
    const A* m = co.mean.data();
    const A* sc = co.scale.data();
    const A* b = co.beta.data();
    const A a = A(slope);
    // dz from the pre-activation's sign, recomputed from xc = x - mean.
    auto dz_of = [=](Index s, Index i, A xc) {
        const A z = xc * sc[s] + b[s], d = A(grad[i]);
        return z > 0 ? d : d * a;
    };

    // Pass 1: sum(dz) and sum(dz * (x - mean)) per (n, c).
    detail::NormPartials partials(g);
    if (!detail::norm_backward_sums_avx512(g, partials, in, grad, m, sc, b, a))
        detail::norm_sums<T>(g, partials, [=](Index s, Index i, A& sum_dz, A& sum_dz_xc) {
            const A xc = A(in[i]) - m[s], dz = dz_of(s, i, xc);
            sum_dz += dz;
            sum_dz_xc += dz * xc;
        });
    const auto [sum_dz, sum_dz_xc] = partials.fold(g);
    const std::vector<double> gam = channel_values<double>(gamma, C, 1.0);
    std::vector<double> dgamma_c(std::size_t(C), 0.0), dbeta_c(std::size_t(C), 0.0);
    std::vector<double> gr(mean.size()), p(mean.size()), r(mean.size());
    for (Index k = 0; k < N * C; ++k) {
        dgamma_c[k % C] += rstd[k] * sum_dz_xc[k];
        dbeta_c[k % C] += sum_dz[k];
        gr[k] = gam[k % C] * rstd[k];
        p[k] = -gr[k] * rstd[k] * rstd[k] * sum_dz_xc[k] / double(g.S);
        r[k] = -gr[k] * sum_dz[k] / double(g.S);
    }
    store_channel_grad(dgamma, dgamma_c, mode);
    store_channel_grad(dbeta, dbeta_c, mode);
    if (dx.empty()) return;

    // Pass 2: dx (may alias dy: each element's dy is read before its dx is written).
    T* out = dx.data();
    const std::vector<A> gr_slot = detail::per_slot<A>(g, gr), p_slot = detail::per_slot<A>(g, p),
                         r_slot = detail::per_slot<A>(g, r);
    const A* grs = gr_slot.data();
    const A* ps = p_slot.data();
    const A* rs = r_slot.data();
    if (detail::norm_backward_dx_avx512(g, in, grad, out, m, sc, b, grs, ps, rs, a)) return;
    detail::norm_for_each(g, [=](Index s, Index i) {
        const A xc = A(in[i]) - m[s], dz = dz_of(s, i, xc);
        out[i] = T(dz * grs[s] + xc * ps[s] + rs[s]);
    });
}

}  // namespace axonseg::backend
