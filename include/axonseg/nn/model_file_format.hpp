// The byte layout of axonseg's model files (docs/formats.md): a 40-byte header (magic, format
// version, lengths, CRC-32), JSON metadata with a table of the tensors, then the raw little-endian
// fp32 tensors at 64-byte aligned offsets. What the JSON means lives in nn/model_file.hpp.
// The decision a reader would otherwise get wrong: the checksum is verified before any byte is
// interpreted, so a damaged file is reported as damaged, never as odd JSON or a wrong shape; only
// the magic and the format version are read first, because a newer format may checksum otherwise.
// Files are written through io::AtomicFile: a failed save leaves the old file as it was.
#pragma once

#include "axonseg/core/tensor.hpp"
#include "axonseg/io/atomic_file.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace axonseg::nn {

// NB: tensors are written as the host holds them; the format says little-endian.
static_assert(std::endian::native == std::endian::little, "the model file stores host floats as little-endian");

inline constexpr std::array<char, 8> k_model_magic = {'A', 'X', 'O', 'N', 'S', 'E', 'G', '\0'};
inline constexpr std::uint32_t k_model_format = 1;        // the newest format this build reads and writes
inline constexpr std::uint32_t k_model_header_bytes = 40;
inline constexpr std::uint64_t k_model_alignment = 64;    // of the data section and of every tensor
inline constexpr std::size_t k_model_crc_at = 32;         // the CRC field, the one range it skips

// A tensor as stored: its name (a parameter's state-dict key, or "optimizer.<state>.<key>").
struct StoredTensor {
    std::string name;
    Tensor<float> value;  // contiguous
};

// A tensor to be written, not copied.
struct NamedView {
    std::string name;
    TensorView<const float> value;
};

// A whole file: the metadata JSON (with its "tensors" table) and the tensors in table order.
struct ModelFile {
    std::filesystem::path path;
    nlohmann::json meta;
    std::vector<StoredTensor> tensors;
};

namespace detail {

inline std::uint64_t align_up(std::uint64_t n) {
    return (n + k_model_alignment - 1) / k_model_alignment * k_model_alignment;
}

template <class U>
void put_le(unsigned char* at, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) at[i] = static_cast<unsigned char>(v >> (8 * i));
}
template <class U>
U get_le(const unsigned char* at) {
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v |= U(at[i]) << (8 * i);
    return v;
}

// zlib's CRC-32 fed in pieces; zlib takes at most a uInt per call.
class Crc32 {
public:
    void add(const void* data, std::size_t n) {
        const auto* p = static_cast<const Bytef*>(data);
        while (n > 0) {
            const uInt chunk = uInt(std::min<std::size_t>(n, 1u << 30));
            m_crc = ::crc32(m_crc, p, chunk);
            p += chunk;
            n -= chunk;
        }
    }
    std::uint32_t value() const { return std::uint32_t(m_crc); }

private:
    uLong m_crc = ::crc32(0L, Z_NULL, 0);
};

// The header fields after the magic (offsets 8..40, little-endian).
struct ModelHeader {
    std::uint32_t format = k_model_format;          // @8
    std::uint32_t header_bytes = k_model_header_bytes;  // @12
    std::uint64_t metadata_bytes = 0;               // @16
    std::uint64_t data_bytes = 0;                   // @24
    std::uint32_t crc = 0;                          // @32, over the file without these 4 bytes
                                                    // @36: 4 reserved zero bytes
    std::uint64_t data_offset() const { return align_up(std::uint64_t(header_bytes) + metadata_bytes); }
    std::uint64_t file_bytes() const { return data_offset() + data_bytes; }
};

inline std::array<unsigned char, k_model_header_bytes> encode(const ModelHeader& h) {
    std::array<unsigned char, k_model_header_bytes> b{};
    std::memcpy(b.data(), k_model_magic.data(), 8);
    put_le(b.data() + 8, h.format);
    put_le(b.data() + 12, h.header_bytes);
    put_le(b.data() + 16, h.metadata_bytes);
    put_le(b.data() + 24, h.data_bytes);
    put_le(b.data() + 32, h.crc);
    return b;
}

