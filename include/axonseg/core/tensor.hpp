// Tensor<T, D>: an owning, 64-byte aligned, strided array of rank <= 5 on device D, and
// TensorView<T, D>: the same without ownership (a sub-box for a tile, a channel range), never a copy.
// The logical order is PyTorch's NCDHW; the physical order is in the strides (Layout::channels_last
// = NDHWC), so code that indexes t(n, c, d, h, w) is right for every layout, and fast paths ask
// is_channels_last() / is_contiguous() before they take a shortcut.
// Operators take views (TensorView<const T> for inputs); a Tensor converts to one implicitly.
#pragma once

#include "axonseg/core/device.hpp"
#include "axonseg/core/dtype.hpp"
#include "axonseg/core/error.hpp"
#include "axonseg/core/memory.hpp"
#include "axonseg/core/shape.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace axonseg {

template <Element T, Device D = Cpu>
class TensorView {
public:
    using value_type = T;
    using device = D;

    TensorView() = default;
    TensorView(T* data, const Shape& shape, const Strides& strides)
        : m_data(data), m_shape(shape), m_strides(strides) {}
    TensorView(T* data, const Shape& shape, Layout layout = Layout::contiguous)
        : m_data(data), m_shape(shape), m_strides(dense_strides(shape, layout)) {}

    // A view of mutable elements is also a view of const ones.
    operator TensorView<const T, D>() const  // NOLINT: implicit, like T* -> const T*
        requires(!std::is_const_v<T>)
    {
        return {m_data, m_shape, m_strides};
    }

    T* data() const { return m_data; }
    const Shape& shape() const { return m_shape; }
    const Strides& strides() const { return m_strides; }
    int rank() const { return m_shape.rank(); }
    Index dim(int i) const { return m_shape[i]; }
    Index stride(int i) const { return m_strides[i]; }
    Index numel() const { return m_shape.numel(); }
    // True for a default view `{}` (null data: "absent" or "not wanted" in operator calls) and for
    // a view of zero elements.
    bool empty() const { return m_data == nullptr || numel() == 0; }

    bool has_layout(Layout layout) const {
        for (int i = 0; i < rank(); ++i)
            if (m_shape[i] > 1 && m_strides[i] != dense_strides(m_shape, layout)[i]) return false;
        return true;
    }
    bool is_contiguous() const { return has_layout(Layout::contiguous); }
    bool is_channels_last() const { return rank() >= 3 && has_layout(Layout::channels_last); }
    // Elements fill one gap-free block (true for both dense layouts).
    bool is_dense() const { return is_contiguous() || is_channels_last(); }

    // Host element access in logical order; the number of indices must equal the rank.
    template <class... I>
    T& operator()(I... idx) const
        requires(is_host_device<D> && sizeof...(I) <= k_max_rank)
    {
        const std::array<Index, sizeof...(I)> i{Index(idx)...};
        Index off = 0;
        for (std::size_t k = 0; k < i.size(); ++k) off += i[k] * m_strides[k];
        return m_data[off];
    }
    Index offset_of(const std::array<Index, k_max_rank>& idx) const {
        Index off = 0;
        for (int k = 0; k < rank(); ++k) off += idx[k] * m_strides[k];
        return off;
    }

    // The part [start, start + length) of dimension `dim` (a channel range is narrow(1, c0, n)).
    TensorView narrow(int dim, Index start, Index length) const {
        AXONSEG_CHECK(dim >= 0 && dim < rank(), "narrow: dimension ", dim, " of a rank-", rank(),
                      " tensor ", m_shape);
        AXONSEG_CHECK(start >= 0 && length >= 0 && start + length <= m_shape[dim], "narrow: range [",
                      start, ", ", start + length, ") outside dimension ", dim, " of ", m_shape);
        TensorView v = *this;
        v.m_data = m_data + start * m_strides[dim];
        v.m_shape[dim] = length;
        return v;
    }

    // The sub-box starting at `begin` with extent `size`, one entry per dimension.
    TensorView box(std::initializer_list<Index> begin, std::initializer_list<Index> size) const {
        AXONSEG_CHECK(int(begin.size()) == rank() && int(size.size()) == rank(), "box: a rank-",
                      rank(), " tensor ", m_shape, " needs ", rank(), " begins and sizes, got ",
                      begin.size(), " and ", size.size());
        TensorView v = *this;
        for (int i = 0; i < rank(); ++i) {
            const Index b = begin.begin()[i], s = size.begin()[i];
            AXONSEG_CHECK(b >= 0 && s >= 0 && b + s <= m_shape[i], "box: [", b, ", ", b + s,
                          ") leaves dimension ", i, " of ", m_shape);
            v = v.narrow(i, b, s);
        }
        return v;
    }

private:
    T* m_data = nullptr;
    Shape m_shape;
    Strides m_strides{};
};

