// Scratch space and sample volumes for the I/O and preparation tests.
#pragma once

#include "support/checks.hpp"

#include <unistd.h>

#include <filesystem>
#include <limits>
#include <string>

namespace axonseg::test {

// A fresh directory under the system's temporary folder, unique to this process and `name`,
// removed with everything in it at the end of the test (permissions restored first, so a test
// that made it read-only still cleans up).
struct ScratchDir {
    std::filesystem::path path;
    explicit ScratchDir(const std::string& name)
        : path(std::filesystem::temp_directory_path() /
               ("axonseg_test_" + std::to_string(::getpid()) + "_" + name)) {
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

// Random samples covering the type's range (floats include negatives and fractions).
template <class T>
Tensor<T> random_volume(const Shape& shape, std::uint64_t seed) {
    if constexpr (std::is_same_v<T, float>)
        return random_tensor<T>(shape, seed, Layout::contiguous, -1000.0, 1000.0);
    else
        return random_tensor<T>(shape, seed, Layout::contiguous, 0.0,
                                double(std::numeric_limits<T>::max()) + 1);
}

}  // namespace axonseg::test
