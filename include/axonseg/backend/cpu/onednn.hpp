// Thin oneDNN wrappers for the CPU backend: one engine and stream, status checks that keep the call
// text, memory descriptors from our views, a primitive cache, and the staging of arguments.
// The decision a reader would otherwise get wrong: oneDNN's fast kernels only accept activations
// that are exactly dense in one layout (measured with 2.6: a channel range of a wider tensor, a
// spatial tile, or ncdhw in with ndhwc out all fall to `ref:any`, 100x slower). So a primitive runs
// in the layout the caller's activations already have, views that are dense in it are used in place,
// and only odd views are staged through a pooled dense copy (one reorder, far cheaper than ref).
// Scratchpads and staging buffers come from the HostPool (scratchpad_mode::user), so a call makes
// no oneDNN-internal allocation once its primitives are cached.
#pragma once

#include "axonseg/core/grad.hpp"
#include "axonseg/core/tensor.hpp"

#include <dnnl.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

// Evaluates a oneDNN call; a dnnl::error becomes an axonseg::Error naming `context` (evaluated only
// on failure: the op and its shapes), the call text and oneDNN's message.
#define AXONSEG_DNNL(context, ...)                                                                \
    [&]() -> decltype(auto) {                                                                     \
        try {                                                                                     \
            return __VA_ARGS__;                                                                   \
        } catch (const dnnl::error& dnnl_error) {                                                 \
            AXONSEG_FAIL(context, ": oneDNN call `" #__VA_ARGS__ "` failed: ", dnnl_error.what(), \
                         " (status ", int(dnnl_error.status), ")");                               \
        }                                                                                         \
    }()

namespace axonseg::backend::onednn {

using MemoryDesc = dnnl::memory::desc;
using DataType = dnnl::memory::data_type;
using Args = std::unordered_map<int, dnnl::memory>;

inline const dnnl::engine& engine() {
    static const dnnl::engine e = AXONSEG_DNNL("oneDNN", dnnl::engine(dnnl::engine::kind::cpu, 0));
    return e;
}
// With the OpenMP runtime a CPU stream executes synchronously on the caller's thread, so one stream
// serves every thread.
inline dnnl::stream& stream() {
    static dnnl::stream s = AXONSEG_DNNL("oneDNN", dnnl::stream(engine()));
    return s;
}

// The element types oneDNN computes in here; double goes to the reference loops.
template <class T>
constexpr bool has_data_type = std::is_same_v<std::remove_const_t<T>, float> ||
                               std::is_same_v<std::remove_const_t<T>, bfloat16>;

template <class T>
    requires has_data_type<T>
constexpr DataType data_type_of() {
    return std::is_same_v<std::remove_const_t<T>, float> ? DataType::f32 : DataType::bf16;
}

inline dnnl::memory::dims dims_of(const Index3& v) { return {v.d, v.h, v.w}; }

inline MemoryDesc memory_desc(const Shape& shape, const Strides& strides, DataType type) {
    dnnl::memory::dims d(shape.begin(), shape.end()), s(strides.begin(), strides.begin() + shape.rank());
    return AXONSEG_DNNL(axonseg::detail::concat("memory of shape ", shape), MemoryDesc(d, type, s));
}
// The descriptor of a tensor of this shape dense in `layout`.
inline MemoryDesc dense_desc(const Shape& shape, Layout layout, DataType type) {
    return memory_desc(shape, dense_strides(shape, layout), type);
}
// The descriptor of a view as a primitive running in `layout` should see it: when the view is dense
// in that layout, with the layout's exact strides (dimensions of size 1 have no meaningful stride,
// and oneDNN compares them); otherwise with the view's own strides, which staging will reorder.
template <class T>
MemoryDesc view_desc(TensorView<T> v, Layout layout) {
    return v.has_layout(layout) ? dense_desc(v.shape(), layout, data_type_of<T>())
                                : memory_desc(v.shape(), v.strides(), data_type_of<T>());
}

// The layout a primitive runs its activations in: that of the first view dense in exactly one
// layout (so the caller's choice is kept and nothing is converted per call); views dense in both
// (one channel), in neither, or absent do not decide; channels-last, the fast one, if none decides.
template <class... V>
Layout activation_layout(const V&... views) {
    std::optional<Layout> chosen;
    auto consider = [&](const auto& v) {
        if (chosen || v.rank() < 3) return;
        const bool cl = v.is_channels_last(), c = v.is_contiguous();
        if (cl != c) chosen = cl ? Layout::channels_last : Layout::contiguous;
    };
    (consider(views), ...);
    return chosen.value_or(Layout::channels_last);
}

// A view as text for cache keys and error messages: shape, then strides.
template <class T>
std::string describe(TensorView<T> v) {
    if (v.empty()) return "none";
    std::ostringstream s;
    s << v.shape() << "/[";
    for (int i = 0; i < v.rank(); ++i) s << (i ? "," : "") << v.stride(i);
    s << ']';
    return s.str();
}

// Attributes of every primitive here: a scratchpad we pass in and, with Grad::accumulate, a sum
// post-op (the primitive adds its result into its destination).
inline dnnl::primitive_attr user_scratchpad_attr(Grad mode = Grad::overwrite) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (mode == Grad::accumulate) {
        dnnl::post_ops sum;
        sum.append_sum(1.0f);
        attr.set_post_ops(sum);
    }
    return attr;
}

