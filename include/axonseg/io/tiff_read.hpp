// Reading TIFF volumes: a multi-page stack as (D,H,W), or a box of rows and columns of one page.
// Pages may be strips (one or many) or tiles; a region read decodes only the strips or tiles that
// intersect it (libtiff also splits a big uncompressed single-strip page into virtual strips of
// ~8 KB, so even those are read row by row). The element type must equal the file's: reading
// uint16 into float silently would hide a wrong file, so the caller converts explicitly.
// Samples come back as stored: PhotometricInterpretation (min-is-white, palette) is not applied.
// Every problem is an Error naming the file: "<file>: <what> (libtiff: <reason>)".
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"
#include "axonseg/io/libtiff_handle.hpp"
#include "axonseg/io/tiff_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <vector>

namespace axonseg::io {

struct TiffInfo {
    Index depth = 0, height = 0, width = 0;  // pages, rows, columns
    DType dtype = DType::u8;
    Compression compression = Compression::none;  // of the first page
    bool tiled = false;
    bool bigtiff = false;
};

namespace detail {

// One page's geometry and encoding. A strip is a block of block_h rows spanning the full width.
struct PageLayout {
    Index height = 0, width = 0;
    DType dtype = DType::u8;
    Compression compression = Compression::none;
    bool tiled = false;
    Index block_h = 0, block_w = 0;
    double min_stored_bytes = 0;  // the least the file must hold for these pixels
};

// The most bytes one stored byte can decode to: PackBits turns 2 bytes into 128, Deflate's limit
// is 1032:1, and an LZW code (9 bits or more) yields at most 4096 bytes.
inline double max_expansion(Compression c) {
    switch (c) {
        case Compression::none: return 1.0;
        case Compression::packbits: return 64.0;
        case Compression::deflate: return 1032.0;
        case Compression::lzw: return 4096.0 * 8.0 / 9.0;
    }
    return 1.0;
}

inline std::uintmax_t file_bytes(const TiffHandle& h) {
    std::error_code ec;
    const std::uintmax_t bytes = std::filesystem::file_size(h.file(), ec);
    return ec ? 0 : bytes;
}

// Runs fn(begin, end) on contiguous chunks, one per thread, and rethrows the exception of the
// lowest failing chunk (none may escape an OpenMP region), so a fixed thread count reports the
// same file every run.
template <class Fn>
void parallel_chunks_rethrow(Index begin, Index end, Fn&& fn) {
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(thread_count()));
    parallel_chunks(begin, end, [&](Index b, Index e, int t) {
        try {
            fn(b, e);
        } catch (...) {
            errors[std::size_t(t)] = std::current_exception();
        }
    });
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
}

// Opens a file for reading, telling a missing path, a non-TIFF and a damaged header apart
// (libtiff alone says only "Cannot read TIFF header" for all three).
inline TiffHandle open_for_reading(const std::filesystem::path& file) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status status = fs::status(file, ec);
    if (!fs::exists(status)) AXONSEG_FAIL(file.string(), ": no such file");
    if (!fs::is_regular_file(status)) AXONSEG_FAIL(file.string(), ": not a regular file");
    char magic[4] = {};
    std::ifstream in(file, std::ios::binary);
    in.read(magic, 4);
    if (in.gcount() == 0) AXONSEG_FAIL(file.string(), ": empty file, not a TIFF");
    const bool tiff_magic =
        (magic[0] == 'I' && magic[1] == 'I' && (magic[2] == 42 || magic[2] == 43) && magic[3] == 0) ||
        (magic[0] == 'M' && magic[1] == 'M' && magic[2] == 0 && (magic[3] == 42 || magic[3] == 43));
    if (in.gcount() < 4 || !tiff_magic) AXONSEG_FAIL(file.string(), ": not a TIFF file (no TIFF signature)");
    // "m": read() instead of mmap. Opening gets cheaper (no mapping to set up), which is what
    // header scans and small boxes pay for; whole-page reads measured the same either way.
    return TiffHandle(file, "rm");
}

