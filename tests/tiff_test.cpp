// TIFF stacks: round trips for every sample type x compression, strips and tiles (tiled input is
// written with raw libtiff here), region reads against the full read, the ImageJ page layout,
// the BigTIFF switch, atomic writes, and the messages of every kind of bad file.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/tiff.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>

using namespace axonseg;
using namespace axonseg::io;
using namespace axonseg::test;
namespace fs = std::filesystem;

namespace {

template <class T>
void check_equal(ConstView<T> actual, ConstView<T> expected, const std::string& what) {
    check_close(actual, expected, 0.0, what);
}

// The (h,w) plane of a (1,h,w) box.
template <class T>
ConstView<T> plane(ConstView<T> box) {
    return ConstView<T>(box.data(), Shape{box.dim(1), box.dim(2)}, Strides{box.stride(1), box.stride(2)});
}

std::string text_of(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool has_temporaries(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
    return false;
}

// Everything a test needs to write an odd TIFF with raw libtiff: tiles, other sample types,
// big-endian byte order, libtiff's own page layout (data then IFD, page after page).
struct RawTiff {
    std::uint16_t bits = 8, format = SAMPLEFORMAT_UINT, samples = 1, compression = COMPRESSION_NONE;
    std::uint32_t tile_h = 0, tile_w = 0;  // 0: one strip per page
    const char* mode = "w";
    std::string description;
};

// Writes pages of the given (H,W) sizes; page k's bytes are filled by fill(k, bytes).
void write_raw_tiff(const fs::path& file, const RawTiff& r, const std::vector<std::pair<Index, Index>>& sizes,
                    const std::function<void(Index, std::vector<std::uint8_t>&)>& fill) {
    TIFF* tif = TIFFOpen(file.c_str(), r.mode);
    REQUIRE(tif);
    for (std::size_t k = 0; k < sizes.size(); ++k) {
        const auto [h, w] = sizes[k];
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, std::uint32_t(w));
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, std::uint32_t(h));
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, r.bits);
        TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, r.format);
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, r.samples);
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, r.samples == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(tif, TIFFTAG_COMPRESSION, r.compression);
        if (k == 0 && !r.description.empty())
            TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, r.description.c_str());
        const std::size_t row_bytes = (std::size_t(w) * r.bits * r.samples + 7) / 8;
        std::vector<std::uint8_t> bytes(row_bytes * std::size_t(h));
        fill(Index(k), bytes);
        if (r.tile_h) {
            TIFFSetField(tif, TIFFTAG_TILELENGTH, r.tile_h);
            TIFFSetField(tif, TIFFTAG_TILEWIDTH, r.tile_w);
            const std::size_t px = r.bits / 8;
            std::vector<std::uint8_t> tile(std::size_t(r.tile_h) * r.tile_w * px);
            for (std::uint32_t ty = 0; ty < std::uint32_t(h); ty += r.tile_h)
                for (std::uint32_t tx = 0; tx < std::uint32_t(w); tx += r.tile_w) {
                    std::fill(tile.begin(), tile.end(), std::uint8_t(0xAB));  // padding must be ignored
                    for (std::uint32_t y = ty; y < std::min<std::uint32_t>(ty + r.tile_h, h); ++y)
                        for (std::uint32_t x = tx; x < std::min<std::uint32_t>(tx + r.tile_w, w); ++x)
                            std::memcpy(&tile[((y - ty) * r.tile_w + (x - tx)) * px],
                                        &bytes[(y * w + x) * px], px);
                    REQUIRE(TIFFWriteTile(tif, tile.data(), tx, ty, 0, 0) >= 0);
                }
        } else {
            TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, std::uint32_t(h));
            REQUIRE(TIFFWriteEncodedStrip(tif, 0, bytes.data(), tmsize_t(bytes.size())) >= 0);
        }
        REQUIRE(TIFFWriteDirectory(tif));
    }
    TIFFClose(tif);
}

// Raw pages holding the elements of a (D,H,W) volume.
template <class T>
void write_raw_volume(const fs::path& file, const RawTiff& r, ConstView<T> v) {
    std::vector<std::pair<Index, Index>> sizes(std::size_t(v.dim(0)), {v.dim(1), v.dim(2)});
    write_raw_tiff(file, r, sizes, [&](Index k, std::vector<std::uint8_t>& bytes) {
        std::memcpy(bytes.data(), v.data() + k * v.dim(1) * v.dim(2), bytes.size());
    });
}

