// Volume I/O from and to the page cache (issue 5): reading the brain example's 100 uint16 slices
// of 600 x 600 (72 MB, a folder of single-page TIFFs) and a 150^3 uint8 rough-label stack, and
// writing uint8 slice folders (the segmentation's output) of two sizes. Goals: reading >= 1 GB/s,
// writing >= 1 GB/s, counted in pixel bytes.
// Counters: GB/s (pixel bytes / time), Gvox/s, and copy_frac: the time a memcpy of those bytes
// takes at axonseg_peak's copy bandwidth over the time taken (what a file read or write at least
// does is one copy between the page cache and the caller's memory).
// Reads are timed warm: the files are read once before timing, so they come from the page cache.
// Writes go to a scratch folder under /tmp, each iteration to a fresh sub-folder (see
// timed_writes), all removed at exit: each repetition writes every volume twice, so 5 repetitions
// leave about 1.4 GB in the page cache, less than the kernel lets pile up before it starts
// writing back (10 % of memory).
// floor_write_raw writes the same bytes with plain open/write/close per slice, both threads, no
// TIFF and no rename: what the kernel allows for that many files of that size.
// The shared-data cases (../shared/data beside the source tree) are left out with a message when
// it is absent.
#include "bench_support.hpp"

#include "axonseg/io/slice_folder.hpp"
#include "axonseg/io/tiff.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace {

using namespace axonseg;
using bench::shared_data_dir;
namespace fs = std::filesystem;


// A scratch folder for this process's writes, removed at exit.
const fs::path& scratch_dir() {
    static const struct Scratch {
        fs::path dir = fs::temp_directory_path() / ("axonseg-bench-io-" + std::to_string(::getpid()));
        Scratch() { fs::create_directories(dir); }
        ~Scratch() {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    } scratch;
    return scratch.dir;
}

void report_file_io(benchmark::State& state, double bytes, double voxels) {
    using benchmark::Counter;
    const double copy_seconds = 2 * bytes / (bench::machine_peak().copy_gbs * 1e9);
    state.counters["GB/s"] = Counter(bytes * 1e-9, Counter::kIsIterationInvariantRate);
    state.counters["Gvox/s"] = Counter(voxels * 1e-9, Counter::kIsIterationInvariantRate);
    state.counters["copy_frac"] = Counter(copy_seconds, Counter::kIsIterationInvariantRate);
}

void read_slice_folder(benchmark::State& state, const fs::path& dir) {
    const io::SliceFolder warm(dir);
    Tensor<std::uint16_t> volume({warm.depth(), warm.height(), warm.width()});  // (D,H,W)
    warm.read_box(0, 0, 0, volume.view());  // into the page cache, and touches volume
    for (auto _ : state) {
        const io::SliceFolder folder(dir);  // opening (every header) is part of reading
        folder.read_box(0, 0, 0, volume.view());
        benchmark::DoNotOptimize(volume.data());
    }
    report_file_io(state, double(volume.numel()) * 2, double(volume.numel()));
}

void read_stack(benchmark::State& state, const fs::path& file) {
    const io::TiffInfo info = io::probe_tiff(file);
    io::read_tiff_stack<std::uint8_t>(file);  // into the page cache
    for (auto _ : state) {
        Tensor<std::uint8_t> volume = io::read_tiff_stack<std::uint8_t>(file);  // (D,H,W)
        benchmark::DoNotOptimize(volume.data());
    }
    const double voxels = double(info.depth * info.height * info.width);
    report_file_io(state, voxels, voxels);
}

// A (D,H,W) uint8 volume of 0 and 255 shaped like a segmentation: bright wherever a hash says so.
Tensor<std::uint8_t> mask_volume(const Shape& shape) {
    Tensor<std::uint8_t> v(shape);  // (D,H,W)
    std::uint8_t* p = v.data();
    parallel_for(0, v.numel(), [&](Index i) { p[i] = (std::uint64_t(i) * 0x9e3779b97f4a7c15ull >> 60) == 0 ? 255 : 0; });
    return v;
}

// Runs `write(dir)` into a new sub-folder each iteration. Nothing is deleted until the program
// ends: ext4 skips over recently deleted inodes (30 s) when it allocates one, so deleting each
// iteration's files makes the next iteration's file creation several times slower than a write
// into a fresh folder is. The fixed iteration count bounds what accumulates in the page cache.
template <class Write>
void timed_writes(benchmark::State& state, const std::string& name, const Shape& shape, Write&& write) {
    static int round = 0;  // across repetitions too: every iteration gets a folder of its own
    const fs::path base = scratch_dir() / name;
    for (auto _ : state) write(base / std::to_string(round++));
    report_file_io(state, double(shape.numel()), double(shape.numel()));
}

void write_slices(benchmark::State& state, const Shape& shape) {
    const Tensor<std::uint8_t> volume = mask_volume(shape);  // (D,H,W)
    timed_writes(state, "tiff", shape, [&](const fs::path& dir) { io::write_slice_folder(dir, volume.view()); });
}

void floor_write_raw(benchmark::State& state, const Shape& shape) {
    const Tensor<std::uint8_t> volume = mask_volume(shape);  // (D,H,W)
    const Index slice_bytes = shape[1] * shape[2];
    timed_writes(state, "raw", shape, [&](const fs::path& dir) {
        fs::create_directories(dir);
        io::detail::parallel_chunks_rethrow(0, shape[0], [&](Index begin, Index end) {
            for (Index z = begin; z < end; ++z) {
                const fs::path file = dir / io::slice_file_name(z);
                const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
                AXONSEG_CHECK(fd >= 0, "floor_write_raw: cannot create ", file.string());
                const bool whole = ::write(fd, volume.data() + z * slice_bytes, std::size_t(slice_bytes)) ==
                                   ssize_t(slice_bytes);
                ::close(fd);
                AXONSEG_CHECK(whole, "floor_write_raw: cannot write ", file.string());
            }
        });
    });
}

}  // namespace

int main(int argc, char** argv) {
    using std::string;
    auto add = [](const string& name, auto fn, auto arg) {
        return benchmark::RegisterBenchmark(name.c_str(), fn, arg)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    };
    if (const fs::path data = shared_data_dir(); data.empty()) {
        std::fprintf(stderr, "bench_io: %s absent: the brain-example and rough-label reads are skipped\n",
                     (fs::path(AXONSEG_SOURCE_DIR) / ".." / "shared" / "data").c_str());
        benchmark::AddCustomContext("shared_data", "absent: reads skipped");
    } else {
        add("read_slices/brain_example_u16_100x600x600", read_slice_folder, data / "dlmbmap/brain-example")
            ->MinTime(0.5);
        add("read_stack/rough_label_u8_150x150x150", read_stack, data / "dlmbmap/Rough-label/label-1001.tiff")
            ->MinTime(0.5);
    }
    for (const Shape& s : {Shape{100, 600, 600}, Shape{8, 2048, 2048}}) {
        const string size = std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
        add("write_slices/u8_" + size, write_slices, s)->Iterations(2);
        add("floor_write_raw/u8_" + size, floor_write_raw, s)->Iterations(2);
    }
    return axonseg::bench::run_benchmarks(argc, argv);
}
