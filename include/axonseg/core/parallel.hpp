// Threading for the CPU backend: OpenMP, the runtime oneDNN is built with on Debian, so our loops
// and oneDNN's share one thread pool. Static scheduling keeps results deterministic for a fixed
// thread count (each thread always owns the same index range, so reductions add in one order).
#pragma once

#include "axonseg/core/shape.hpp"

#include <omp.h>

#include <algorithm>

namespace axonseg {

inline int thread_count() { return omp_get_max_threads(); }
inline void set_thread_count(int n) { omp_set_num_threads(n > 0 ? n : 1); }

// Calls fn(i) for i in [begin, end), split into equal contiguous ranges, one per thread.
template <class Fn>
void parallel_for(Index begin, Index end, Fn&& fn) {
#pragma omp parallel for schedule(static)
    for (Index i = begin; i < end; ++i) fn(i);
}

// Calls fn(chunk_begin, chunk_end, thread) once per thread over equal contiguous ranges.
template <class Fn>
void parallel_chunks(Index begin, Index end, Fn&& fn) {
#pragma omp parallel
    {
        const Index t = omp_get_thread_num(), n = omp_get_num_threads();
        const Index total = end - begin;
        const Index b = begin + total * t / n, e = begin + total * (t + 1) / n;
        if (b < e) fn(b, e, int(t));
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