template <class T>
RawTiff raw_format() {
    RawTiff r;
    r.bits = std::uint16_t(sizeof(T) * 8);
    r.format = std::is_same_v<T, float> ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT;
    return r;
}

// Captures what the code under test prints to stderr (libtiff's default handlers would).
struct StderrCapture {
    fs::path file;
    int saved = -1;
    explicit StderrCapture(const fs::path& f) : file(f) {
        std::fflush(stderr);
        saved = ::dup(2);
        std::FILE* out = std::fopen(file.c_str(), "w");
        ::dup2(::fileno(out), 2);
        std::fclose(out);
    }
    std::string finish() {
        std::fflush(stderr);
        ::dup2(saved, 2);
        ::close(saved);
        return text_of(file);
    }
};

const std::vector<Compression> k_compressions{Compression::none, Compression::lzw, Compression::deflate,
                                              Compression::packbits};

}  // namespace

TEST_CASE_TEMPLATE("write_tiff_stack then read_tiff_stack round-trips every compression", T, std::uint8_t,
                   std::uint16_t, float) {
    ScratchDir dir("roundtrip");
    // 701 rows make several ~256 KB strips for every type; the small volume is one strip a page.
    for (const Shape shape : {Shape{5, 37, 53}, Shape{3, 701, 301}}) {
        const Tensor<T> volume = random_volume<T>(shape, 11);
        for (Compression c : k_compressions) {
            const std::string name =
                std::string(to_string(dtype_v<T>)) + " " + to_string(c) + " " + to_string(shape);
            const fs::path file = dir / "stack.tif";
            write_tiff_stack(file, volume.view(), {.compression = c});
            const TiffInfo info = probe_tiff(file);
            CHECK(info.depth == shape[0]);
            CHECK(info.height == shape[1]);
            CHECK(info.width == shape[2]);
            CHECK(info.dtype == dtype_v<T>);
            CHECK(info.compression == c);
            CHECK_FALSE(info.tiled);
            CHECK_FALSE(info.bigtiff);
            const Tensor<T> back = read_tiff_stack<T>(file);
            check_equal<T>(back, volume, name);
            CHECK_FALSE(has_temporaries(dir.path));
        }
    }
}

TEST_CASE_TEMPLATE("tiled pages, big-endian files and libtiff's own layout read back", T, std::uint8_t,
                   std::uint16_t, float) {
    ScratchDir dir("tiled");
    const Tensor<T> volume = random_volume<T>({3, 37, 53}, 12);  // edge tiles are partial
    for (Compression c : k_compressions) {
        for (const char* mode : {"w", "wb", "w8"}) {
            RawTiff r = raw_format<T>();
            r.compression = io::detail::libtiff_compression(c);
            r.mode = mode;
            r.tile_h = 16;
            r.tile_w = 32;
            const fs::path file = dir / "tiled.tif";
            write_raw_volume<T>(file, r, volume);
            const std::string name =
                std::string(to_string(dtype_v<T>)) + " " + to_string(c) + " mode " + mode;
            const TiffInfo info = probe_tiff(file);
            CHECK(info.tiled);
            CHECK(info.compression == c);
            CHECK(info.bigtiff == (std::string(mode) == "w8"));
            check_equal<T>(read_tiff_stack<T>(file), volume, "tiles " + name);
            r.tile_h = r.tile_w = 0;
            write_raw_volume<T>(file, r, volume);
            check_equal<T>(read_tiff_stack<T>(file), volume, "strips " + name);
        }
    }
}