// A created primitive with what executing it needs.
struct Primitive {
    dnnl::primitive primitive;
    MemoryDesc scratchpad;
    std::string implementation;  // oneDNN's name for the kernel it chose, e.g. "brgconv:avx512_core"

    template <class P>
    static Primitive from(const typename P::primitive_desc& pd) {
        return {P(pd), pd.scratchpad_desc(), pd.impl_info_str()};
    }
};

// Copies `from` into `to` (any strides, any two types); with Grad::accumulate adds into `to`.
inline Primitive make_reorder(const MemoryDesc& from, const MemoryDesc& to, Grad mode,
                              const std::string& context) {
    const dnnl::primitive_attr attr = user_scratchpad_attr(mode);
    return Primitive::from<dnnl::reorder>(
        AXONSEG_DNNL(context, dnnl::reorder::primitive_desc(engine(), from, engine(), to, attr)));
}

// One argument of a primitive: the caller's memory (`user`) and what the primitive reads or writes
// (`inner`). The reorders are present only when the two differ (or when an output accumulates).
struct Operand {
    MemoryDesc user, inner;
    std::optional<Primitive> to_inner, to_user;

    static Operand input(const MemoryDesc& user, const MemoryDesc& inner, const std::string& context) {
        Operand o{user, inner, {}, {}};
        if (user != inner) o.to_inner = make_reorder(user, inner, Grad::overwrite, context);
        return o;
    }
    // oneDNN's primitives only overwrite, so accumulating outputs always go through a buffer.
    static Operand output(const MemoryDesc& user, const MemoryDesc& inner, Grad mode,
                          const std::string& context) {
        Operand o{user, inner, {}, {}};
        if (user != inner || mode == Grad::accumulate) o.to_user = make_reorder(inner, user, mode, context);
        return o;
    }
};

// Primitives created once per op kind, shapes, strides, element types and parameters, and shared
// by every thread (with user scratchpads, executing one primitive concurrently is safe). Entries
// live as long as the process; the key's text also serves as the context of error messages.
class PrimitiveCache {
public:
    static PrimitiveCache& instance() {
        static PrimitiveCache cache;
        return cache;
    }

