// Loops of many small oneDNN GEMMs that add into one fp32 sum (the weight gradients built chunk by
// chunk), run with each thread working through its own share of the items with single-threaded
// primitives, into its own partial sum, rather than with every primitive split across the threads.
// Why: split primitives meet at a barrier twice per item, and on this shared virtual machine a
// thread that is descheduled stalls the other at every one (the split loops swung between 66% and
// 45% of the FMA peak from one minute to the next); a thread's own items also keep their operands
// in its own L2 cache rather than in the L3 shared with the machine's neighbours. The hand-written
// weight gradient (conv3d_weight_grad_direct.hpp) shares the scheme: run_per_thread,
// total_of_partials and BiasGradSums.
#pragma once

#include "axonseg/backend/cpu/onednn.hpp"
#include "axonseg/core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <vector>

namespace axonseg::backend::onednn {

// The bytes of one item's largest operand (a patch matrix, a gathered block of dy): half of this
// CPU's 1 MiB L2 cache per core, leaving room for the GEMM's other operands.
inline constexpr Index k_item_bytes = Index(512) << 10;

// Rows per item when items are blocks of whole rows of an (h, w) plane and a row of w voxels takes
// w * voxel_bytes of the item's largest operand: the largest divisor of h (so that every item has
// the same shape: one set of primitives) whose block fits k_item_bytes, at least 1.
inline Index rows_per_item(Index h, Index w, Index voxel_bytes) {
    Index best = 1;
    for (Index b = 1; b <= h; ++b)
        if (h % b == 0 && b * w * voxel_bytes <= k_item_bytes) best = b;
    return best;
}

// Creates a primitive for one thread: oneDNN fixes a primitive's split across threads when it
// creates it, so one made with the full thread count would leave work undone when run by a single
// thread inside for_each_item_per_thread.
template <class Make>
auto single_threaded(Make&& make) {
    struct Restore {
        int threads = thread_count();
        ~Restore() { set_thread_count(threads); }
    } restore;
    set_thread_count(1);
    return make();
}

// Calls fn(begin, end, thread) once for each thread of the team that has items: its equal
// contiguous share [begin, end) of [0, count), in thread order; returns the team's size (1 when
// called inside another parallel region), at most thread_count(). An exception in fn is rethrown
// here, after every thread has stopped (one escaping an OpenMP region would end the program).
template <class Fn>
int run_per_thread(Index count, Fn&& fn) {
    std::atomic<int> team{1};
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(thread_count()));
    parallel_chunks(0, count, [&](Index begin, Index end, int thread) {
        team.store(omp_get_num_threads(), std::memory_order_relaxed);
        try {
            fn(begin, end, thread);
        } catch (...) {
            errors[std::size_t(thread)] = std::current_exception();
        }
    });
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
    return team.load();
}

// run_per_thread for loops of oneDNN primitives: calls fn(run, item, thread, first) for each item
// of the thread's share in order (first: the thread's first item, which overwrites its partial
// sum), `run` an Execution (own scratchpad) per thread. Deterministic for a fixed thread count.
template <class Fn>
int for_each_item_per_thread(Index count, const std::string& context, Fn&& fn) {
    return run_per_thread(count, [&](Index begin, Index end, int thread) {
        Execution run(context);
        for (Index item = begin; item < end; ++item) fn(run, item, thread, item == begin);
        run.finish();
    });
}

// The total of the partial sums (rows of `partials`, one per thread) of a run_per_thread
// (or for_each_item_per_thread) over `count` items that ran on `team` threads, added in thread order into the first thread that
// had items; returns that thread's row.
inline float* total_of_partials(Tensor<float>& partials, Index count, int team) {
    const Index n = partials.dim(1);
    std::vector<float*> rows;  // the rows of the threads that had items
    for (int t = 0; t < team; ++t) {
        const auto [b, e] = thread_range(0, count, t, team);
        if (b < e) rows.push_back(partials.data() + t * n);
    }
    AXONSEG_CHECK(!rows.empty(), "total_of_partials: no items");
    parallel_chunks(0, n, [&](Index b, Index e, int) {
        for (std::size_t r = 1; r < rows.size(); ++r)
            for (Index i = b; i < e; ++i) rows[0][i] += rows[r][i];
    });
    return rows[0];
}

// The bias gradient (the sum of dy over voxels) per thread, from the rows of dy (Co channels each,
// adjacent) that the thread's items cover, while they are in its cache; the threads' sums are
// added in thread order. (A double add per element cost a third as much as the direct weight
// gradient's kernel, hence the float blocks.)
class BiasGradSums {
public:
    BiasGradSums(Index channels, bool wanted)
        : m_channels(channels), m_sums(wanted ? std::size_t(thread_count() * channels) : 0, 0.0) {}

    bool wanted() const { return !m_sums.empty(); }

    // Adds `rows` rows of dy, `row_stride` elements apart, to thread `thread`'s sums: blocks of
    // rows summed in float (vectorised), each block's sum added in double.
    template <class T>
    void add(int thread, const T* dy, Index rows, Index row_stride) {
        constexpr Index k_rows = 64, k_channels = 256;  // a block: about 64 values per float sum
        double* sum = m_sums.data() + thread * m_channels;
        for (Index c0 = 0; c0 < m_channels; c0 += k_channels) {
            const Index n = std::min(k_channels, m_channels - c0);
            for (Index r0 = 0; r0 < rows; r0 += k_rows) {
                float part[k_channels] = {};
                for (Index r = r0; r < std::min(rows, r0 + k_rows); ++r) {
                    const T* row = dy + r * row_stride + c0;
#pragma omp simd
                    for (Index c = 0; c < n; ++c) part[c] += float(row[c]);
                }
                for (Index c = 0; c < n; ++c) sum[c0 + c] += double(part[c]);
            }
        }
    }

    // dbias (Co) overwritten or added into per `mode`.
    template <class T>
    void write(TensorView<T> dbias, Grad mode) const {
        for (Index c = 0; c < m_channels; ++c) {
            double total = 0.0;  // in thread order (threads without items add 0)
            for (int t = 0; t < thread_count(); ++t) total += m_sums[std::size_t(t * m_channels + c)];
            T& out = dbias.data()[c * dbias.stride(0)];
            out = T(float(mode == Grad::accumulate ? double(float(out)) + total : total));
        }
    }

private:
    Index m_channels;
    std::vector<double> m_sums;  // (threads, Co)
};

}  // namespace axonseg::backend::onednn
