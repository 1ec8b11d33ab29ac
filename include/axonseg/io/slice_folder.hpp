// A folder of 2-d TIFF slices, the usual whole-brain layout: sorted file-name order is z.
// SliceFolder reads only headers when it opens (a whole brain never has to fit in memory) and
// decodes a slice, or only the rows of a box, on demand, slices in parallel.
// Which files count: names ending in .tif or .tiff (any case) that do not start with '.'; every
// other file (notes, .DS_Store, macOS "._0001.tif" resource forks, sub-folders) is ignored, so a
// README beside the slices is harmless, while a damaged .tif is an error naming it.
#pragma once

#include "axonseg/io/tiff_read.hpp"
#include "axonseg/io/tiff_write.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

namespace axonseg::io {

// The name of slice `index` as D-LMBmap writes it, 0000.tiff, 0001.tiff, ..., zero-padded to
// `digits` (at least 4).
inline std::string slice_file_name(Index index, int digits = 4) {
    char name[48];
    std::snprintf(name, sizeof name, "%0*lld.tiff", std::max(digits, 4), static_cast<long long>(index));
    return name;
}

class SliceFolder {
public:
    // Throws naming the folder or the first offending slice when the folder is missing or holds no
    // slices, or a slice is unreadable, multi-page, or differs from slice 0 in size or type.
    explicit SliceFolder(const std::filesystem::path& dir) : m_dir(dir) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (!fs::exists(dir, ec)) AXONSEG_FAIL(dir.string(), ": no such folder");
        if (!fs::is_directory(dir, ec)) AXONSEG_FAIL(dir.string(), ": not a folder");
        for (const fs::directory_entry& entry : fs::directory_iterator(dir))
            if (is_slice_name(entry.path().filename().string()) && entry.is_regular_file(ec))
                m_paths.push_back(entry.path());
        std::sort(m_paths.begin(), m_paths.end(), [](const fs::path& a, const fs::path& b) {
            return a.filename().string() < b.filename().string();
        });
        if (m_paths.empty()) AXONSEG_FAIL(dir.string(), ": no .tif or .tiff slices in the folder");

        std::vector<detail::PageLayout> layouts(m_paths.size());  // one per slice
        detail::parallel_chunks_rethrow(0, depth(), [&](Index begin, Index end) {
            for (Index z = begin; z < end; ++z) {
                TiffHandle h = detail::open_for_reading(m_paths[std::size_t(z)]);
                layouts[std::size_t(z)] = detail::read_page_layout(h, 0);
                if (!TIFFLastDirectory(h.get()))
                    AXONSEG_FAIL(m_paths[std::size_t(z)].string(), ": holds ",
                                 TIFFNumberOfDirectories(h.get()),
                                 " pages; a slice folder holds single-page 2-d slices");
            }
        });
        m_height = layouts[0].height;
        m_width = layouts[0].width;
        m_dtype = layouts[0].dtype;
        for (Index z = 1; z < depth(); ++z) check_matches(z, layouts[std::size_t(z)]);
    }

    Index depth() const { return Index(m_paths.size()); }
    Index height() const { return m_height; }
    Index width() const { return m_width; }
    DType dtype() const { return m_dtype; }
    const std::filesystem::path& dir() const { return m_dir; }
    const std::filesystem::path& slice_path(Index z) const {
        AXONSEG_CHECK(z >= 0 && z < depth(), "SliceFolder: ", m_dir.string(), " has slices [0, ", depth(),
                      "), asked for ", z);
        return m_paths[std::size_t(z)];
    }

    // Requires out (H,W), any strides, and T == dtype(). Ensures out holds slice z.
    template <TiffSample T>
    void read_slice(Index z, TensorView<T> out) const {
        AXONSEG_CHECK(out.rank() == 2 && out.dim(0) == m_height && out.dim(1) == m_width,
                      "SliceFolder::read_slice: out ", out.shape(), " must be (", m_height, ",", m_width,
                      ") for ", m_dir.string());
        read_region(z, 0, 0, out);
    }

