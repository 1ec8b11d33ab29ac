// Reads the fixture files that tools/fixtures/*.py write with PyTorch.
// Format (little-endian): 8 bytes "AXFIXT01", uint64 header length, a JSON header
//   {"tensors": [{"name", "dtype", "shape", "offset", "nbytes"}], "meta": {...}},
// then the data block; offsets count from the start of the data block, each tensor dense in
// logical (row-major NCDHW) order. dtypes: float32, float64, bfloat16, uint8, uint16, int64.
#pragma once

#include "axonseg/core/tensor.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace axonseg::test {

class Fixture {
public:
    explicit Fixture(const std::filesystem::path& path) : m_path(path) {
        std::ifstream in(path, std::ios::binary);
        AXONSEG_CHECK(in.good(), path.string(), ": cannot open fixture (run tools/fixtures/make_op_fixtures.py)");
        char magic[8];
        std::uint64_t header_len = 0;
        in.read(magic, 8);
        in.read(reinterpret_cast<char*>(&header_len), 8);
        AXONSEG_CHECK(in.good() && std::memcmp(magic, "AXFIXT01", 8) == 0, path.string(),
                      ": not an axonseg fixture file");
        std::string header(header_len, '\0');
        in.read(header.data(), std::streamsize(header_len));
        m_header = nlohmann::json::parse(header);
        m_data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

    const nlohmann::json& meta() const { return m_header["meta"]; }
    bool has(const std::string& name) const { return find(name) != nullptr; }

    // The named tensor converted to T, in contiguous layout.
    template <class T>
    Tensor<T> tensor(const std::string& name) const {
        const nlohmann::json* e = find(name);
        AXONSEG_CHECK(e, m_path.string(), ": no tensor named '", name, "'");
        const std::vector<Index> dims = (*e)["shape"].get<std::vector<Index>>();
        AXONSEG_CHECK(dims.size() <= std::size_t(k_max_rank), m_path.string(), ": tensor ", name,
                      " has rank ", dims.size());
        const Shape shape = Shape::from(dims);
        const std::string dtype = (*e)["dtype"];
        const std::size_t offset = (*e)["offset"];
        const std::size_t nbytes = (*e)["nbytes"];
        AXONSEG_CHECK(offset + nbytes <= m_data.size(), m_path.string(), ": tensor ", name, " is truncated");
        const char* p = m_data.data() + offset;
        Tensor<T> out(shape);
        const Index n = shape.numel();
        auto fill_from = [&](auto tag) {
            using S = decltype(tag);
            AXONSEG_CHECK(nbytes == std::size_t(n) * sizeof(S), m_path.string(), ": tensor ", name,
                          " has ", nbytes, " bytes for ", n, " elements of ", dtype);
            for (Index i = 0; i < n; ++i) {
                S v;
                std::memcpy(&v, p + i * sizeof(S), sizeof(S));
                if constexpr (std::is_same_v<S, std::int64_t>) out.data()[i] = T(double(v));
                else out.data()[i] = convert_element<T>(v);
            }
        };
        if (dtype == "float32") fill_from(float{});
        else if (dtype == "float64") fill_from(double{});
        else if (dtype == "bfloat16") fill_from(bfloat16{});
        else if (dtype == "uint8") fill_from(std::uint8_t{});
        else if (dtype == "uint16") fill_from(std::uint16_t{});
        else if (dtype == "int64") fill_from(std::int64_t{});
        else AXONSEG_FAIL(m_path.string(), ": tensor ", name, " has unknown dtype ", dtype);
        return out;
    }

private:
    const nlohmann::json* find(const std::string& name) const {
        for (const auto& e : m_header["tensors"])
            if (e["name"] == name) return &e;
        return nullptr;
    }

    std::filesystem::path m_path;
    nlohmann::json m_header;
    std::vector<char> m_data;
};

inline std::filesystem::path fixture_path(const std::string& name) {
    return std::filesystem::path(AXONSEG_FIXTURE_DIR) / name;
}

}  // namespace axonseg::test
