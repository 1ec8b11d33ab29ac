// What axonseg reads and writes in a TIFF: single-channel uint8, uint16 and float32 samples,
// uncompressed or LZW, Deflate or PackBits. Shared by the reader and the writer: the mapping
// between our enums and libtiff's tag values, and the metadata text ImageJ and tifffile leave in
// ImageDescription (tolerated on reading, never needed: the IFDs are the truth).
#pragma once

#include "axonseg/core/dtype.hpp"
#include "axonseg/core/shape.hpp"

#include <tiffio.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>

namespace axonseg::io {

enum class Compression { none, lzw, deflate, packbits };

// The element types a TIFF page can hold here (const-qualified too: writers take views of either).
template <class T>
concept TiffSample =
    std::is_same_v<std::remove_const_t<T>, std::uint8_t> ||
    std::is_same_v<std::remove_const_t<T>, std::uint16_t> || std::is_same_v < std::remove_const_t<T>,
float > ;

inline const char* to_string(Compression c) {
    switch (c) {
        case Compression::none:
            return "none";
        case Compression::lzw:
            return "LZW";
        case Compression::deflate:
            return "Deflate";
        case Compression::packbits:
            return "PackBits";
    }
    return "?";
}

namespace detail {

inline std::uint16_t libtiff_compression(Compression c) {
    switch (c) {
        case Compression::none:
            return COMPRESSION_NONE;
        case Compression::lzw:
            return COMPRESSION_LZW;
        case Compression::deflate:
            return COMPRESSION_ADOBE_DEFLATE;
        case Compression::packbits:
            return COMPRESSION_PACKBITS;
    }
    return COMPRESSION_NONE;
}

// Both Deflate codes are in use: 8 (Adobe, what libtiff and tifffile write) and 32946 (old).
inline std::optional<Compression> compression_from_libtiff(std::uint16_t code) {
    switch (code) {
        case COMPRESSION_NONE:
            return Compression::none;
        case COMPRESSION_LZW:
            return Compression::lzw;
        case COMPRESSION_ADOBE_DEFLATE:
        case COMPRESSION_DEFLATE:
            return Compression::deflate;
        case COMPRESSION_PACKBITS:
            return Compression::packbits;
        default:
            return std::nullopt;
    }
}

struct SampleLayout {
    std::uint16_t bits;    // BitsPerSample
    std::uint16_t format;  // SampleFormat
};

inline SampleLayout sample_layout(DType t) {
    switch (t) {
        case DType::u8:
            return {8, SAMPLEFORMAT_UINT};
        case DType::u16:
            return {16, SAMPLEFORMAT_UINT};
        case DType::f32:
            return {32, SAMPLEFORMAT_IEEEFP};
        default:
            AXONSEG_FAIL("TIFF: ", to_string(t), " samples cannot be written (uint8, uint16, float32 can)");
    }
}

// The DType of a (bits, format) pair, or nullopt with `why` saying what the file holds instead.
inline std::optional<DType> dtype_from_libtiff(std::uint16_t bits, std::uint16_t format, std::string& why) {
    if (format == SAMPLEFORMAT_UINT && bits == 8) return DType::u8;
    if (format == SAMPLEFORMAT_UINT && bits == 16) return DType::u16;
    if (format == SAMPLEFORMAT_IEEEFP && bits == 32) return DType::f32;
    const char* kind = format == SAMPLEFORMAT_UINT     ? "unsigned integer"
                       : format == SAMPLEFORMAT_INT    ? "signed integer"
                       : format == SAMPLEFORMAT_IEEEFP ? "floating-point"
                                                       : "complex or untyped";
    why = std::to_string(bits) + "-bit " + kind + " samples";
    return std::nullopt;
}

// Whether an ImageJ or tifffile description says how many pages to expect (used only to name
// the problem when fewer are found: "ImageJ metadata says 150 images").
inline std::optional<Index> described_page_count(const std::string& description) {
    if (description.rfind("ImageJ=", 0) == 0) {
        const auto at = description.find("\nimages=");
        if (at == std::string::npos) return std::nullopt;
        return Index(std::strtoll(description.c_str() + at + 8, nullptr, 10));
    }
    return std::nullopt;
}

// ImageJ reads its own description's images=N as "N pages stored back to back after the first
// IFD's data", so it is only written where the writer lays pages out that way.
inline std::string imagej_description(Index depth) {
    return "ImageJ=1.11a\nimages=" + std::to_string(depth) + "\nslices=" + std::to_string(depth) +
           "\nloop=false\n";
}

// tifffile's form: the array shape as JSON, which tifffile uses to restore the array shape.
inline std::string tifffile_description(const Shape& shape) {
    std::string s = "{\"shape\": [";
    for (int i = 0; i < shape.rank(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]}";
}

}  // namespace detail
}  // namespace axonseg::io
