// Folders of 2-d TIFF slices: write_slice_folder's names and round trip, SliceFolder's lazy
// slice and box reads against the volume, which files count as slices, and the messages for
// missing, empty and inconsistent folders.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/slice_folder.hpp"

#include <unistd.h>

#include <fstream>

using namespace axonseg;
using namespace axonseg::io;
using namespace axonseg::test;
namespace fs = std::filesystem;

namespace {

template <class T>
ConstView<T> plane(ConstView<T> v, Index z) {  // (H,W) plane z of a (D,H,W) view
    return ConstView<T>(v.data() + z * v.stride(0), Shape{v.dim(1), v.dim(2)},
                        Strides{v.stride(1), v.stride(2)});
}

}  // namespace

TEST_CASE_TEMPLATE("write_slice_folder then SliceFolder round-trips, slice by slice and by boxes", T,
                   std::uint8_t, std::uint16_t, float) {
    ScratchDir dir("roundtrip");
    const Tensor<T> volume = random_volume<T>({7, 600, 230}, 31);  // (D,H,W), several strips a slice
    for (Compression c : {Compression::none, Compression::lzw}) {
        const fs::path folder = dir / (std::string("brain_") + to_string(c));
        write_slice_folder(folder, volume.view(), 0, {.compression = c});
        CHECK(fs::exists(folder / "0000.tiff"));
        CHECK(fs::exists(folder / "0006.tiff"));
        const SliceFolder slices(folder);
        CHECK(slices.depth() == 7);
        CHECK(slices.height() == 600);
        CHECK(slices.width() == 230);
        CHECK(slices.dtype() == dtype_v<T>);
        CHECK(slices.slice_path(3) == folder / "0003.tiff");
        for (Index z = 0; z < slices.depth(); ++z) {
            Tensor<T> slice = sentinel_tensor<T>({600, 230}, 3);
            slices.read_slice(z, slice.view());
            check_close(slice.view(), plane<T>(volume, z), 0.0, "slice " + std::to_string(z));
        }
        struct Box {
            Index z, y, x, d, h, w;
        };
        for (const Box b : {Box{0, 0, 0, 7, 600, 230}, Box{2, 250, 17, 3, 301, 99}, Box{6, 599, 229, 1, 1, 1},
                            Box{1, 0, 100, 5, 40, 130}}) {
            // Into a strided window of a sentinel tensor: nothing outside it may change.
            Tensor<T> canvas = sentinel_tensor<T>({b.d + 1, b.h + 2, b.w + 2}, 5);
            TensorView<T> out = canvas.box({1, 1, 2}, {b.d, b.h, b.w});  // (d,h,w)
            slices.read_box(b.z, b.y, b.x, out);
            check_close(
                out, volume.view().box({b.z, b.y, b.x}, {b.d, b.h, b.w}), 0.0,
                "box at " + std::to_string(b.z) + "," + std::to_string(b.y) + "," + std::to_string(b.x));
            Index overwritten = 0;
            for (Index z = 0; z < canvas.dim(0); ++z)
                for (Index y = 0; y < canvas.dim(1); ++y)
                    for (Index x = 0; x < canvas.dim(2); ++x)
                        overwritten +=
                            (z < 1 || y < 1 || y > b.h || x < 2 || x >= b.w + 2) && canvas(z, y, x) != T(5);
            CHECK(overwritten == 0);
        }
    }
}

TEST_CASE("slice names follow D-LMBmap, start where asked, and keep name order = z order") {
    ScratchDir dir("names");
    const Tensor<std::uint8_t> volume = random_volume<std::uint8_t>({3, 4, 5}, 32);
    write_slice_folder(dir / "first", volume.view(), 5);
    CHECK(fs::exists(dir / "first" / "0005.tiff"));
    CHECK(fs::exists(dir / "first" / "0007.tiff"));
    // Past 9999 every name widens, or "10000.tiff" would sort before "9998.tiff".
    write_slice_folder(dir / "wide", volume.view(), 9998);
    const SliceFolder slices(dir / "wide");
    CHECK(slices.slice_path(0).filename() == "09998.tiff");
    CHECK(slices.slice_path(2).filename() == "10000.tiff");
    CHECK(slice_file_name(42) == "0042.tiff");
    CHECK(slice_file_name(42, 6) == "000042.tiff");
}

TEST_CASE("only .tif and .tiff files that are not hidden count as slices") {
    ScratchDir dir("filter");
    const Tensor<std::uint16_t> volume = random_volume<std::uint16_t>({3, 8, 9}, 33);
    write_slice_folder(dir / "brain", volume.view());
    std::ofstream(dir / "brain" / "README.txt") << "notes";
    std::ofstream(dir / "brain" / ".DS_Store") << "finder";
    std::ofstream(dir / "brain" / "._0000.tiff") << "resource fork";
    fs::create_directory(dir / "brain" / "previews.tif");
    fs::copy_file(dir / "brain" / "0002.tiff", dir / "brain" / "0003.TIF");
    const SliceFolder slices(dir / "brain");
    CHECK(slices.depth() == 4);
    CHECK(slices.slice_path(3).filename() == "0003.TIF");
}