    // Returns the entry for `key`, creating it with make() the first time. Entry needs
    // `std::string implementations() const` (the kernels it chose, for benchmarks and tests).
    template <class Entry, class Make>
    const Entry& get(const std::string& key, Make&& make) {
        std::lock_guard lock(m_mutex);
        const std::string typed_key = std::string(typeid(Entry).name()) + ' ' + key;
        auto it = m_entries.find(typed_key);
        if (it == m_entries.end()) {
            auto entry = std::make_shared<const Entry>(make());
            it = m_entries.emplace(typed_key, Slot{entry, key + " -> " + entry->implementations()}).first;
        }
        return *static_cast<const Entry*>(it->second.entry.get());
    }

    // "key -> implementations" for every entry created so far.
    std::vector<std::string> implementations() const {
        std::lock_guard lock(m_mutex);
        std::vector<std::string> out;
        for (const auto& [key, slot] : m_entries) out.push_back(slot.description);
        return out;
    }

private:
    struct Slot {
        std::shared_ptr<const void> entry;
        std::string description;
    };
    PrimitiveCache() = default;
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, Slot> m_entries;
};

// One call's execution: stages inputs, hands out the memory outputs go to, runs primitives with a
// pooled scratchpad, and finally writes staged outputs back. Buffers live until it is destroyed;
// the scratchpad is one buffer, grown as needed, that primitives run one after another share (a
// loop of many small primitives, per plane or per chunk, allocates it once).
class Execution {
public:
    explicit Execution(const std::string& context) : m_context(context) {}

    dnnl::memory input(const Operand& o, const void* data) {
        dnnl::memory user = wrap(o.user, const_cast<void*>(data));
        if (!o.to_inner) return user;
        dnnl::memory inner = buffer(o.inner);
        run(*o.to_inner, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, inner}});
        return inner;
    }
    dnnl::memory output(const Operand& o, void* data) {
        dnnl::memory user = wrap(o.user, data);
        if (!o.to_user) return user;
        dnnl::memory inner = buffer(o.inner);
        m_write_back.push_back({&*o.to_user, inner, user});
        return inner;
    }

    void run(const Primitive& p, Args args) {
        const std::size_t bytes = p.scratchpad.get_size();
        if (bytes > 0) {
            if (Index(bytes) > m_scratch.numel()) m_scratch = Tensor<std::uint8_t>(Shape{Index(bytes)});
            args[DNNL_ARG_SCRATCHPAD] = wrap(p.scratchpad, m_scratch.data());
        }
        AXONSEG_DNNL(m_context, p.primitive.execute(stream(), args));
    }

    // Keeps `owner` (the memory `data` lies in) alive until this execution is destroyed.
    dnnl::memory keep(std::shared_ptr<const void> owner, const MemoryDesc& md, const void* data) {
        m_kept.push_back(std::move(owner));
        return wrap(md, data);
    }
    dnnl::memory wrap(const MemoryDesc& md, const void* data) {
        return AXONSEG_DNNL(m_context, dnnl::memory(md, engine(), const_cast<void*>(data)));
    }

    // Writes the staged outputs into the caller's views and waits for the stream.
    void finish() {
        for (const auto& w : m_write_back) run(*w.reorder, {{DNNL_ARG_FROM, w.inner}, {DNNL_ARG_TO, w.user}});
        m_write_back.clear();
        AXONSEG_DNNL(m_context, stream().wait());
    }

private:
    dnnl::memory buffer(const MemoryDesc& md) {
        m_buffers.emplace_back(Shape{Index(md.get_size())});
        return wrap(md, m_buffers.back().data());
    }

    struct WriteBack {
        const Primitive* reorder;
        dnnl::memory inner, user;
    };
    const std::string& m_context;
    std::vector<Tensor<std::uint8_t>> m_buffers;  // (bytes) each
    Tensor<std::uint8_t> m_scratch;               // (bytes) the shared scratchpad
    std::vector<WriteBack> m_write_back;
    std::vector<std::shared_ptr<const void>> m_kept;
};

}  // namespace axonseg::backend::onednn