TEST_CASE_TEMPLATE("read_tiff_region equals the box of a full read, for strips and tiles", T, std::uint16_t,
                   float) {
    ScratchDir dir("region");
    const Tensor<T> volume = random_volume<T>({2, 701, 301}, 13);  // (D,H,W), several strips a page
    const fs::path strips = dir / "strips.tif", tiles = dir / "tiles.tif";
    write_tiff_stack(strips, volume.view(), {.compression = Compression::lzw});
    RawTiff r = raw_format<T>();
    r.tile_h = 64;
    r.tile_w = 48;
    write_raw_volume<T>(tiles, r, volume);
    struct Box {
        Index page, row, col, rows, cols;
    };
    for (const Box b : {Box{0, 0, 0, 701, 301}, Box{1, 0, 0, 1, 1}, Box{1, 700, 300, 1, 1},
                        Box{0, 210, 40, 300, 17}, Box{1, 63, 47, 66, 50}, Box{0, 500, 0, 201, 301}}) {
        for (const fs::path& file : {strips, tiles}) {
            // The destination is a strided window of a sentinel-filled tensor: the border must survive.
            Tensor<T> canvas = sentinel_tensor<T>({b.rows + 2, b.cols + 3}, 77);
            TensorView<T> out = canvas.box({1, 2}, {b.rows, b.cols});  // (rows, cols)
            read_tiff_region(file, b.page, b.row, b.col, out);
            const std::string name = file.filename().string() + " page " + std::to_string(b.page) + " at " +
                                     std::to_string(b.row) + "," + std::to_string(b.col);
            check_equal<T>(out, plane<T>(volume.view().box({b.page, b.row, b.col}, {1, b.rows, b.cols})),
                           name);
            Index overwritten = 0;  // elements outside the window that are no longer the sentinel
            for (Index y = 0; y < canvas.dim(0); ++y)
                for (Index x = 0; x < canvas.dim(1); ++x)
                    overwritten += (y < 1 || y > b.rows || x < 2 || x >= b.cols + 2) && canvas(y, x) != T(77);
            CHECK(overwritten == 0);
        }
    }
}

TEST_CASE("a region read decodes only the strips it needs") {
    ScratchDir dir("only_needed");
    const Tensor<std::uint16_t> volume =
        random_volume<std::uint16_t>({2, 1000, 500}, 14);  // 262 rows a strip
    const fs::path file = dir / "stack.tif";
    write_tiff_stack(file, volume.view());
    // Cut the file inside the last strip (a stack ends with its last page's pixels; a single page
    // ends with its directory): the first rows still read, the last ones cannot.
    fs::resize_file(file, fs::file_size(file) - 1000);
    Tensor<std::uint16_t> top({100, 500}), bottom({10, 500});
    read_tiff_region(file, 1, 0, 0, top.view());
    check_equal<std::uint16_t>(top, ConstView<std::uint16_t>(volume.data() + 1000 * 500, Shape{100, 500}),
                               "rows before the cut");
    CHECK_THROWS_WITH_AS(
        read_tiff_region(file, 1, 990, 0, bottom.view()),
        doctest::Contains("stack.tif: truncated or corrupt: page 1 strip 3 cannot be decoded"), Error);
}

TEST_CASE("stacks are laid out for ImageJ: one description, pages back to back") {
    ScratchDir dir("imagej");
    const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({4, 600, 500}, 15);  // 2 strips a page
    const fs::path file = dir / "stack.tif";
    write_tiff_stack(file, volume.view());
    TIFF* tif = TIFFOpen(file.c_str(), "r");
    REQUIRE(tif);
    char* description = nullptr;
    REQUIRE(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &description));
    CHECK(std::string(description) == "ImageJ=1.11a\nimages=4\nslices=4\nloop=false\n");
    std::uint64_t expected_offset = 0;
    for (int k = 0; k < 4; ++k) {
        REQUIRE(TIFFSetDirectory(tif, tdir_t(k)));
        for (std::uint32_t s = 0; s < TIFFNumberOfStrips(tif); ++s) {
            if (expected_offset) CHECK(TIFFGetStrileOffset(tif, s) == expected_offset);
            expected_offset = TIFFGetStrileOffset(tif, s) + TIFFGetStrileByteCount(tif, s);
        }
    }
    TIFFClose(tif);
    CHECK(expected_offset == fs::file_size(file));  // the pixels come last, nothing after them

    // Compressed stacks and imagej = false carry tifffile's shape instead (ImageJ walks the IFDs).
    for (const TiffWriteOptions o :
         {TiffWriteOptions{.compression = Compression::deflate}, TiffWriteOptions{.imagej = false}}) {
        write_tiff_stack(file, volume.view(), o);
        tif = TIFFOpen(file.c_str(), "r");
        REQUIRE(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &description));
        CHECK(std::string(description) == "{\"shape\": [4, 600, 500]}");
        TIFFClose(tif);
    }
}