inline std::string hex(std::uint32_t v) {
    char buf[11];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// What a file that is not ours probably is, for the error message.
inline std::string describe_foreign(const unsigned char* b, std::size_t n) {
    auto starts = [&](std::string_view sig) {
        return n >= sig.size() && std::memcmp(b, sig.data(), sig.size()) == 0;
    };
    if (starts("\x89PNG\r\n\x1a\n")) return "a PNG image";
    if (starts("PK\x03\x04")) return "a zip archive, such as a PyTorch .pth or .model file";
    if (starts("\x80\x02") || starts("\x80\x04")) return "a Python pickle, such as an old PyTorch file";
    if (starts("II*") || starts("MM\0*")) return "a TIFF image";
    std::string hex = "its first bytes are";
    static constexpr char k_digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < std::min<std::size_t>(n, 8); ++i) {
        hex += ' ';
        hex += k_digits[b[i] >> 4];
        hex += k_digits[b[i] & 15];
    }
    return n == 0 ? std::string("it is empty") : hex;
}

}  // namespace detail

// Writes `meta` (a JSON object; its "tensors" entry is replaced by the table) and the tensors, in
// the given order, to `path` atomically. Requires contiguous fp32 tensors with distinct names.
inline void write_model_file(const std::filesystem::path& path, nlohmann::json meta,
                             std::span<const NamedView> tensors) {
    const std::string where = path.string();
    nlohmann::json table = nlohmann::json::array();
    std::vector<std::uint64_t> offsets;  // relative to the data section
    std::uint64_t offset = 0;
    for (const NamedView& t : tensors) {
        AXONSEG_CHECK(t.value.is_contiguous(), where, ": tensor '", t.name, "' ", t.value.shape(),
                      " must be contiguous to be saved");
        const std::uint64_t bytes = std::uint64_t(t.value.numel()) * sizeof(float);
        table.push_back({{"name", t.name},
                         {"dtype", to_string(DType::f32)},
                         {"shape", std::vector<Index>(t.value.shape().begin(), t.value.shape().end())},
                         {"offset", offset},
                         {"bytes", bytes}});
        offsets.push_back(offset);
        offset = detail::align_up(offset + bytes);
    }
    meta["tensors"] = std::move(table);
    const std::string text = meta.dump(1);  // one space per level: readable with `head -c`
    detail::ModelHeader header{.metadata_bytes = text.size(), .data_bytes = offset};

    io::AtomicFile file(path);
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    detail::Crc32 crc;
    std::uint64_t written = 0;
    auto put = [&](const void* data, std::size_t n) {
        out.write(static_cast<const char*>(data), std::streamsize(n));
        crc.add(data, n);
        written += n;
    };
    const std::array<char, k_model_alignment> zeros{};
    auto pad_to = [&](std::uint64_t at) { put(zeros.data(), std::size_t(at - written)); };

    const auto head = detail::encode(header);  // CRC field still 0
    out.write(reinterpret_cast<const char*>(head.data()), head.size());
    crc.add(head.data(), k_model_crc_at);
    crc.add(head.data() + k_model_crc_at + 4, head.size() - k_model_crc_at - 4);
    written = head.size();
    put(text.data(), text.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        pad_to(header.data_offset() + offsets[i]);
        put(tensors[i].value.data(), std::size_t(tensors[i].value.numel()) * sizeof(float));
    }
    pad_to(header.file_bytes());
    std::array<unsigned char, 4> crc_bytes{};
    detail::put_le(crc_bytes.data(), crc.value());
    out.seekp(std::streamoff(k_model_crc_at));
    out.write(reinterpret_cast<const char*>(crc_bytes.data()), 4);
    out.close();
    AXONSEG_CHECK(!out.fail(), where, ": cannot write the model file (", std::strerror(errno), ")");
    file.commit();
}

