// Writing TIFF volumes: a (D,H,W) multi-page stack or one (H,W) slice, always through a temporary
// name renamed into place (AtomicFile), so a final name never holds a half-written file.
// The decision a reader would get wrong: ImageJ reads a stack whose description says images=N as
// "N pages stored back to back after the first page's pixels" and ignores every other IFD. So all
// IFDs are written first (libtiff's deferred strip arrays) and the pixel data after them, page
// after page, contiguous (a single page is simply its pixels, then its directory); and the
// ImageJ description is written only where ImageJ can read the file that way: uncompressed and
// classic TIFF. Compressed stacks carry tifffile's {"shape": ...} (ImageJ then walks every IFD);
// BigTIFF, which ImageJ 1.x cannot read at all, too.
#pragma once

#include "axonseg/core/tensor.hpp"
#include "axonseg/io/atomic_file.hpp"
#include "axonseg/io/libtiff_handle.hpp"
#include "axonseg/io/tiff_format.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace axonseg::io {

// Classic TIFF addresses 4 GiB; switch to BigTIFF a little earlier so IFDs always fit too.
constexpr std::uint64_t k_bigtiff_threshold_bytes = 4'000'000'000ull;

struct TiffWriteOptions {
    Compression compression = Compression::none;
    bool imagej = true;  // ImageJ-readable stack metadata where the file allows it (see above)
    // Files whose worst-case size exceeds this are written as BigTIFF; tests lower it.
    std::uint64_t bigtiff_threshold_bytes = k_bigtiff_threshold_bytes;
};

namespace detail {

// Strips of about 256 KB: small enough that a region read decodes little more than it needs,
// large enough that per-strip overhead vanishes.
constexpr Index k_strip_target_bytes = 256 * 1024;

// An upper bound of the file size: the codecs' worst-case expansion of incompressible data
// (LZW's 12-bit codes per byte, PackBits' one header byte per 128) plus directories and strip
// arrays, so the BigTIFF decision never comes too late.
inline std::uint64_t worst_case_file_bytes(Index depth, Index pixel_bytes, Index strips, Compression c) {
    const double expansion = c == Compression::lzw        ? 1.5
                             : c == Compression::packbits ? 1.01
                             : c == Compression::deflate  ? 1.01
                                                          : 1.0;
    return std::uint64_t(double(depth * pixel_bytes) * expansion) +
           std::uint64_t(depth) * std::uint64_t(512 + 16 * strips) + 4096;
}

inline void set_page_tags(const TiffHandle& h, Index height, Index width, Index rows_per_strip,
                          SampleLayout s, Compression c, const std::string& description) {
    TIFF* tif = h.get();
    bool ok = TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, std::uint32_t(width)) &&
              TIFFSetField(tif, TIFFTAG_IMAGELENGTH, std::uint32_t(height)) &&
              TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, std::uint16_t(1)) &&
              TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, s.bits) &&
              TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, s.format) &&
              TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
              TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
              TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, std::uint32_t(rows_per_strip)) &&
              TIFFSetField(tif, TIFFTAG_COMPRESSION, libtiff_compression(c)) &&
              TIFFSetField(tif, TIFFTAG_SOFTWARE, "axonseg");
    // Horizontal differencing makes LZW and Deflate far better on images; for float data it
    // would need the floating-point predictor, which many readers lack, so floats go without.
    if (ok && s.format == SAMPLEFORMAT_UINT && (c == Compression::lzw || c == Compression::deflate))
        ok = TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    if (ok && !description.empty()) ok = TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, description.c_str());
    if (!ok) h.fail("cannot set the TIFF tags");
}