TEST_CASE("a single page is its pixels, then its directory, written through the temporary's descriptor") {
    ScratchDir dir("single");
    const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({1, 600, 500}, 24);  // (1,H,W), 2 strips
    const fs::path file = dir / "0000.tiff";
    write_tiff_slice(file, plane<std::uint8_t>(volume));
    CHECK_FALSE(has_temporaries(dir.path));
    check_equal<std::uint8_t>(read_tiff_stack<std::uint8_t>(file), volume, "slice");
    TIFF* tif = TIFFOpen(file.c_str(), "r");
    REQUIRE(tif);
    CHECK(TIFFNumberOfDirectories(tif) == 1);
    char* description = nullptr;
    REQUIRE(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &description));
    CHECK(std::string(description) == "{\"shape\": [600, 500]}");
    std::uint64_t expected_offset = 8;  // right after the header: the strips, back to back
    for (std::uint32_t s = 0; s < TIFFNumberOfStrips(tif); ++s) {
        CHECK(TIFFGetStrileOffset(tif, s) == expected_offset);
        expected_offset += TIFFGetStrileByteCount(tif, s);
    }
    CHECK(TIFFNumberOfStrips(tif) == 2);
    CHECK(TIFFCurrentDirOffset(tif) >= expected_offset);  // the directory follows the pixels
    TIFFClose(tif);

    // AtomicFile's descriptor: written through, committed; one not taken is closed by commit().
    {
        AtomicFile a(dir / "fd.txt");
        const int fd = a.take_fd();
        REQUIRE(fd >= 0);
        CHECK(a.take_fd() == -1);
        CHECK(::write(fd, "via fd", 6) == 6);
        ::close(fd);
        a.commit();
    }
    CHECK(text_of(dir / "fd.txt") == "via fd");
    {
        AtomicFile a(dir / "by_name.txt");
        std::ofstream(a.temp_path()) << "by name";
        a.commit();
    }
    CHECK(text_of(dir / "by_name.txt") == "by name");
    CHECK_FALSE(has_temporaries(dir.path));
}

