// Feeds one file to every reader of its format, the way the fuzzers (fuzz_tiff.cpp,
// fuzz_nifti.cpp) and tests/fuzz_regression_test.cpp both do. An axonseg::Error is the expected
// answer to garbage: each is caught and its message returned (none: the file read cleanly); any
// other exception propagates, which the fuzzers report as a finding and the test as a failure.
#pragma once

#include "axonseg/io/nifti.hpp"
#include "axonseg/io/slice_folder.hpp"
#include "axonseg/io/tiff_read.hpp"

#include <string>
#include <vector>

namespace axonseg::fuzz {

namespace detail {

template <class Fn>
void collect_error(std::vector<std::string>& errors, Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        errors.emplace_back(e.what());
    }
}

// Runs fn.template operator()<T>() with T the element type of `dtype`.
template <class Fn>
void with_sample_type(DType dtype, Fn&& fn) {
    switch (dtype) {
        case DType::u8: fn.template operator()<std::uint8_t>(); break;
        case DType::u16: fn.template operator()<std::uint16_t>(); break;
        case DType::f32: fn.template operator()<float>(); break;
        default: break;
    }
}

}  // namespace detail

// Requires `file` to be the only .tif in its folder, so SliceFolder opens it as one slice.
// Reads the whole stack, a small box of the last page away from the origin (so region reads skip
// blocks), and the bottom rows of the folder's one slice: SliceFolder reads only page 0 and never
// probes the whole file, a separate path.
inline std::vector<std::string> read_tiff_every_way(const std::filesystem::path& file) {
    std::vector<std::string> errors;
    detail::collect_error(errors, [&] {
        const io::TiffInfo info = io::probe_tiff(file);
        detail::with_sample_type(info.dtype, [&]<class T>() {
            io::read_tiff_stack<T>(file);
            Tensor<T> box({std::min<Index>(info.height, 5), std::min<Index>(info.width, 7)});  // (rows, cols)
            io::read_tiff_region(file, info.depth - 1, std::min(info.height / 3, info.height - box.dim(0)),
                                 info.width - box.dim(1), box.view());
        });
    });
    detail::collect_error(errors, [&] {
        const io::SliceFolder folder(file.parent_path());
        detail::with_sample_type(folder.dtype(), [&]<class T>() {
            Tensor<T> rows({1, std::min<Index>(folder.height(), 3), folder.width()});  // (1,h,W)
            folder.read_box(0, folder.height() - rows.dim(1), 0, rows.view());
        });
    });
    return errors;
}

// Reads the header, then the volume into every element type: the direct path, byte swapping,
// scaling and the range-checked integer conversions. zlib reads plain and gzip files alike.
inline std::vector<std::string> read_nifti_every_way(const std::filesystem::path& file) {
    std::vector<std::string> errors;
    detail::collect_error(errors, [&] { io::probe_nifti(file); });
    if (!errors.empty()) return errors;  // read_nifti parses the same header first
    detail::collect_error(errors, [&] { io::read_nifti<std::uint8_t>(file); });
    detail::collect_error(errors, [&] { io::read_nifti<std::uint16_t>(file); });
    detail::collect_error(errors, [&] { io::read_nifti<std::int32_t>(file); });
    detail::collect_error(errors, [&] { io::read_nifti<float>(file); });
    detail::collect_error(errors, [&] { io::read_nifti<double>(file); });
    return errors;
}

}  // namespace axonseg::fuzz