    // Reads the box starting at (z0, y0, x0) with out's extent (d,h,w), any strides, decoding only
    // the rows (or tiles) of each slice the box needs; slices in parallel. Requires T == dtype()
    // and the box inside the folder's (depth, height, width).
    template <TiffSample T>
    void read_box(Index z0, Index y0, Index x0, TensorView<T> out) const {
        AXONSEG_CHECK(out.rank() == 3, "SliceFolder::read_box: out ", out.shape(), " must be (d,h,w)");
        if (z0 < 0 || y0 < 0 || x0 < 0 || z0 + out.dim(0) > depth() || y0 + out.dim(1) > m_height ||
            x0 + out.dim(2) > m_width)
            AXONSEG_FAIL("SliceFolder::read_box: ", m_dir.string(), ": box at (", z0, ",", y0, ",", x0,
                         ") of size ", out.shape(), " leaves the (", depth(), ",", m_height, ",", m_width,
                         ") volume");
        detail::parallel_chunks_rethrow(0, out.dim(0), [&](Index begin, Index end) {
            for (Index k = begin; k < end; ++k) {
                TensorView<T> plane(out.data() + k * out.stride(0), Shape{out.dim(1), out.dim(2)},
                                    Strides{out.stride(1), out.stride(2)});  // (h,w)
                read_region(z0 + k, y0, x0, plane);
            }
        });
    }

private:
    static bool is_slice_name(const std::string& name) {
        if (name.empty() || name[0] == '.') return false;
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        const auto ends_with = [&](const std::string& tail) {
            return lower.size() > tail.size() &&
                   lower.compare(lower.size() - tail.size(), tail.size(), tail) == 0;
        };
        return ends_with(".tif") || ends_with(".tiff");
    }

    void check_matches(Index z, const detail::PageLayout& p) const {
        if (p.height != m_height || p.width != m_width)
            AXONSEG_FAIL(slice_path(z).string(), ": ", p.height, " x ", p.width, " slice in a stack of ",
                         m_height, " x ", m_width, " slices");
        if (p.dtype != m_dtype)
            AXONSEG_FAIL(slice_path(z).string(), ": ", to_string(p.dtype), " slice in a stack of ",
                         to_string(m_dtype), " slices");
    }

    template <TiffSample T>
    void read_region(Index z, Index y0, Index x0, TensorView<T> out) const {
        const std::filesystem::path& file = slice_path(z);
        detail::check_sample_type<T>(file, m_dtype, "SliceFolder");
        TiffHandle h = detail::open_for_reading(file);
        const detail::PageLayout p = detail::read_page_layout(h, 0);
        check_matches(z, p);  // the file may have changed since the folder was opened
        detail::read_page_region(h, p, 0, y0, x0, out);
    }

    std::filesystem::path m_dir;
    std::vector<std::filesystem::path> m_paths;  // sorted by file name: index z
    Index m_height = 0, m_width = 0;
    DType m_dtype = DType::u8;
};

// Writes volume (D,H,W) as slices dir/<first_index + z>.tiff, one file per z, each through a
// temporary name; slices in parallel. Names have 4 digits, or as many as the last index needs,
// one width for all, so name order stays z order past 9999. Creates dir if needed; other files in
// it are left alone.
template <TiffSample T>
void write_slice_folder(const std::filesystem::path& dir, TensorView<T> volume, Index first_index = 0,
                        const TiffWriteOptions& options = {}) {
    AXONSEG_CHECK(volume.rank() == 3 && volume.numel() > 0 && first_index >= 0,
                  "write_slice_folder: ", dir.string(), ": volume ", volume.shape(),
                  " must be a non-empty (D,H,W), first index ", first_index, " >= 0");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        AXONSEG_FAIL("write_slice_folder: ", dir.string(), ": cannot create the folder (", ec.message(), ")");
    const int digits = int(std::to_string(first_index + volume.dim(0) - 1).size());
    detail::parallel_chunks_rethrow(0, volume.dim(0), [&](Index begin, Index end) {
        for (Index z = begin; z < end; ++z) {
            const ConstView<std::remove_const_t<T>> slice(
                volume.data() + z * volume.stride(0), Shape{volume.dim(1), volume.dim(2)},
                Strides{volume.stride(1), volume.stride(2)});  // (H,W)
            write_tiff_slice(dir / slice_file_name(first_index + z, digits), slice, options);
        }
    });
}

}  // namespace axonseg::io
