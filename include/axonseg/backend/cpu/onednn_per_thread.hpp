// Loops of many small oneDNN GEMMs that add into one fp32 sum (the weight gradients built chunk by
// chunk), run with each thread working through its own share of the items with single-threaded
// primitives, into its own partial sum, rather than with every primitive split across the threads.
// Why: split primitives meet at a barrier twice per item, and on this shared virtual machine a
// thread that is descheduled stalls the other at every one (the split loops swung between 66% and
// 45% of the FMA peak from one minute to the next); a thread's own items also keep their operands
// in its own L2 cache rather than in the L3 shared with the machine's neighbours.
#pragma once

#include "axonseg/backend/cpu/onednn.hpp"
#include "axonseg/core/parallel.hpp"

namespace axonseg::backend::onednn {

// The bytes of one item's largest operand (a patch matrix, a gathered block of dy): half of this
// CPU's 1 MiB L2 cache per core, leaving room for the GEMM's other operands.
inline constexpr Index k_item_bytes = Index(512) << 10;

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

// Calls fn(run, item, thread, first) for the items [0, count), each thread its equal contiguous
// share in order (first: the thread's first item, which overwrites its partial sum), `run` an
// Execution (own scratchpad) per thread. Deterministic for a fixed thread count.
template <class Fn>
void for_each_item_per_thread(Index count, const std::string& context, Fn&& fn) {
    parallel_chunks(0, count, [&](Index begin, Index end, int thread) {
        Execution run(context);
        for (Index item = begin; item < end; ++item) fn(run, item, thread, item == begin);
        run.finish();
    });
}

// The total of the (threads, n) partial sums of a for_each_item_per_thread over `count` items,
// added in thread order into the first thread that had items; returns that thread's row.
inline float* total_of_partials(Tensor<float>& partials, Index count) {
    const int threads = int(partials.dim(0));
    const Index n = partials.dim(1);
    std::vector<float*> rows;  // the rows of the threads that had items
    for (int t = 0; t < threads; ++t) {
        const auto [b, e] = thread_range(0, count, t, threads);
        if (b < e) rows.push_back(partials.data() + t * n);
    }
    AXONSEG_CHECK(!rows.empty(), "total_of_partials: no items");
    parallel_chunks(0, n, [&](Index b, Index e, int) {
        for (std::size_t r = 1; r < rows.size(); ++r)
            for (Index i = b; i < e; ++i) rows[0][i] += rows[r][i];
    });
    return rows[0];
}

}  // namespace axonseg::backend::onednn