TEST_CASE("bad folders give an Error naming the folder or the slice") {
    ScratchDir dir("bad");
    CHECK_THROWS_WITH_AS(SliceFolder(dir / "nowhere"), doctest::Contains("nowhere: no such folder"), Error);
    std::ofstream(dir / "file.tif") << "x";
    CHECK_THROWS_WITH_AS(SliceFolder(dir / "file.tif"), doctest::Contains("file.tif: not a folder"), Error);
    fs::create_directory(dir / "empty");
    std::ofstream(dir / "empty" / "README.txt") << "nothing here";
    CHECK_THROWS_WITH_AS(SliceFolder(dir / "empty"),
                         doctest::Contains("empty: no .tif or .tiff slices in the folder"), Error);

    const Tensor<std::uint16_t> volume = random_volume<std::uint16_t>({5, 60, 60}, 34);
    const fs::path brain = dir / "brain";
    write_slice_folder(brain, volume.view());
    const Tensor<std::uint16_t> narrow = random_volume<std::uint16_t>({1, 60, 58}, 35);
    write_tiff_slice(brain / "0003.tiff", plane<std::uint16_t>(narrow, 0));
    const std::string unequal =
        (brain / "0003.tiff").string() + ": 60 x 58 slice in a stack of 60 x 60 slices";
    CHECK_THROWS_WITH_AS(SliceFolder{brain}, doctest::Contains(unequal.c_str()), Error);

    const Tensor<std::uint8_t> bytes = random_volume<std::uint8_t>({1, 60, 60}, 36);
    write_tiff_slice(brain / "0003.tiff", plane<std::uint8_t>(bytes, 0));
    const std::string other_type =
        (brain / "0003.tiff").string() + ": uint8 slice in a stack of uint16 slices";
    CHECK_THROWS_WITH_AS(SliceFolder{brain}, doctest::Contains(other_type.c_str()), Error);

    write_tiff_stack(brain / "0003.tiff", volume.view().narrow(0, 0, 2));
    CHECK_THROWS_WITH_AS(
        SliceFolder{brain},
        doctest::Contains("0003.tiff: holds 2 pages; a slice folder holds single-page 2-d slices"), Error);

    std::ofstream(brain / "0003.tiff", std::ios::trunc) << "not an image";
    CHECK_THROWS_WITH_AS(SliceFolder{brain}, doctest::Contains("0003.tiff: not a TIFF file"), Error);

    write_tiff_slice(brain / "0003.tiff", plane<std::uint16_t>(volume, 3));
    const SliceFolder slices(brain);
    Tensor<std::uint16_t> box({2, 10, 10});
    CHECK_THROWS_WITH_AS(slices.read_box(4, 0, 0, box.view()),
                         doctest::Contains("box at (4,0,0) of size (2,10,10) leaves the (5,60,60) volume"),
                         Error);
    Tensor<std::uint8_t> wrong({1, 10, 10});
    CHECK_THROWS_WITH_AS(slices.read_box(0, 0, 0, wrong.view()),
                         doctest::Contains("0000.tiff holds uint16 samples, asked to read uint8"), Error);
    Tensor<std::uint16_t> small({10, 10});
    CHECK_THROWS_WITH_AS(slices.read_slice(0, small.view()), doctest::Contains("out (10,10) must be (60,60)"),
                         Error);
    CHECK_THROWS_WITH_AS(slices.slice_path(5), doctest::Contains("has slices [0, 5), asked for 5"), Error);
    // A slice that changes after the folder was opened is caught when it is read.
    write_tiff_slice(brain / "0001.tiff", plane<std::uint16_t>(narrow, 0));
    Tensor<std::uint16_t> full({60, 60});
    CHECK_THROWS_WITH_AS(slices.read_slice(1, full.view()),
                         doctest::Contains("0001.tiff: 60 x 58 slice in a stack of 60 x 60 slices"), Error);
}

TEST_CASE("D-LMBmap's brain example: 100 slices of 600 x 600 uint16") {
    const fs::path data = shared_data_dir();
    if (data.empty()) {
        MESSAGE("skipped: no shared data (../shared/data)");
        return;
    }
    const SliceFolder slices(data / "dlmbmap" / "brain-example");
    CHECK(slices.depth() == 100);
    CHECK(slices.height() == 600);
    CHECK(slices.width() == 600);
    CHECK(slices.dtype() == DType::u16);
    Tensor<std::uint16_t> volume({100, 600, 600});  // (D,H,W)
    slices.read_box(0, 0, 0, volume.view());
    std::uint16_t lo = 65535, hi = 0;
    long long sum = 0;
    for (Index i = 0; i < volume.numel(); ++i) {
        lo = std::min(lo, volume.data()[i]);
        hi = std::max(hi, volume.data()[i]);
        sum += volume.data()[i];
    }
    // Counted with tifffile.
    CHECK(lo == 711);
    CHECK(hi == 65535);
    CHECK(sum == 185131816027LL);
    CHECK(volume(50, 300, 300) == 3072);
    CHECK(volume(99, 599, 599) == 1581);
    Tensor<std::uint16_t> box({10, 64, 70});
    slices.read_box(45, 200, 500, box.view());
    check_close(box.view(), volume.view().box({45, 200, 500}, {10, 64, 70}), 0.0, "brain box");
}