// Requires the handle's current directory to be page `page`. Ensures a supported layout or throws.
inline PageLayout read_page_layout(const TiffHandle& h, Index page) {
    TIFF* tif = h.get();
    const auto fail = [&](const auto&... what) {
        AXONSEG_FAIL(h.file().string(), ": page ", page, " ", what...);
    };
    PageLayout p;
    p.height = Index(h.tag_or<std::uint32_t>(TIFFTAG_IMAGELENGTH, 0));
    p.width = Index(h.tag_or<std::uint32_t>(TIFFTAG_IMAGEWIDTH, 0));
    const auto samples = h.tag_or<std::uint16_t>(TIFFTAG_SAMPLESPERPIXEL, 1);
    if (samples != 1)
        fail("has ", samples,
             " samples per pixel (RGB or another multi-channel image); axonseg reads "
             "single-channel images");
    std::string why;
    const auto bits = h.tag_or<std::uint16_t>(TIFFTAG_BITSPERSAMPLE, 1);
    const auto dtype =
        dtype_from_libtiff(bits, h.tag_or<std::uint16_t>(TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT), why);
    if (!dtype) fail("holds ", why, "; axonseg reads uint8, uint16 or float32");
    p.dtype = *dtype;
    const auto code = h.tag_or<std::uint16_t>(TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    const auto compression = compression_from_libtiff(code);
    if (!compression) {
        const TIFFCodec* codec = TIFFFindCODEC(code);
        fail("uses compression ", code, " (", codec ? codec->name : "unknown",
             "); axonseg reads uncompressed, LZW, Deflate and PackBits");
    }
    p.compression = *compression;
    p.tiled = TIFFIsTiled(tif);
    if (p.tiled) {
        p.block_h = Index(h.tag_or<std::uint32_t>(TIFFTAG_TILELENGTH, 0));
        p.block_w = Index(h.tag_or<std::uint32_t>(TIFFTAG_TILEWIDTH, 0));
    } else {
        // RowsPerStrip may be 2^32-1 ("one strip"); libtiff's default is the same.
        p.block_h = std::min(p.height, Index(h.tag_or<std::uint32_t>(TIFFTAG_ROWSPERSTRIP, 0xffffffffu)));
        p.block_w = p.width;
    }
    if (p.height <= 0 || p.width <= 0 || p.block_h <= 0 || p.block_w <= 0)
        fail("has an empty or corrupt geometry (", p.height, " x ", p.width, " pixels in blocks of ",
             p.block_h, " x ", p.block_w, ")");
    // Before anything is allocated: a damaged header must not ask for terabytes. A region read
    // decodes block by block (a tile is stored and decoded whole), so one block must fit in what
    // the file's bytes can decode to; the rows of a cut file before the cut still read.
    // probe_tiff holds the whole stack, tiles padded, to the same bound. Doubles: 2^32 x 2^32
    // pixels would overflow an Index.
    const double expansion = max_expansion(p.compression), sample_bytes = bits / 8;
    if (double(p.block_h) * double(p.block_w) * sample_bytes / expansion > double(file_bytes(h)))
        fail("claims blocks of ", p.block_h, " x ", p.block_w, " pixels, more than the ", file_bytes(h),
             "-byte file can hold (truncated or corrupt)");
    const auto padded = [&](Index n, Index block) {
        return p.tiled ? std::ceil(double(n) / double(block)) * double(block) : double(n);
    };
    p.min_stored_bytes = padded(p.height, p.block_h) * padded(p.width, p.block_w) * sample_bytes / expansion;
    return p;
}

// Requires the handle's current directory to be page `page` with layout p, T to be p.dtype, and
// the box [r0, r0 + out.dim(0)) x [c0, c0 + out.dim(1)) inside the page. Ensures out holds it.
// Whole strips that fall inside a full-width, row-major `out` are decoded in place.
template <TiffSample T>
void read_page_region(const TiffHandle& h, const PageLayout& p, Index page, Index r0, Index c0,
                      TensorView<T> out) {
    const Index r1 = r0 + out.dim(0), c1 = c0 + out.dim(1);
    const Index bh = p.block_h, bw = p.block_w, blocks_across = (p.width + bw - 1) / bw;
    const bool rows_in_place =
        !p.tiled && c0 == 0 && c1 == p.width && out.stride(1) == 1 && out.stride(0) == p.width;
    std::unique_ptr<T[]> scratch;  // one decoded block; uninitialised, every read fills it
    for (Index by = r0 / bh; by * bh < r1; ++by) {
        const Index y0 = by * bh, y_end = std::min(y0 + bh, p.height);
        for (Index bx = c0 / bw; bx * bw < c1; ++bx) {
            const Index x0 = bx * bw, index = by * blocks_across + bx;
            // A tile is always stored whole (padded at the edges); the last strip is shorter.
            const tmsize_t bytes = tmsize_t((p.tiled ? bh : y_end - y0) * bw) * tmsize_t(sizeof(T));
            const bool in_place = rows_in_place && y0 >= r0 && y_end <= r1;
            if (!in_place && !scratch) scratch.reset(new T[std::size_t(bh * bw)]);
            T* target = in_place ? &out(y0 - r0, 0) : scratch.get();
            h.clear();
            const tmsize_t got = p.tiled ? TIFFReadEncodedTile(h.get(), std::uint32_t(index), target, bytes)
                                         : TIFFReadEncodedStrip(h.get(), std::uint32_t(index), target, bytes);
            if (got != bytes || h.failed())
                h.fail(axonseg::detail::concat("truncated or corrupt: page ", page,
                                               p.tiled ? " tile " : " strip ", index, " cannot be decoded"));
            if (in_place) continue;
            const Index ya = std::max(y0, r0), yb = std::min(y_end, r1);
            const Index xa = std::max(x0, c0), xb = std::min({x0 + bw, c1, p.width});
            for (Index y = ya; y < yb; ++y) {
                const T* src = scratch.get() + (y - y0) * bw + (xa - x0);
                if (out.stride(1) == 1) {
                    std::memcpy(&out(y - r0, xa - c0), src, std::size_t(xb - xa) * sizeof(T));
                } else {
                    for (Index x = xa; x < xb; ++x) out(y - r0, x - c0) = src[x - xa];
                }
            }
        }
    }
}

// libtiff reads a next-IFD offset it cannot reach as "no more pages", so a file cut inside the
// last directory's next-offset field would read as a shorter stack. Requires the current
// directory to be the last; throws when that directory, next offset included, leaves the file.
inline void check_last_directory_whole(const TiffHandle& h, Index page) {
    TIFF* tif = h.get();
    const bool big = TIFFIsBigTIFF(tif);
    const std::uint64_t offset = TIFFCurrentDirOffset(tif);
    std::ifstream in(h.file(), std::ios::binary);
    in.seekg(std::streamoff(offset));
    unsigned char count_bytes[8] = {};
    in.read(reinterpret_cast<char*>(count_bytes), big ? 8 : 2);
    std::uint64_t entries = 0;
    const int n = big ? 8 : 2;
    for (int i = 0; i < n; ++i) {  // the file's byte order: TIFF's "II" little, "MM" big endian
        const bool little = (TIFFIsBigEndian(tif) == 0);
        entries |= std::uint64_t(count_bytes[little ? i : n - 1 - i]) << (8 * i);
    }
    const std::uint64_t end = offset + (big ? 8 + entries * 20 + 8 : 2 + entries * 12 + 4);
    if (!in || end > std::filesystem::file_size(h.file()))
        AXONSEG_FAIL(h.file().string(), ": truncated or corrupt: the directory of page ", page,
                     " runs past the end of the file");
}

template <TiffSample T>
void check_sample_type(const std::filesystem::path& file, DType in_file, const char* op) {
    if (dtype_v<T> != in_file)
        AXONSEG_FAIL(op, ": ", file.string(), " holds ", to_string(in_file), " samples, asked to read ",
                     to_string(dtype_v<T>));
}

}  // namespace detail