// Requires volume (D,H,W) with D, H, W >= 1. Ensures `file` holds it as D pages (see the header
// comment for the layout), or is untouched when this throws.
template <TiffSample T>
void write_pages(const std::filesystem::path& file, ConstView<T> volume, const TiffWriteOptions& o,
                 const std::string& description) {
    const Index depth = volume.dim(0), height = volume.dim(1), width = volume.dim(2);
    const Index rows_per_strip =
        std::clamp<Index>(k_strip_target_bytes / (width * Index(sizeof(T))), 1, height);
    const Index strips = (height + rows_per_strip - 1) / rows_per_strip;
    const SampleLayout sample = sample_layout(dtype_v<T>);
    const bool bigtiff = worst_case_file_bytes(depth, height * width * Index(sizeof(T)), strips,
                                               o.compression) > o.bigtiff_threshold_bytes;
    const std::string& text =
        bigtiff && description.rfind("ImageJ=", 0) == 0 ? tifffile_description(volume.shape()) : description;
    AtomicFile target(file);
    TiffHandle h(target.take_fd(), target.temp_path(), bigtiff ? "w8" : "w", file);
    TIFF* tif = h.get();
    const auto check = [&](bool ok, Index page, const char* what) {
        if (!ok || h.failed())
            h.fail(axonseg::detail::concat("cannot write page ", page, ": ", what, " failed"));
    };
    // A single page (every slice of a slice folder) needs no deferral: libtiff's plain order,
    // pixels then the directory, is already pixels-contiguous, and skipping the deferred arrays'
    // write, re-read and rewrite cuts the system calls per file from about 100 to about 20
    // (with the descriptor taken from AtomicFile: 235 -> 158 us of CPU per 600 x 600 uint8 slice).
    const bool deferred = depth > 1;
    std::vector<std::uint64_t> offsets(static_cast<std::size_t>(depth));  // of each page's IFD
    if (deferred) {
        // 1. Every directory, with its strip arrays deferred (space is reserved in step 2).
        for (Index k = 0; k < depth; ++k) {
            set_page_tags(h, height, width, rows_per_strip, sample, o.compression, k == 0 ? text : std::string());
            check(TIFFDeferStrileArrayWriting(tif) && TIFFWriteCheck(tif, 0, "write_pages"), k,
                  "preparing the page");
            check(TIFFWriteDirectory(tif), k, "writing the directory");
        }
        // 2. The strip offset and byte-count arrays, so that no array lands between pixel data.
        // Directories are revisited by offset: TIFFSetDirectory(k) walks the chain from the first
        // IFD on every call, which made 2,000 pages take 10 s.
        for (Index k = 0; k < depth; ++k) {
            check(k == 0 ? TIFFSetDirectory(tif, 0) : TIFFReadDirectory(tif), k, "finding the directory");
            offsets[std::size_t(k)] = TIFFCurrentDirOffset(tif);
        }
        for (Index k = 0; k < depth; ++k)
            check(TIFFSetSubDirectory(tif, offsets[std::size_t(k)]) && TIFFForceStrileArrayWriting(tif), k,
                  "reserving strip arrays");
    } else {
        set_page_tags(h, height, width, rows_per_strip, sample, o.compression, text);
        check(TIFFWriteCheck(tif, 0, "write_pages"), 0, "preparing the page");
    }
    // 3. Pixel data, appended page after page; TIFFFlush updates the reserved arrays in place (a
    // single page's directory is written by close()).
    // libtiff's uncompressed native-order path only appends the caller's bytes, so dense rows go
    // straight from the volume; codecs (the predictor in particular) modify their input in place,
    // so those, and strided views, get a packed copy.
    const bool direct =
        o.compression == Compression::none && volume.stride(2) == 1 && volume.stride(1) == width;
    std::unique_ptr<T[]> packed(direct ? nullptr : new T[std::size_t(rows_per_strip * width)]);
    for (Index k = 0; k < depth; ++k) {
        if (deferred) check(TIFFSetSubDirectory(tif, offsets[std::size_t(k)]), k, "returning to the directory");
        for (Index s = 0; s < strips; ++s) {
            const Index y0 = s * rows_per_strip, rows = std::min(rows_per_strip, height - y0);
            const T* rows_begin = &volume(k, y0, 0);
            if (!direct) {
                for (Index y = 0; y < rows; ++y)
                    for (Index x = 0; x < width; ++x)
                        packed[std::size_t(y * width + x)] = volume(k, y0 + y, x);
                rows_begin = packed.get();
            }
            const tmsize_t bytes = tmsize_t(rows * width) * tmsize_t(sizeof(T));
            check(TIFFWriteEncodedStrip(tif, std::uint32_t(s), const_cast<T*>(rows_begin), bytes) == bytes, k,
                  "encoding a strip");
        }
        if (deferred) check(TIFFFlush(tif), k, "flushing the page");
    }
    h.close();
    target.commit();
}

}  // namespace detail

// Writes volume (D,H,W), any strides, as a D-page stack: BigTIFF when the file could pass
// options.bigtiff_threshold_bytes, ImageJ metadata where possible (see the header comment),
// otherwise tifffile's {"shape": [D, H, W]}. Through a temporary name; throws naming the file.
template <TiffSample T>
void write_tiff_stack(const std::filesystem::path& file, TensorView<T> volume,
                      const TiffWriteOptions& options = {}) {
    AXONSEG_CHECK(volume.rank() == 3 && volume.numel() > 0, "write_tiff_stack: ", file.string(), ": volume ",
                  volume.shape(), " must be a non-empty (D,H,W)");
    const std::string description = options.imagej && options.compression == Compression::none
                                        ? detail::imagej_description(volume.dim(0))
                                        : detail::tifffile_description(volume.shape());
    detail::write_pages(file, ConstView<std::remove_const_t<T>>(volume), options, description);
}

// Writes one (H,W) slice, any strides, as a single-page TIFF with tifffile's {"shape": [H, W]}
// (what D-LMBmap's slices carry; ImageJ needs no metadata for a single image).
template <TiffSample T>
void write_tiff_slice(const std::filesystem::path& file, TensorView<T> slice,
                      const TiffWriteOptions& options = {}) {
    AXONSEG_CHECK(slice.rank() == 2 && slice.numel() > 0, "write_tiff_slice: ", file.string(), ": slice ",
                  slice.shape(), " must be a non-empty (H,W)");
    const Index height = slice.dim(0), width = slice.dim(1);
    const ConstView<std::remove_const_t<T>> one_page(
        slice.data(), Shape{1, height, width},
        Strides{height * slice.stride(0), slice.stride(0), slice.stride(1)});  // (1,H,W)
    detail::write_pages(file, one_page, options, detail::tifffile_description(slice.shape()));
}

}  // namespace axonseg::io
