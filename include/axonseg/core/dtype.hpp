// Element types: float, double (gradient tests), bfloat16 (inference and mixed precision),
// uint8 and uint16 (volumes and masks), int32 (connected-component labels). bfloat16 is our own
// 2-byte type with the same bits as CUDA's __nv_bfloat16 and oneDNN's bf16, so buffers pass
// between them without conversion.
// float -> bfloat16 rounds to nearest even and keeps NaN a NaN (plain truncation would bias sums).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace axonseg {

struct bfloat16 {
    std::uint16_t bits = 0;

    constexpr bfloat16() = default;
    constexpr bfloat16(float f) : bits(round_from(f)) {}  // NOLINT: implicit like a built-in float
    constexpr operator float() const { return std::bit_cast<float>(std::uint32_t(bits) << 16); }

    static constexpr bfloat16 from_bits(std::uint16_t b) {
        bfloat16 v;
        v.bits = b;
        return v;
    }

private:
    static constexpr std::uint16_t round_from(float f) {
        // Branch-free, so that loops converting arrays vectorise (also under `omp simd`).
        const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
        const bool nan = (u & 0x7fffffffu) > 0x7f800000u;  // keep it a (quiet) NaN
        const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        return std::uint16_t(nan ? (u >> 16) | 0x0040u : rounded);
    }
};
static_assert(sizeof(bfloat16) == 2);

enum class DType { f32, f64, bf16, u8, u16, i32 };

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<std::uint16_t> { static constexpr DType value = DType::u16; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::i32; };
template <class T> constexpr DType dtype_v = dtype_of<std::remove_const_t<T>>::value;

constexpr const char* to_string(DType t) {
    switch (t) {
        case DType::f32: return "float32";
        case DType::f64: return "float64";
        case DType::bf16: return "bfloat16";
        case DType::u8: return "uint8";
        case DType::u16: return "uint16";
        case DType::i32: return "int32";
    }
    return "?";
}

template <class T>
concept Element = requires { dtype_of<std::remove_const_t<T>>::value; };

// Floating-point element types the operators compute in.
template <class T>
concept Floating = std::is_same_v<std::remove_const_t<T>, float> ||
                   std::is_same_v<std::remove_const_t<T>, double> ||
                   std::is_same_v<std::remove_const_t<T>, bfloat16>;

// The type arithmetic on T is carried out in: bf16 accumulates in float.
template <class T> struct compute_type { using type = T; };
template <> struct compute_type<bfloat16> { using type = float; };
template <class T> using compute_t = typename compute_type<std::remove_const_t<T>>::type;

// Converts between element types; conversion to an integer type rounds to nearest and saturates
// (NaN becomes 0), which is what writing a probability map or a normalised volume needs.
template <class To, class From>
constexpr To convert_element(From v) {
    if constexpr (std::is_integral_v<To> && !std::is_integral_v<From>) {
        const double x = double(float(v));
        if (!(x == x)) return To(0);
        if (x <= 0) return To(0);
        if (x >= double(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
        return To(x + 0.5);
    } else if constexpr (std::is_same_v<To, bfloat16>) {
        return bfloat16(float(v));
    } else if constexpr (std::is_same_v<From, bfloat16>) {
        return To(float(v));
    } else {
        return To(v);
    }
}

// Relative tolerance for comparing results computed in T against a reference.
template <class T>
constexpr double default_rtol() {
    if constexpr (std::is_same_v<T, double>) return 1e-10;
    else if constexpr (std::is_same_v<T, float>) return 1e-5;
    else return 1e-2;
}

}  // namespace axonseg