// An owning tensor is also a view of its own elements (so operators deduce T from it). Like a
// view it is shallow-const: constness of the Tensor object does not protect its elements.
template <Element T, Device D = Cpu>
class Tensor : public TensorView<T, D> {
public:
    Tensor() = default;
    // Uninitialised elements (the memory may be reused from the pool).
    explicit Tensor(const Shape& shape, Layout layout = Layout::contiguous)
        : Tensor(Buffer<T, D>(std::size_t(shape.numel())), shape, layout) {}
    static Tensor zeros(const Shape& shape, Layout layout = Layout::contiguous) {
        return full(shape, T(0), layout);
    }
    static Tensor full(const Shape& shape, T value, Layout layout = Layout::contiguous);

    Tensor(Tensor&& o) noexcept
        : TensorView<T, D>(std::exchange(static_cast<TensorView<T, D>&>(o), {})),
          m_buffer(std::move(o.m_buffer)), m_layout(o.m_layout) {}
    Tensor& operator=(Tensor&& o) noexcept {
        static_cast<TensorView<T, D>&>(*this) = std::exchange(static_cast<TensorView<T, D>&>(o), {});
        m_buffer = std::move(o.m_buffer);
        m_layout = o.m_layout;
        return *this;
    }

    TensorView<T, D> view() const { return *this; }
    Layout layout() const { return m_layout; }

private:
    Tensor(Buffer<T, D> buffer, const Shape& shape, Layout layout)
        : TensorView<T, D>(buffer.data(), shape, dense_strides(shape, layout)),
          m_buffer(std::move(buffer)), m_layout(layout) {
        AXONSEG_CHECK(layout == Layout::contiguous || shape.rank() >= 3, "Tensor: channels_last "
                      "needs rank >= 3, shape is ", shape);
    }

    Buffer<T, D> m_buffer;
    Layout m_layout = Layout::contiguous;
};

template <class T, Device D = Cpu>
using ConstView = TensorView<const T, D>;

// Parameter types of operator entry points: T is deduced from the outputs (mutable views or
// tensors), inputs accept a view or tensor of T or const T on the backend's device.
template <class T, Backend B>
using Output = TensorView<T, device_of<B>>;
template <class T, Backend B>
using Input = TensorView<const std::type_identity_t<T>, device_of<B>>;

// The dense layout every non-empty view has, if they share one, so a fast path can index them all
// with one offset formula. Contiguous wins where both describe the memory order (C = 1, say).
template <class... V>
std::optional<Layout> common_dense_layout(const V&... views) {
    for (Layout layout : {Layout::contiguous, Layout::channels_last})
        if (((views.empty() || views.has_layout(layout)) && ...)) return layout;
    return std::nullopt;
}

// ---- element loops over any strides (host) -------------------------------------------------------

// Calls fn(offset_0, offset_1, ...) for every logical index of `shape` (last dimension innermost),
// with the element offsets of tensors of that shape having the given strides.
template <class Fn, class... S>
void for_each_offsets(const Shape& shape, Fn&& fn, const S&... strides) {
    constexpr std::size_t n = sizeof...(S);
    const std::array<const Strides*, n> in{&strides...};
    std::array<Index, k_max_rank> dims{1, 1, 1, 1, 1};
    std::array<std::array<Index, k_max_rank>, n> st{};
    const int r = shape.rank(), pad = k_max_rank - r;
    for (int i = 0; i < r; ++i) {
        dims[pad + i] = shape[i];
        for (std::size_t t = 0; t < n; ++t) st[t][pad + i] = (*in[t])[i];
    }
    if (shape.numel() == 0) return;
    std::array<Index, n> off{};
    for (Index i0 = 0; i0 < dims[0]; ++i0)
        for (Index i1 = 0; i1 < dims[1]; ++i1)
            for (Index i2 = 0; i2 < dims[2]; ++i2)
                for (Index i3 = 0; i3 < dims[3]; ++i3) {
                    for (std::size_t t = 0; t < n; ++t)
                        off[t] = i0 * st[t][0] + i1 * st[t][1] + i2 * st[t][2] + i3 * st[t][3];
                    for (Index i4 = 0; i4 < dims[4]; ++i4) {
                        std::apply(fn, off);
                        for (std::size_t t = 0; t < n; ++t) off[t] += st[t][4];
                    }
                }
}

