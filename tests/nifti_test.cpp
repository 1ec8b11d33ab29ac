// NIfTI-1 volumes: fixtures written by nibabel (float32 .nii.gz, big-endian int16 .nii, scaled
// uint8; tools/fixtures/make_nifti_fixtures.py), round trips for every written type in both
// .nii and .nii.gz with a strided input, label conversion with range checks, and the message of
// every kind of bad file.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/nifti.hpp"

#include <unistd.h>

#include <fstream>

using namespace axonseg;
using namespace axonseg::io;
using namespace axonseg::test;
namespace fs = std::filesystem;

namespace {

const fs::path k_fixtures = fs::path(AXONSEG_FIXTURE_DIR) / "nifti";

std::string bytes_of(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// Gzips `bytes` into `file` (a complete, valid gzip stream of whatever the bytes are).
void write_gzipped(const fs::path& file, const std::string& bytes) {
    gzFile gz = gzopen(file.c_str(), "wb");
    REQUIRE(gz != nullptr);
    REQUIRE(gzwrite(gz, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    REQUIRE(gzclose(gz) == Z_OK);
}

template <class V>
void poke(std::string& bytes, std::size_t offset, V value) {
    std::memcpy(bytes.data() + offset, &value, sizeof(V));
}

template <class V>
V peek(const std::string& bytes, std::size_t offset) {
    V value;
    std::memcpy(&value, bytes.data() + offset, sizeof(V));
    return value;
}

bool has_temporaries(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
    return false;
}

// A small plain .nii of uint8 ramp values, to damage in the error tests.
std::string plain_nii(const ScratchDir& dir) {
    Tensor<std::uint8_t> v(Shape{2, 3, 4});  // (D,H,W)
    for (Index i = 0; i < v.numel(); ++i) v.data()[i] = std::uint8_t(i);
    write_nifti(dir / "base.nii", v);
    return bytes_of(dir / "base.nii");
}

}  // namespace

TEST_CASE("nifti: nibabel's float32 .nii.gz reads as (D,H,W) with x fastest and spacing (z,y,x)") {
    const NiftiVolume<float> v = read_nifti<float>(k_fixtures / "image.nii.gz");
    REQUIRE(v.data.shape() == Shape{3, 4, 5});
    for (Index z = 0; z < 3; ++z)
        for (Index y = 0; y < 4; ++y)
            for (Index x = 0; x < 5; ++x) CHECK(v.data(z, y, x) == float(z * 100 + y * 10 + x) + 0.25f);
    CHECK(v.spacing == std::array<double, 3>{2.0, 0.5, 0.25});
    const NiftiVolume<double> d = read_nifti<double>(k_fixtures / "image.nii.gz");
    CHECK(d.data(2, 3, 4) == 234.25);

    const NiftiInfo info = probe_nifti(k_fixtures / "image.nii.gz");
    CHECK(info.depth == 3);
    CHECK(info.height == 4);
    CHECK(info.width == 5);
    CHECK(info.type == NiftiType::f32);
    CHECK(!info.big_endian);
    CHECK(!info.scaled());
    CHECK_THROWS_WITH_AS(read_nifti<std::uint8_t>(k_fixtures / "image.nii.gz"),
                         doctest::Contains("image.nii.gz: holds float32 data; read it as float or double, not uint8"),
                         Error);
}

TEST_CASE("nifti: nibabel's big-endian int16 labels read as uint8 and as float") {
    const NiftiInfo info = probe_nifti(k_fixtures / "labels_be.nii");
    CHECK(info.big_endian);
    CHECK(info.type == NiftiType::i16);
    const NiftiVolume<std::uint8_t> labels = read_nifti<std::uint8_t>(k_fixtures / "labels_be.nii");
    const NiftiVolume<float> as_float = read_nifti<float>(k_fixtures / "labels_be.nii");
    REQUIRE(labels.data.shape() == Shape{2, 3, 4});
    for (Index z = 0; z < 2; ++z)
        for (Index y = 0; y < 3; ++y)
            for (Index x = 0; x < 4; ++x) {
                CHECK(labels.data(z, y, x) == (z + y + x) % 4);
                CHECK(as_float.data(z, y, x) == float((z + y + x) % 4));
            }
    CHECK(labels.spacing == std::array<double, 3>{1.0, 1.0, 1.0});
}

TEST_CASE("nifti: scl_slope and scl_inter apply, and only into floating types") {
    const NiftiVolume<float> v = read_nifti<float>(k_fixtures / "scaled.nii.gz");
    REQUIRE(v.data.shape() == Shape{2, 2, 3});
    for (Index z = 0; z < 2; ++z)
        for (Index y = 0; y < 2; ++y)
            for (Index x = 0; x < 3; ++x) CHECK(v.data(z, y, x) == float(z * 6 + y * 3 + x) * 0.5f - 1.0f);
    CHECK(v.spacing == std::array<double, 3>{3.0, 2.0, 1.0});
    CHECK_THROWS_WITH_AS(read_nifti<std::uint8_t>(k_fixtures / "scaled.nii.gz"),
                         doctest::Contains("scaled.nii.gz: holds scaled values (scl_slope 0.5, scl_inter -1); "
                                           "read it as float or double, not uint8"),
                         Error);
}

TEST_CASE_TEMPLATE("nifti: write then read is exact for .nii and .nii.gz, strided input", T, std::uint8_t,
                   std::uint16_t, float) {
    ScratchDir dir("roundtrip");
    const Tensor<T> big = random_tensor<T>(Shape{9, 11, 13}, 7, Layout::contiguous, 0.0,
                                           std::is_same_v<T, float> ? 1000.0 : double(std::numeric_limits<T>::max()));
    const ConstView<T> volume = big.view().box({1, 2, 1}, {7, 9, 11});  // (7,9,11), not contiguous
    const std::array<double, 3> spacing{4.0, 0.75, 0.5};
    for (const char* name : {"v.nii", "v.nii.gz"}) {
        CAPTURE(name);
        write_nifti(dir / name, volume, spacing);
        const NiftiVolume<T> back = read_nifti<T>(dir / name);
        REQUIRE(back.data.shape() == Shape{7, 9, 11});
        check_close(ConstView<T>(back.data), volume, 0.0, name);
        CHECK(back.spacing == spacing);
        const std::string raw = std::string(name).ends_with(".gz") ? "" : bytes_of(dir / name);
        if (!raw.empty()) {  // the plain file's header: dims, qform/sform codes, the diagonal sform
            CHECK(peek<std::int16_t>(raw, 42) == 11);
            CHECK(peek<std::int16_t>(raw, 46) == 7);
            CHECK(peek<std::int16_t>(raw, 252) == 1);
            CHECK(peek<std::int16_t>(raw, 254) == 1);
            CHECK(peek<float>(raw, 280) == 0.5f);
            CHECK(peek<float>(raw, 300) == 0.75f);
            CHECK(peek<float>(raw, 320) == 4.0f);
            CHECK(raw.size() == 352 + 7 * 9 * 11 * sizeof(T));
        }
    }
    CHECK(fs::file_size(dir / "v.nii.gz") < fs::file_size(dir / "v.nii"));
    CHECK(!has_temporaries(dir.path));
}

TEST_CASE("nifti: integer labels convert only when every value fits") {
    ScratchDir dir("labels");
    Tensor<std::uint16_t> v = Tensor<std::uint16_t>::zeros(Shape{2, 3, 4});  // (D,H,W)
    v(1, 2, 3) = 255;
    write_nifti(dir / "ok.nii.gz", v);
    CHECK(read_nifti<std::uint8_t>(dir / "ok.nii.gz").data(1, 2, 3) == 255);
    CHECK(read_nifti<std::int32_t>(dir / "ok.nii.gz").data(1, 2, 3) == 255);
    v(1, 0, 2) = 300;
    write_nifti(dir / "big.nii.gz", v);
    CHECK_THROWS_WITH_AS(read_nifti<std::uint8_t>(dir / "big.nii.gz"),
                         doctest::Contains("big.nii.gz: value 300 at voxel (z,y,x) = (1,0,2) does not fit uint8"),
                         Error);
}

TEST_CASE("nifti: bad files are errors naming the file and the problem") {
    ScratchDir dir("bad");
    const std::string base = plain_nii(dir);
    const auto rejects = [&](const std::string& name, const std::string& bytes, const std::string& message) {
        write_bytes(dir / name, bytes);
        CHECK_THROWS_WITH_AS(read_nifti<float>(dir / name), doctest::Contains((name + ": " + message).c_str()), Error);
    };
    CHECK_THROWS_WITH_AS(read_nifti<float>(dir / "missing.nii.gz"), doctest::Contains("missing.nii.gz: no such file"),
                         Error);
    CHECK_THROWS_WITH_AS(probe_nifti(dir / "missing.nii"), doctest::Contains("missing.nii: no such file"), Error);
    rejects("short.nii", "hello", "not a NIfTI-1 file (5 bytes, shorter than the 348-byte header)");

    std::string bytes = base;
    poke(bytes, 0, std::int32_t(1000));
    rejects("size.nii", bytes, "not a NIfTI-1 file (sizeof_hdr is 1000; expected 348)");
    poke(bytes, 0, std::int32_t(540));
    rejects("nifti2.nii", bytes, "not a NIfTI-1 file (sizeof_hdr is 540, a NIfTI-2 header; expected 348)");

    bytes = base;
    std::memcpy(bytes.data() + 344, "abc", 4);
    rejects("magic.nii", bytes, "not a NIfTI-1 file (no \"n+1\" magic");
    std::memcpy(bytes.data() + 344, "ni1", 4);
    rejects("pair.nii", bytes, "a NIfTI-1 header of a .hdr/.img pair");

    bytes = base;
    poke(bytes, 70, std::int16_t(32));
    rejects("complex.nii", bytes, "unsupported datatype 32 (complex64)");
    poke(bytes, 70, std::int16_t(128));
    rejects("rgb.nii", bytes, "unsupported datatype 128 (RGB24)");

    bytes = base;
    poke(bytes, 40, std::int16_t(4));
    poke(bytes, 48, std::int16_t(2));
    rejects("4d.nii", bytes, "a 4-d image (dim[4] is 2); axonseg reads 3-d volumes");
    poke(bytes, 48, std::int16_t(1));  // a 4-d header with one time point is a 3-d volume
    write_bytes(dir / "4d_one.nii", bytes);
    CHECK(read_nifti<std::uint8_t>(dir / "4d_one.nii").data(1, 2, 3) == 23);

    bytes = base;  // a damaged header asking for 27 TB: refused before anything is allocated
    for (std::size_t offset : {42, 44, 46}) poke(bytes, offset, std::int16_t(30000));
    rejects("huge.nii", bytes, "truncated (30000 x 30000 x 30000 uint8 voxels need 27000000000352 bytes, "
                               "the data ends after 376)");
    write_gzipped(dir / "huge.nii.gz", bytes);
    CHECK_THROWS_WITH_AS(read_nifti<float>(dir / "huge.nii.gz"),
                         doctest::Contains("huge.nii.gz: truncated (30000 x 30000 x 30000 uint8 voxels need "
                                           "27000000000352 bytes, more than a "),
                         Error);
    rejects("cut.nii", base.substr(0, base.size() - 5),
            "truncated (2 x 3 x 4 uint8 voxels need 376 bytes, the data ends after 371)");
    write_gzipped(dir / "cut_inside.nii.gz", base.substr(0, base.size() - 5));  // a whole gzip of too few bytes
    CHECK_THROWS_WITH_AS(read_nifti<float>(dir / "cut_inside.nii.gz"),
                         doctest::Contains("cut_inside.nii.gz: truncated (2 x 3 x 4 uint8 voxels"), Error);

    // A gzip stream cut short, and one with damaged bytes, of an incompressible volume.
    const Tensor<float> noise = random_tensor<float>(Shape{4, 16, 16}, 3);
    write_nifti(dir / "noise.nii.gz", noise);
    const std::string gz = bytes_of(dir / "noise.nii.gz");
    rejects("cut.nii.gz", gz.substr(0, gz.size() / 2), "truncated gzip stream");
    std::string damaged = gz;
    for (std::size_t i = gz.size() / 2; i < gz.size() / 2 + 16; ++i) damaged[i] = char(~damaged[i]);
    rejects("damaged.nii.gz", damaged, "corrupt gzip data");
    damaged = gz;
    damaged[gz.size() - 6] = char(~damaged[gz.size() - 6]);  // inside the CRC-32 of the trailer
    rejects("crc.nii.gz", damaged, "corrupt gzip data");
}

TEST_CASE("nifti: bad writes are errors and leave nothing behind") {
    ScratchDir dir("write");
    const Tensor<float> v = Tensor<float>::zeros(Shape{2, 3, 4});  // (D,H,W)
    CHECK_THROWS_WITH_AS(write_nifti(dir / "v.tif", v),
                         doctest::Contains("v.tif: the name must end in .nii or .nii.gz"), Error);
    const Tensor<float> plane = Tensor<float>::zeros(Shape{3, 4});  // (H,W)
    CHECK_THROWS_WITH_AS(write_nifti(dir / "p.nii", plane),
                         doctest::Contains("p.nii: volume (3,4) must be a non-empty (D,H,W)"), Error);
    CHECK_THROWS_WITH_AS(write_nifti(dir / "s.nii", v, {1.0, 0.0, 1.0}),
                         doctest::Contains("s.nii: spacing 0 must be positive"), Error);
    CHECK_THROWS_WITH_AS(write_nifti(dir / "no_such_dir" / "v.nii.gz", v),
                         doctest::Contains("v.nii.gz: cannot create a temporary file"), Error);
    CHECK(fs::is_empty(dir.path));
}