// The size, sample type and encoding of a multi-page stack, from its headers only. Throws when a
// page is unsupported, the pages differ in size or type, the directory chain is damaged, or the
// pages claim more pixels than the file's size can hold (a cut file or a corrupt header).
inline TiffInfo probe_tiff(const std::filesystem::path& file) {
    TiffHandle h = detail::open_for_reading(file);
    const detail::PageLayout first = detail::read_page_layout(h, 0);
    TiffInfo info{.depth = 1,
                  .height = first.height,
                  .width = first.width,
                  .dtype = first.dtype,
                  .compression = first.compression,
                  .tiled = first.tiled,
                  .bigtiff = TIFFIsBigTIFF(h.get()) != 0};
    const char* description = nullptr;
    const std::string text =
        TIFFGetField(h.get(), TIFFTAG_IMAGEDESCRIPTION, &description) && description ? description : "";
    // A next-IFD offset that leads nowhere (past the end of a truncated file) can make
    // TIFFReadDirectory stop quietly, so "no more pages" is only believed from a zero offset.
    double stored_bytes = first.min_stored_bytes;
    while (!TIFFLastDirectory(h.get())) {
        h.clear();
        if (!TIFFReadDirectory(h.get()))
            h.fail(axonseg::detail::concat("truncated or corrupt: the directory of page ", info.depth,
                                           " cannot be read"));
        const detail::PageLayout p = detail::read_page_layout(h, info.depth);
        if (p.height != info.height || p.width != info.width)
            AXONSEG_FAIL(file.string(), ": page ", info.depth, " is ", p.height, " x ", p.width,
                         ", page 0 is ", info.height, " x ", info.width, " (pages of unequal size)");
        if (p.dtype != info.dtype)
            AXONSEG_FAIL(file.string(), ": page ", info.depth, " holds ", to_string(p.dtype),
                         " samples, page 0 ", to_string(info.dtype));
        stored_bytes += p.min_stored_bytes;
        ++info.depth;
    }
    // Pages could share their data; what the whole stack claims must fit in the file too.
    if (stored_bytes > double(detail::file_bytes(h)))
        AXONSEG_FAIL(file.string(), ": truncated or corrupt: pages 0 to ", info.depth - 1, " of ",
                     info.height, " x ", info.width, " pixels need at least ", std::uintmax_t(stored_bytes),
                     " bytes, more than the ", detail::file_bytes(h), "-byte file holds");
    detail::check_last_directory_whole(h, info.depth - 1);
    // ImageJ writes stacks over 4 GB as one IFD followed by every page's pixels; those and
    // truncated ImageJ stacks show up as fewer pages than its metadata announces.
    if (const auto described = detail::described_page_count(text); described && *described > info.depth)
        AXONSEG_FAIL(file.string(), ": ImageJ metadata announces ", *described, " images but the file has ",
                     info.depth,
                     " pages (truncated, or an ImageJ stack over 4 GB stored with a single "
                     "IFD, which axonseg does not read; re-save it as BigTIFF)");
    return info;
}