// ---- fill, copy, convert --------------------------------------------------------------------------

template <class T, Device D>
void fill(TensorView<T, D> t, T value) {
    if constexpr (is_host_device<D>) {
        if (t.is_dense()) {
            std::fill(t.data(), t.data() + t.numel(), value);
            return;
        }
        for_each_offsets(t.shape(), [&](Index o) { t.data()[o] = value; }, t.strides());
    } else {
        AXONSEG_CHECK(t.is_dense(), "fill: a ", D::name, " tensor ", t.shape(), " must be dense");
        unsigned long long pattern = 0;
        std::memcpy(&pattern, &value, sizeof(T));
        cuda_fill(t.data(), std::size_t(t.numel()), sizeof(T), pattern);
    }
}

template <Element T, Device D>
Tensor<T, D> Tensor<T, D>::full(const Shape& shape, T value, Layout layout) {
    Tensor t(shape, layout);
    fill(t.view(), value);
    return t;
}

// Copies src into dst element by element (same shape; element types may differ on the host, where
// the conversion rounds and saturates as convert_element does). Between devices both views must be
// dense with equal strides, as a raw memory copy needs.
template <class S, Device DS, class T, Device DT>
void copy(TensorView<const S, DS> src, TensorView<T, DT> dst) {
    AXONSEG_CHECK(src.shape() == dst.shape(), "copy: source ", src.shape(), " and destination ",
                  dst.shape(), " differ in shape");
    if constexpr (is_host_device<DS> && is_host_device<DT>) {
        for_each_offsets(
            src.shape(),
            [&](Index a, Index b) { dst.data()[b] = convert_element<T>(src.data()[a]); },
            src.strides(), dst.strides());
    } else {
        static_assert(std::is_same_v<S, T>, "copy between devices needs equal element types");
        AXONSEG_CHECK(src.is_dense() && dst.is_dense() && src.strides() == dst.strides(),
                      "copy: a copy between ", DS::name, " and ", DT::name,
                      " needs dense tensors of one layout, shape ", src.shape());
        const CopyKind kind = is_host_device<DS> ? CopyKind::host_to_device
                              : is_host_device<DT> ? CopyKind::device_to_host
                                                   : CopyKind::device_to_device;
        cuda_copy(dst.data(), src.data(), std::size_t(src.numel()) * sizeof(T), kind);
    }
}
template <class S, Device DS, class T, Device DT>
void copy(TensorView<S, DS> src, TensorView<T, DT> dst) requires(!std::is_const_v<S>) {
    copy(TensorView<const S, DS>(src), dst);
}

// A new dense tensor on device DT with the elements of src converted to To, in `layout`.
// Element types are converted on the host; a move between devices keeps the type.
template <class To, Device DT = Cpu, class From, Device DS>
Tensor<To, DT> to(TensorView<From, DS> src, Layout layout = Layout::contiguous) {
    Tensor<To, DT> out(src.shape(), layout);
    if constexpr (is_host_device<DS> && is_host_device<DT>) {
        copy(TensorView<const From, DS>(src), out.view());
    } else {
        static_assert(std::is_same_v<std::remove_const_t<From>, To>,
                      "to(): convert element types on the host, then move between devices");
        if (src.is_dense() && src.strides() == out.strides()) {
            copy(TensorView<const From, DS>(src), out.view());
        } else if constexpr (is_host_device<DS>) {
            Tensor<To, Cpu> staged = to<To, Cpu>(src, layout);
            copy(staged.view(), out.view());
        } else {
            AXONSEG_FAIL("to: a strided ", DS::name, " view ", src.shape(),
                         " must be made dense on its device before it moves");
        }
    }
    return out;
}
// Keeps the source tensor's layout.
template <class To, Device DT = Cpu, class From, Device DS>
Tensor<To, DT> to(const Tensor<From, DS>& src) {
    return to<To, DT>(src.view(), src.layout());
}

// A dense copy of a view (the same element type and device).
template <class T, Device D>
Tensor<std::remove_const_t<T>, D> clone(TensorView<T, D> src, Layout layout = Layout::contiguous) {
    return to<std::remove_const_t<T>, D>(src, layout);
}

}  // namespace axonseg
