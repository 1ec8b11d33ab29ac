// nnU-Net v1's Dice + cross-entropy loss (DC_and_CE_loss, aggregate "sum") with its gradient.
//   p = softmax(logits) over classes; y = one-hot(target)
//   CE   = mean over all voxels of -log p[target]
//   dc   = (2 tp + smooth) / (2 tp + fp + fn + smooth + 1e-8), tp/fp/fn summed over space
//          (per-sample Dice, D-LMBmap's 3d_fullres plan) or over batch and space (batch Dice)
//   Dice = -mean(dc over samples and foreground classes)   (background excluded by default)
//   loss = weight_ce * CE + weight_dice * Dice
// Forward and backward run together: training always needs both, and the backward reuses the
// forward's sums. One implementation serves the reference and the CPU backends: the work is two
// streaming passes over the logits, and the per-thread sums are combined in thread order, so the
// result is deterministic for a thread count.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace axonseg {

struct DiceCeParams {
    bool batch_dice = false;          // false: per-sample Dice (D-LMBmap); true: nnU-Net's 2-d/cascade
    bool include_background = false;  // nnU-Net: do_bg = False
    double smooth = 1e-5;
    double weight_ce = 1.0;
    double weight_dice = 1.0;
};

struct DiceCeValue {
    double loss = 0;  // weight_ce * ce + weight_dice * dice
    double ce = 0;
    double dice = 0;  // the Dice term, -mean(dc): between -1 and 0
};

namespace detail {

// Sums over space (and batch) of p*y, p and y per (sample, class): 2tp + fp + fn = sum p + sum y.
struct DiceSums {
    explicit DiceSums(std::size_t slots) : tp(slots, 0.0), sum_p(slots, 0.0), sum_y(slots, 0.0) {}
    std::vector<double> tp, sum_p, sum_y;  // [n * K + k]
};

}  // namespace detail