TEST_CASE("the BigTIFF switch follows the worst-case size") {
    ScratchDir dir("bigtiff");
    const Tensor<std::uint16_t> volume = random_volume<std::uint16_t>({3, 40, 50}, 16);  // 12,000 pixel bytes
    const fs::path file = dir / "stack.tif";
    write_tiff_stack(file, volume.view(), {.bigtiff_threshold_bytes = 100'000});
    CHECK_FALSE(probe_tiff(file).bigtiff);
    for (Compression c : k_compressions) {
        write_tiff_stack(file, volume.view(), {.compression = c, .bigtiff_threshold_bytes = 12'000});
        const TiffInfo info = probe_tiff(file);
        CHECK(info.bigtiff);
        CHECK(info.depth == 3);
        check_equal<std::uint16_t>(read_tiff_stack<std::uint16_t>(file), volume,
                                   std::string("BigTIFF ") + to_string(c));
        TIFF* tif = TIFFOpen(file.c_str(), "r");
        char* description = nullptr;
        REQUIRE(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &description));
        CHECK(std::string(description) == "{\"shape\": [3, 40, 50]}");  // ImageJ cannot read BigTIFF
        TIFFClose(tif);
    }
}

TEST_CASE("write_tiff_slice and non-contiguous sources") {
    ScratchDir dir("slice");
    const Tensor<float> big = random_volume<float>({4, 30, 40}, 17);
    const ConstView<float> strided = big.view().box({1, 3, 5}, {2, 20, 25});  // (2,20,25) inside (4,30,40)
    write_tiff_stack(dir / "stack.tif", strided);
    check_equal<float>(read_tiff_stack<float>(dir / "stack.tif"), strided, "strided stack");
    const ConstView<float> slice(&big(2, 3, 5), Shape{20, 25},
                                 Strides{big.stride(1), big.stride(2)});  // (H,W)
    write_tiff_slice(dir / "slice.tif", slice, {.compression = Compression::lzw});
    const Tensor<float> back = read_tiff_stack<float>(dir / "slice.tif");  // (1,H,W)
    CHECK(back.shape() == Shape{1, 20, 25});
    check_equal<float>(back, strided.narrow(0, 1, 1), "strided slice");
}

TEST_CASE("ImageJ and tifffile descriptions and unknown tags are tolerated silently") {
    ScratchDir dir("tolerated");
    const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({3, 10, 12}, 18);
    for (const std::string& description :
         {std::string("ImageJ=1.53q\nimages=3\nslices=3\nunit= \nloop=false"),
          std::string("{\"shape\": [3, 10, 12]}")}) {
        RawTiff r;
        r.description = description;
        const fs::path file = dir / "described.tif";
        write_raw_volume<std::uint8_t>(file, r, volume);
        // A private tag this libtiff does not know, as microscope software writes.
        TIFF* tif = TIFFOpen(file.c_str(), "r+");
        static const TIFFFieldInfo k_private{65000,        1, 1, TIFF_LONG,
                                             FIELD_CUSTOM, 1, 0, const_cast<char*>("Private")};
        TIFFMergeFieldInfo(tif, &k_private, 1);
        TIFFSetField(tif, 65000, std::uint32_t(7));
        TIFFRewriteDirectory(tif);
        TIFFClose(tif);
        StderrCapture capture(dir / "stderr.txt");
        const Tensor<std::uint8_t> back = read_tiff_stack<std::uint8_t>(file);
        CHECK(capture.finish().empty());
        check_equal<std::uint8_t>(back, volume, description);
    }
}

TEST_CASE("bad files give an Error naming the file and the problem") {
    ScratchDir dir("bad");
    const auto write_text = [&](const std::string& name, const std::string& text) {
        std::ofstream(dir / name, std::ios::binary) << text;
        return dir / name;
    };
    StderrCapture capture(dir / "stderr.txt");
    CHECK_THROWS_WITH_AS(probe_tiff(dir / "missing.tif"), doctest::Contains("missing.tif: no such file"),
                         Error);
    CHECK_THROWS_WITH_AS(probe_tiff(dir.path), doctest::Contains("not a regular file"), Error);
    CHECK_THROWS_WITH_AS(probe_tiff(write_text("empty.tif", "")),
                         doctest::Contains("empty.tif: empty file, not a TIFF"), Error);
    CHECK_THROWS_WITH_AS(probe_tiff(write_text("notes.tif", "some notes, not an image")),
                         doctest::Contains("notes.tif: not a TIFF file"), Error);
    CHECK_THROWS_WITH_AS(probe_tiff(write_text("header.tif", std::string("II*\0\xff\xff\x00\x00", 8))),
                         doctest::Contains("header.tif: corrupt TIFF header (libtiff: "), Error);

    const Tensor<std::uint16_t> volume = random_volume<std::uint16_t>({6, 64, 80}, 19);
    for (Compression c : {Compression::none, Compression::lzw}) {
        // Our layout (IFDs first): the cut loses pixel data.
        const fs::path ours = dir / "ours.tif";
        write_tiff_stack(ours, volume.view(), {.compression = c});
        fs::resize_file(ours, fs::file_size(ours) / 2);
        CHECK_THROWS_WITH_AS(read_tiff_stack<std::uint16_t>(ours),
                             doctest::Contains("ours.tif: truncated or corrupt: page"), Error);
        // libtiff's layout (each page's data, then its IFD): the cut breaks the directory chain.
        RawTiff r = raw_format<std::uint16_t>();
        r.compression = io::detail::libtiff_compression(c);
        const fs::path chained = dir / "chained.tif";
        write_raw_volume<std::uint16_t>(chained, r, volume);
        fs::resize_file(chained, fs::file_size(chained) / 2);
        CHECK_THROWS_WITH_AS(read_tiff_stack<std::uint16_t>(chained),
                             doctest::Contains("chained.tif: truncated or corrupt: the directory of page "),
                             Error);
        // A cut right after a whole directory leaves a next offset that leads past the end.
        write_raw_volume<std::uint16_t>(chained, r, volume);
        TIFF* tif = TIFFOpen(chained.c_str(), "r");
        REQUIRE(TIFFSetDirectory(tif, 2));
        const std::uint64_t third = TIFFCurrentDirOffset(tif);
        TIFFClose(tif);
        const std::string bytes = text_of(chained);
        const std::uint64_t entries = std::uint8_t(bytes[third]) | std::uint8_t(bytes[third + 1]) << 8;
        fs::resize_file(chained, third + 2 + 12 * entries + 4);  // page 2's IFD and its next offset
        CHECK_THROWS_WITH_AS(
            read_tiff_stack<std::uint16_t>(chained),
            doctest::Contains("chained.tif: truncated or corrupt: the directory of page 3 cannot be read"),
            Error);
        // A cut inside the next-offset field: libtiff alone would report a 3-page stack.
        fs::resize_file(chained, third + 2 + 12 * entries + 2);
        CHECK_THROWS_WITH_AS(
            read_tiff_stack<std::uint16_t>(chained),
            doctest::Contains(
                "chained.tif: truncated or corrupt: the directory of page 2 runs past the end of the file"),
            Error);
    }

    const auto one_page = [](Index, std::vector<std::uint8_t>& b) { std::fill(b.begin(), b.end(), 1); };
    RawTiff int32;
    int32.bits = 32;
    int32.format = SAMPLEFORMAT_INT;
    write_raw_tiff(dir / "int32.tif", int32, {{4, 4}}, one_page);
    CHECK_THROWS_WITH_AS(
        probe_tiff(dir / "int32.tif"),
        doctest::Contains(
            "int32.tif: page 0 holds 32-bit signed integer samples; axonseg reads uint8, uint16 or float32"),
        Error);
    RawTiff rgb;
    rgb.samples = 3;
    write_raw_tiff(dir / "rgb.tif", rgb, {{4, 4}}, one_page);
    CHECK_THROWS_WITH_AS(probe_tiff(dir / "rgb.tif"),
                         doctest::Contains("rgb.tif: page 0 has 3 samples per pixel"), Error);
    RawTiff bilevel;
    bilevel.bits = 1;
    write_raw_tiff(dir / "bilevel.tif", bilevel, {{4, 16}}, one_page);
    CHECK_THROWS_WITH_AS(probe_tiff(dir / "bilevel.tif"),
                         doctest::Contains("bilevel.tif: page 0 holds 1-bit unsigned integer samples"),
                         Error);
    write_raw_tiff(dir / "unequal.tif", RawTiff{}, {{4, 5}, {4, 5}, {4, 6}}, one_page);
    CHECK_THROWS_WITH_AS(
        read_tiff_stack<std::uint8_t>(dir / "unequal.tif"),
        doctest::Contains("unequal.tif: page 2 is 4 x 6, page 0 is 4 x 5 (pages of unequal size)"), Error);
    RawTiff announced;
    announced.description = "ImageJ=1.53q\nimages=9\nslices=9\nloop=false\n";
    write_raw_tiff(dir / "announced.tif", announced, {{4, 5}, {4, 5}}, one_page);
    CHECK_THROWS_WITH_AS(
        probe_tiff(dir / "announced.tif"),
        doctest::Contains("announced.tif: ImageJ metadata announces 9 images but the file has 2 pages"),
        Error);

    write_tiff_stack(dir / "u16.tif", volume.view());
    const std::string wrong_type =
        "read_tiff_stack: " + (dir / "u16.tif").string() + " holds uint16 samples, asked to read uint8";
    CHECK_THROWS_WITH_AS(read_tiff_stack<std::uint8_t>(dir / "u16.tif"),
                         doctest::Contains(wrong_type.c_str()), Error);
    Tensor<std::uint16_t> out({10, 10});
    CHECK_THROWS_WITH_AS(read_tiff_region(dir / "u16.tif", 6, 0, 0, out.view()),
                         doctest::Contains("has no page 6 (6 pages)"), Error);
    CHECK_THROWS_WITH_AS(read_tiff_region(dir / "u16.tif", 0, 60, 0, out.view()),
                         doctest::Contains("rows [60, 70) x columns [0, 10) leave the 64 x 80 page"), Error);
    CHECK(capture.finish().empty());  // libtiff printed nothing of its own
}

TEST_CASE("writes are atomic: a failure leaves the old file and no temporary") {
    ScratchDir dir("atomic");
    const fs::path keep = dir / "keep.tif";
    std::ofstream(keep) << "the user's file";
    SUBCASE("an exception before commit") {
        {
            AtomicFile file(keep);
            std::ofstream(file.temp_path()) << "half";
            CHECK(file.temp_path().parent_path() == dir.path);
            CHECK(has_temporaries(dir.path));
        }
        CHECK(text_of(keep) == "the user's file");
    }
    SUBCASE("the disk fills up midway") {
        // RLIMIT_FSIZE makes write() fail with EFBIG past 64 KB, as a full disk would.
        const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({8, 100, 200}, 20);  // 160 KB
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit saved{};
        getrlimit(RLIMIT_FSIZE, &saved);
        rlimit limited = saved;
        limited.rlim_cur = 64 * 1024;
        setrlimit(RLIMIT_FSIZE, &limited);
        const std::string full_disk = keep.string() + ": cannot write page ";
        CHECK_THROWS_WITH_AS(write_tiff_stack(keep, volume.view()), doctest::Contains(full_disk.c_str()),
                             Error);
        // A single page takes the plain path (no deferred strip arrays); it must fail alike.
        const Tensor<std::uint8_t> slice = random_volume<std::uint8_t>({1, 300, 400}, 23);  // 120 KB
        const std::string full_slice = keep.string() + ": cannot write page 0";
        CHECK_THROWS_WITH_AS(write_tiff_slice(keep, plane<std::uint8_t>(slice)), doctest::Contains(full_slice.c_str()),
                             Error);
        setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, SIG_DFL);
        CHECK(text_of(keep) == "the user's file");
    }
    SUBCASE("the final name cannot be replaced") {
        fs::create_directory(dir / "taken.tif");
        const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({1, 4, 4}, 21);
        CHECK_THROWS_WITH_AS(write_tiff_stack(dir / "taken.tif", volume.view()),
                             doctest::Contains("taken.tif: cannot rename the finished temporary"), Error);
        CHECK(fs::is_directory(dir / "taken.tif"));
    }
    SUBCASE("a read-only folder") {
        const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({1, 4, 4}, 22);
        CHECK_THROWS_WITH_AS(write_tiff_stack(dir / "no" / "such" / "folder.tif", volume.view()),
                             doctest::Contains("folder.tif: cannot create a temporary file in"), Error);
        if (::geteuid() == 0) {
            MESSAGE("skipped: the read-only folder case (root may write anywhere)");
        } else {
            fs::permissions(dir.path,
                            fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                            fs::perm_options::remove);
            CHECK_THROWS_WITH_AS(write_tiff_stack(keep, volume.view()),
                                 doctest::Contains("Permission denied"), Error);
            fs::permissions(dir.path, fs::perms::owner_write, fs::perm_options::add);
        }
    }
    CHECK_FALSE(has_temporaries(dir.path));
}

TEST_CASE("D-LMBmap's labels: an ImageJ stack and a tifffile stack") {
    const fs::path data = shared_data_dir();
    if (data.empty()) {
        MESSAGE("skipped: no shared data (../shared/data)");
        return;
    }
    struct Label {
        const char* path;
        Index foreground;
    };
    for (const Label label : {Label{"dlmbmap/Rough-label/label-1001.tiff", 18235},
                              Label{"dlmbmap/Fine-label/label-1001.tiff", 28876}}) {
        const fs::path file = data / label.path;
        const TiffInfo info = probe_tiff(file);
        CHECK(info.depth == 150);
        CHECK(info.height == 150);
        CHECK(info.width == 150);
        CHECK(info.dtype == DType::u8);
        const Tensor<std::uint8_t> volume = read_tiff_stack<std::uint8_t>(file);  // (150,150,150)
        Index foreground = 0, other = 0;
        for (Index i = 0; i < volume.numel(); ++i) {
            foreground += volume.data()[i] == 255;
            other += volume.data()[i] != 255 && volume.data()[i] != 0;
        }
        CHECK(foreground == label.foreground);  // counted with tifffile
        CHECK(other == 0);
        Tensor<std::uint8_t> region({30, 40});
        read_tiff_region(file, 77, 60, 100, region.view());
        check_equal<std::uint8_t>(region, plane<std::uint8_t>(volume.view().box({77, 60, 100}, {1, 30, 40})),
                                  label.path);
    }
}