// The whole stack as a contiguous (D,H,W) tensor. Requires T to be the file's sample type.
// Pages are decoded in parallel, one libtiff handle per thread.
template <TiffSample T>
Tensor<T> read_tiff_stack(const std::filesystem::path& file) {
    const TiffInfo info = probe_tiff(file);
    detail::check_sample_type<T>(file, info.dtype, "read_tiff_stack");
    Tensor<T> volume({info.depth, info.height, info.width});  // (D,H,W)
    const Index page_elements = info.height * info.width;
    detail::parallel_chunks_rethrow(0, info.depth, [&](Index begin, Index end) {
        TiffHandle h = detail::open_for_reading(file);
        for (Index k = begin; k < end; ++k) {
            h.clear();
            const int ok = k == begin ? TIFFSetDirectory(h.get(), tdir_t(k)) : TIFFReadDirectory(h.get());
            if (!ok || h.failed())
                h.fail(axonseg::detail::concat("truncated or corrupt: the directory of page ", k,
                                               " cannot be read"));
            const detail::PageLayout p = detail::read_page_layout(h, k);
            TensorView<T> page(volume.data() + k * page_elements, Shape{info.height, info.width});  // (H,W)
            detail::read_page_region(h, p, k, 0, 0, page);
        }
    });
    return volume;
}

// Reads rows [row_begin, row_begin + out.dim(0)) x columns [col_begin, col_begin + out.dim(1)) of
// page `page` into out (any strides). Requires T to be the file's sample type and the box inside
// the page. Only the strips or tiles that intersect the box are decoded.
template <TiffSample T>
void read_tiff_region(const std::filesystem::path& file, Index page, Index row_begin, Index col_begin,
                      TensorView<T> out) {
    AXONSEG_CHECK(out.rank() == 2, "read_tiff_region: ", file.string(), ": out ", out.shape(),
                  " must be (rows, cols)");
    TiffHandle h = detail::open_for_reading(file);
    h.clear();
    if (page < 0 || !TIFFSetDirectory(h.get(), tdir_t(page)))
        AXONSEG_FAIL("read_tiff_region: ", file.string(), ": has no page ", page, " (",
                     TIFFNumberOfDirectories(h.get()), " pages)");
    const detail::PageLayout p = detail::read_page_layout(h, page);
    detail::check_sample_type<T>(file, p.dtype, "read_tiff_region");
    if (row_begin < 0 || col_begin < 0 || row_begin + out.dim(0) > p.height ||
        col_begin + out.dim(1) > p.width)
        AXONSEG_FAIL("read_tiff_region: ", file.string(), ": rows [", row_begin, ", ", row_begin + out.dim(0),
                     ") x columns [", col_begin, ", ", col_begin + out.dim(1), ") leave the ", p.height,
                     " x ", p.width, " page");
    detail::read_page_region(h, p, page, row_begin, col_begin, out);
}

}  // namespace axonseg::io