// Requires logits (N,K,D,H,W) dense (either layout), K >= 2; target (N,1,D,H,W) of class indices
// 0..K-1; dlogits empty (no gradient wanted) or the shape of logits in the same layout.
// Ensures the loss value; dlogits = scale * d loss / d logits (overwritten), where `scale` is the
// deep-supervision weight of this output.
template <Backend B, Floating T>
DiceCeValue dice_ce_loss(B, Input<T, B> logits, Input<std::uint8_t, B> target, Output<T, B> dlogits,
                         const DiceCeParams& params = {}, double scale = 1.0)
    requires is_host_device<device_of<B>>
{
    const Shape& s = logits.shape();
    AXONSEG_CHECK(s.rank() == 5 && s[1] >= 2, "dice_ce_loss: logits must be (N,K,D,H,W) with K >= 2, got ", s);
    AXONSEG_CHECK(logits.is_dense(), "dice_ce_loss: logits ", s, " must be dense");
    AXONSEG_CHECK(target.rank() == 5 && target.dim(0) == s[0] && target.dim(1) == 1 &&
                      target.dim(2) == s[2] && target.dim(3) == s[3] && target.dim(4) == s[4],
                  "dice_ce_loss: target ", target.shape(), " does not fit logits ", s,
                  " (expected (N,1,D,H,W) of class indices)");
    AXONSEG_CHECK(target.is_contiguous(), "dice_ce_loss: target ", target.shape(), " must be contiguous");
    const bool want_grad = !dlogits.empty();
    if (want_grad)
        AXONSEG_CHECK(dlogits.shape() == s && dlogits.strides() == logits.strides(), "dice_ce_loss: dlogits ",
                      dlogits.shape(), " must match logits ", s, " in shape and layout");

    const Index N = s[0], K = s[1], S = s[2] * s[3] * s[4];
    const Index sn = logits.stride(0), sk = logits.stride(1), sv = logits.stride(4);
    const T* x = logits.data();
    const std::uint8_t* t = target.data();
    constexpr int k_max_classes = 16;
    AXONSEG_CHECK(K <= k_max_classes, "dice_ce_loss: at most ", k_max_classes, " classes, got ", K);

    using C = compute_t<T>;  // float for float and bfloat16, double for gradient tests
    auto softmax_at = [&](Index n, Index v, C* p) {
        const T* base = x + n * sn + v * sv;
        C m = C(base[0]);
        for (Index k = 1; k < K; ++k) m = std::max(m, C(base[k * sk]));
        C sum = 0;
        for (Index k = 0; k < K; ++k) sum += (p[k] = std::exp(C(base[k * sk]) - m));
        const C inv = C(1) / sum;
        for (Index k = 0; k < K; ++k) p[k] *= inv;
        return m + std::log(sum);  // log-sum-exp, for the cross-entropy
    };

    // Pass 1: cross-entropy and Dice sums, per thread, combined in thread order.
    const auto threads = static_cast<std::size_t>(thread_count());
    const auto slots = static_cast<std::size_t>(N * K);
    std::vector<double> ce_part(threads, 0.0);
    std::vector<detail::DiceSums> part(threads, detail::DiceSums(slots));
    bool bad_label = false;
    parallel_segments(N, S, [&](Index n, Index v0, Index v1, int th) {
        detail::DiceSums& d = part[std::size_t(th)];
        C p[k_max_classes];
        double ce = 0;
        for (Index v = v0; v < v1; ++v) {
            const Index label = t[n * S + v];
            if (label >= K) {
                bad_label = true;
                continue;
            }
            const C lse = softmax_at(n, v, p);
            ce += double(lse) - double(C(x[n * sn + v * sv + label * sk]));
            for (Index k = 0; k < K; ++k) d.sum_p[std::size_t(n * K + k)] += p[k];
            d.tp[std::size_t(n * K + label)] += p[label];
            d.sum_y[std::size_t(n * K + label)] += 1.0;
        }
        ce_part[std::size_t(th)] += ce;  // a thread may see pieces of two samples
    });
    AXONSEG_CHECK(!bad_label, "dice_ce_loss: target holds a class index >= K = ", K);

    detail::DiceSums total(slots);
    double ce_sum = 0;
    for (std::size_t th = 0; th < threads; ++th) {
        ce_sum += ce_part[th];
        for (std::size_t i = 0; i < slots; ++i) {
            total.tp[i] += part[th].tp[i];
            total.sum_p[i] += part[th].sum_p[i];
            total.sum_y[i] += part[th].sum_y[i];
        }
    }
    if (params.batch_dice)  // pool the sums over the batch into sample 0's slots
        for (Index n = 1; n < N; ++n)
            for (Index k = 0; k < K; ++k) {
                total.tp[std::size_t(k)] += total.tp[std::size_t(n * K + k)];
                total.sum_p[std::size_t(k)] += total.sum_p[std::size_t(n * K + k)];
                total.sum_y[std::size_t(k)] += total.sum_y[std::size_t(n * K + k)];
            }

    const Index groups = params.batch_dice ? 1 : N, k0 = params.include_background ? 0 : 1;
    const double count = double(groups * (K - k0));
    // dc per (group, class) and d dc / d p_k at a voxel = (2 y_k D - num) / D^2, D = sum p + sum y + smooth + 1e-8.
    std::vector<double> num(slots, 0.0), den(slots, 1.0);
    double dice_sum = 0;
    for (Index g = 0; g < groups; ++g)
        for (Index k = k0; k < K; ++k) {
            const std::size_t i = std::size_t(g * K + k);
            num[i] = 2 * total.tp[i] + params.smooth;
            den[i] = total.sum_p[i] + total.sum_y[i] + params.smooth + 1e-8;
            dice_sum += num[i] / den[i];
        }
    DiceCeValue value;
    value.ce = ce_sum / double(N * S);
    value.dice = -dice_sum / count;
    value.loss = params.weight_ce * value.ce + params.weight_dice * value.dice;
    if (!want_grad) return value;

    // Pass 2: d loss / d logits = p_k (g_k - sum_j p_j g_j), with g = d loss / d p from Dice, plus
    // the cross-entropy's (p - y) / (N S).
    const C ce_scale = C(scale * params.weight_ce / double(N * S));
    const double dice_scale = -scale * params.weight_dice / count;
    T* dx = dlogits.data();
    parallel_segments(N, S, [&](Index n, Index v0, Index v1, int) {
        const Index g = params.batch_dice ? 0 : n;
        C p[k_max_classes], gp[k_max_classes];
        for (Index v = v0; v < v1; ++v) {
            const Index label = t[n * S + v];
            softmax_at(n, v, p);
            C dot = 0;
            for (Index k = 0; k < K; ++k) {
                gp[k] = 0;
                if (k >= k0) {
                    const std::size_t i = std::size_t(g * K + k);
                    const double y = k == label ? 1.0 : 0.0;
                    gp[k] = C(dice_scale * (2 * y * den[i] - num[i]) / (den[i] * den[i]));
                }
                dot += p[k] * gp[k];
            }
            T* out = dx + n * sn + v * sv;
            for (Index k = 0; k < K; ++k)
                out[k * sk] = T(p[k] * (gp[k] - dot) + ce_scale * (p[k] - C(k == label ? 1 : 0)));
        }
    });
    return value;
}

}  // namespace axonseg
