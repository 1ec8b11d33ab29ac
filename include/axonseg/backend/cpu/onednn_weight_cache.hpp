// Weights already reordered into a oneDNN kernel's blocked format, kept across calls.
// Why: the network stores weights in PyTorch's (Co,Ci,k...) order and the fast kernels want them
// blocked; the reorder runs on every call otherwise. For bf16 it is slow (measured with 2.6: the
// 320->320 3x3x3 weights of the bottleneck take 3.1 ms to reorder, the conv on 8^3 itself 2.6 ms).
// Why a cache cannot go stale: an entry keeps a byte copy (snapshot) of the memory the caller's view
// spans, and is used only while that memory is byte-for-byte equal to it. So weights changed in place
// (an optimiser step, update_working_copy(), a freed tensor whose address is reused) are reordered
// afresh, with no version the caller could forget to bump. Checking costs a compare of the weights'
// bytes (about 0.2 ms for those 5.5 MB of bf16), a fraction of the reorder it saves.
// Weights are cached from their second call with the same bytes; weights that change before every
// call (training) only ever hold a small marker, not two copies.
// Entries are found by the view's address and the two descriptors, evicted least recently used
// beyond capacity(); an entry is immutable once published and held by each call that uses it, so
// threads share entries and eviction never frees memory a running kernel reads.
#pragma once

#include "axonseg/backend/cpu/onednn.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>

namespace axonseg::backend::onednn {

struct WeightCacheStats {
    std::size_t hits = 0, misses = 0;  // calls served from an entry, calls that reordered
    std::size_t entries = 0, bytes = 0;  // held now (markers not counted): snapshots and blocked weights
};

class WeightCache {
public:
    // Bytes: nnU-Net's ~31M weights as fp32 snapshot + blocked copy (250 MB), with room for the
    // backward-data kernels' copies or a bf16 working set beside them.
    static constexpr std::size_t k_default_capacity = std::size_t(512) << 20;

    static WeightCache& instance() {
        static WeightCache cache;
        return cache;
    }

    // The weights of operand `o` (which reorders the caller's layout into the kernel's) for the view
    // at `data` spanning `span_bytes` of memory: the cached blocked copy while that memory is
    // unchanged, otherwise reordered now through `run`, which keeps the result alive until it ends.
    dnnl::memory get(Execution& run, const Operand& o, const void* data, std::size_t span_bytes) {
        const std::shared_ptr<const Entry> found = find(o, data);
        if (found && !found->is_marker() && std::memcmp(found->snapshot.data(), data, span_bytes) == 0) {
            found->reused = true;
            note_hit();
            return run.keep(found, o.inner, found->blocked.data());
        }
        // Weights that change between every two calls (training) would only churn entries and, at
        // the first call, hold two copies of every weight at the step's memory peak. So weights seen
        // for the first time, or whose entry went stale unused, leave only a marker with a hash of
        // their bytes; they are cached once the same bytes come a second time. The hash only
        // decides whether to cache, never what is used.
        if (!found || found->is_marker() || !found->reused) {
            const std::uint64_t hash = fingerprint(data, span_bytes);
            if (!found || !found->is_marker() || found->hash != hash) {
                auto marker = std::make_shared<Entry>();
                marker->data = data, marker->user = o.user, marker->inner = o.inner, marker->hash = hash;
                publish(std::move(marker));
                return run.input(o, data);
            }
        }
        auto entry = std::make_shared<Entry>();
        entry->data = data, entry->user = o.user, entry->inner = o.inner;
        entry->snapshot = Tensor<std::uint8_t>(Shape{Index(span_bytes)});
        entry->blocked = Tensor<std::uint8_t>(Shape{Index(o.inner.get_size())});
        std::memcpy(entry->snapshot.data(), data, span_bytes);
        run.run(*o.to_inner, {{DNNL_ARG_FROM, run.wrap(o.user, data)},
                              {DNNL_ARG_TO, run.wrap(o.inner, entry->blocked.data())}});
        AXONSEG_DNNL("weight cache", stream().wait());  // complete before other threads may read it
        publish(entry);
        return run.keep(entry, o.inner, entry->blocked.data());
    }