// Reads and checks a whole file: its magic, format version, length and checksum, then the JSON
// and its tensor table. Throws axonseg::Error naming the file for each way a file can be wrong.
inline ModelFile read_model_file(const std::filesystem::path& path) {
    const std::string where = path.string();
    std::ifstream in(path, std::ios::binary);
    AXONSEG_CHECK(in.is_open(), where, ": cannot open the model file (", std::strerror(errno), ")");
    AXONSEG_CHECK(std::filesystem::is_regular_file(path), where, ": not a model file but a directory or device");
    const std::uint64_t size = std::filesystem::file_size(path);
    std::array<unsigned char, k_model_header_bytes> b{};
    in.read(reinterpret_cast<char*>(b.data()), std::streamsize(std::min<std::uint64_t>(size, b.size())));
    const std::size_t got = std::size_t(std::min<std::uint64_t>(size, b.size()));

    const bool magic_prefix = std::memcmp(b.data(), k_model_magic.data(), std::min<std::size_t>(got, 8)) == 0;
    AXONSEG_CHECK(magic_prefix && got > 0, where, ": not an axonseg model file (",
                  detail::describe_foreign(b.data(), got), ")");
    AXONSEG_CHECK(got == b.size(), where, ": truncated: ", size, " bytes, less than the ", b.size(),
                  "-byte header");
    detail::ModelHeader h{.format = detail::get_le<std::uint32_t>(b.data() + 8),
                          .header_bytes = detail::get_le<std::uint32_t>(b.data() + 12),
                          .metadata_bytes = detail::get_le<std::uint64_t>(b.data() + 16),
                          .data_bytes = detail::get_le<std::uint64_t>(b.data() + 24),
                          .crc = detail::get_le<std::uint32_t>(b.data() + 32)};
    AXONSEG_CHECK(h.format <= k_model_format, where, ": written by a newer axonseg (format ", h.format,
                  ", this build reads up to ", k_model_format, ")");
    AXONSEG_CHECK(h.format >= 1 && h.header_bytes == k_model_header_bytes, where, ": damaged header (format ",
                  h.format, ", header length ", h.header_bytes, "; format 1 has a ", k_model_header_bytes,
                  "-byte header)");
    // Lengths beyond the file are reported before adding them up, which could overflow.
    const bool fits = h.metadata_bytes <= size && h.data_bytes <= size;
    AXONSEG_CHECK(fits && size >= h.file_bytes(), where, ": truncated: the header promises ",
                  fits ? h.file_bytes() : std::max(h.metadata_bytes, h.data_bytes), " bytes, the file has ", size);
    AXONSEG_CHECK(size == h.file_bytes(), where, ": damaged: ", size - h.file_bytes(),
                  " bytes after the end the header gives");

    detail::Crc32 crc;
    crc.add(b.data(), k_model_crc_at);
    crc.add(b.data() + k_model_crc_at + 4, b.size() - k_model_crc_at - 4);
    std::vector<char> chunk(std::size_t(1) << 20);
    for (std::uint64_t left = size - b.size(); left > 0;) {
        const std::size_t n = std::size_t(std::min<std::uint64_t>(left, chunk.size()));
        in.read(chunk.data(), std::streamsize(n));
        AXONSEG_CHECK(in.good(), where, ": read error (", std::strerror(errno), ")");
        crc.add(chunk.data(), n);
        left -= n;
    }
    AXONSEG_CHECK(crc.value() == h.crc, where, ": checksum mismatch (crc32 ", detail::hex(crc.value()),
                  ", the header says ", detail::hex(h.crc), "): the file is damaged");

    ModelFile file{.path = path, .meta = {}, .tensors = {}};
    std::string text(std::size_t(h.metadata_bytes), '\0');
    in.seekg(std::streamoff(h.header_bytes));
    in.read(text.data(), std::streamsize(text.size()));
    try {
        file.meta = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        AXONSEG_FAIL(where, ": the metadata is not valid JSON (", e.what(), ")");
    }
    try {
        for (const nlohmann::json& entry : file.meta.at("tensors")) {
            const std::string name = entry.at("name").get<std::string>();
            const std::string dtype = entry.at("dtype").get<std::string>();
            AXONSEG_CHECK(dtype == to_string(DType::f32), where, ": tensor '", name, "' has dtype ", dtype,
                          "; format 1 stores float32");
            const Shape shape = Shape::from(entry.at("shape").get<std::vector<Index>>());
            const auto offset = entry.at("offset").get<std::uint64_t>(), bytes = entry.at("bytes").get<std::uint64_t>();
            AXONSEG_CHECK(offset % k_model_alignment == 0 && bytes == std::uint64_t(shape.numel()) * sizeof(float) &&
                              offset <= h.data_bytes && bytes <= h.data_bytes - offset,
                          where, ": invalid metadata: tensor '", name, "' ", shape, " at offset ", offset, " with ",
                          bytes, " bytes does not fit the ", h.data_bytes, "-byte data section");
            StoredTensor& t = file.tensors.emplace_back(StoredTensor{name, Tensor<float>(shape)});
            in.seekg(std::streamoff(h.data_offset() + offset));
            in.read(reinterpret_cast<char*>(t.value.data()), std::streamsize(bytes));
            AXONSEG_CHECK(in.good(), where, ": read error (", std::strerror(errno), ")");
        }
    } catch (const nlohmann::json::exception& e) {
        AXONSEG_FAIL(where, ": invalid metadata (", e.what(), ")");
    }
    return file;
}

}  // namespace axonseg::nn
