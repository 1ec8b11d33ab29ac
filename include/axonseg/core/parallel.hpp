// Threading for the CPU backend: OpenMP, the runtime oneDNN is built with on Debian, so our loops
// and oneDNN's share one thread pool. Static scheduling keeps results deterministic for a fixed
// thread count (each thread always owns the same index range, so reductions add in one order).
#pragma once

#include "axonseg/core/shape.hpp"

#include <omp.h>

#include <algorithm>
#include <utility>

namespace axonseg {

inline int thread_count() { return omp_get_max_threads(); }
inline void set_thread_count(int n) { omp_set_num_threads(n > 0 ? n : 1); }

// Calls fn(i) for i in [begin, end), split into equal contiguous ranges, one per thread.
template <class Fn>
void parallel_for(Index begin, Index end, Fn&& fn) {
#pragma omp parallel for schedule(static)
    for (Index i = begin; i < end; ++i) fn(i);
}

// Thread t's share of [begin, end) among n threads: equal contiguous ranges, in thread order
// (empty for some threads when there are fewer items than threads).
inline std::pair<Index, Index> thread_range(Index begin, Index end, int t, int n) {
    const Index total = end - begin;
    return {begin + total * t / n, begin + total * (t + 1) / n};
}

// Calls fn(chunk_begin, chunk_end, thread) once per thread over equal contiguous ranges.
template <class Fn>
void parallel_chunks(Index begin, Index end, Fn&& fn) {
#pragma omp parallel
    {
        const auto [b, e] = thread_range(begin, end, omp_get_thread_num(), omp_get_num_threads());
        if (b < e) fn(b, e, omp_get_thread_num());
    }
}

// Calls fn(group, begin, end, thread) for the pieces of each thread's equal share of
// [0, groups * group_len), cut where a group ends (begin, end count from the group's start).
// Reductions keyed by group (per-sample statistics, say) stay balanced however few groups there are.
template <class Fn>
void parallel_segments(Index groups, Index group_len, Fn&& fn) {
    if (group_len <= 0) return;
    parallel_chunks(0, groups * group_len, [&](Index b, Index e, int t) {
        for (Index i = b; i < e;) {
            const Index g = i / group_len, q0 = i - g * group_len;
            const Index q1 = std::min(group_len, q0 + (e - i));
            fn(g, q0, q1, t);
            i += q1 - q0;
        }
    });
}

}  // namespace axonseg