    // Drops entries until at most `bytes` are held; later insertions keep to it too.
    void set_capacity(std::size_t bytes) {
        std::lock_guard lock(m_mutex);
        m_capacity = bytes;
        evict();
    }
    std::size_t capacity() const {
        std::lock_guard lock(m_mutex);
        return m_capacity;
    }
    void clear() {
        std::lock_guard lock(m_mutex);
        m_entries.clear();
        m_stats.entries = m_stats.bytes = 0;
    }
    WeightCacheStats stats() const {
        std::lock_guard lock(m_mutex);
        return m_stats;
    }

private:
    // An entry, or a marker (no buffers) for weights seen changing.
    struct Entry {
        const void* data = nullptr;
        MemoryDesc user, inner;
        Tensor<std::uint8_t> snapshot;  // (span bytes) the caller's memory when it was reordered
        Tensor<std::uint8_t> blocked;   // (inner bytes) the weights as the kernel reads them
        std::uint64_t hash = 0;         // a marker's: fingerprint() of the bytes at its last call
        mutable std::atomic<bool> reused{false};
        bool is_marker() const { return blocked.empty(); }
        std::size_t bytes() const { return is_marker() ? 0 : std::size_t(snapshot.numel() + blocked.numel()); }
    };
    static constexpr std::size_t k_max_entries = 4096;  // markers hold no bytes, so a count bounds them

    // A hash of `bytes` bytes at memory speed: four independent multiply chains over 8-byte words.
    static std::uint64_t fingerprint(const void* data, std::size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(data);
        std::uint64_t h[4] = {bytes, 1, 2, 3};
        std::size_t i = 0;
        for (; i + 32 <= bytes; i += 32)
            for (int k = 0; k < 4; ++k) {
                std::uint64_t w;
                std::memcpy(&w, p + i + 8 * k, 8);
                h[k] = (h[k] ^ w) * 0x9E3779B97F4A7C15ull;
                h[k] ^= h[k] >> 29;
            }
        for (; i < bytes; ++i) h[0] = (h[0] ^ p[i]) * 0x100000001B3ull;
        return (h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7)) * 0x9E3779B97F4A7C15ull;
    }

    WeightCache() = default;

    std::shared_ptr<const Entry> find(const Operand& o, const void* data) {
        std::lock_guard lock(m_mutex);
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
            if ((*it)->data == data && (*it)->user == o.user && (*it)->inner == o.inner) {
                m_entries.splice(m_entries.begin(), m_entries, it);  // most recently used first
                return *it;
            }
        return nullptr;
    }
    void note_hit() {
        std::lock_guard lock(m_mutex);
        ++m_stats.hits;
    }
    // Replaces the entry for the same weights, if any, with `entry`.
    void publish(std::shared_ptr<const Entry> entry) {
        std::lock_guard lock(m_mutex);
        ++m_stats.misses;
        m_entries.remove_if([&](const std::shared_ptr<const Entry>& e) {
            const bool same = e->data == entry->data && e->user == entry->user && e->inner == entry->inner;
            if (same) forget(*e);
            return same;
        });
        if (entry->bytes() > m_capacity) return;  // used by this call only
        m_stats.bytes += entry->bytes(), m_stats.entries += !entry->is_marker();
        m_entries.push_front(std::move(entry));
        evict();
    }
    void forget(const Entry& e) { m_stats.bytes -= e.bytes(), m_stats.entries -= !e.is_marker(); }
    void evict() {
        while (m_stats.bytes > m_capacity || m_entries.size() > k_max_entries) {
            forget(*m_entries.back());
            m_entries.pop_back();
        }
    }

    mutable std::mutex m_mutex;
    std::list<std::shared_ptr<const Entry>> m_entries;  // most recently used first
    std::size_t m_capacity = k_default_capacity;
    WeightCacheStats m_stats;
};

// The bytes from a view's first element to its last; 0 when some stride is negative (not cached).
template <class T>
std::size_t span_bytes(ConstView<T> v) {
    Index last = 0;
    for (int i = 0; i < v.rank(); ++i) {
        if (v.stride(i) < 0) return 0;
        last += (v.dim(i) - 1) * v.stride(i);
    }
    return std::size_t(last + 1) * sizeof(T);
}

// The memory a primitive reads weights from: the caller's view itself when the kernel reads that
// layout, otherwise the cached blocked copy.
template <class T>
dnnl::memory weights_input(Execution& run, const Operand& o, ConstView<T> w) {
    const std::size_t span = span_bytes(w);
    if (!o.to_inner || span == 0) return run.input(o, w.data());
    return WeightCache::instance().get(run, o, w.data(), span);
}

}  // namespace axonseg::backend::onednn
