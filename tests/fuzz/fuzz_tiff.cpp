// libFuzzer harness for the TIFF readers: probe_tiff, read_tiff_stack, read_tiff_region and
// SliceFolder (read_every_way.hpp). The readers take paths, so each input is written to a file
// in /dev/shm (memory: no disk I/O per run), alone in a folder of its own for SliceFolder.
// An axonseg::Error is fine; any other exception aborts, which libFuzzer reports as a finding,
// like a sanitizer report, an allocation over -malloc_limit_mb or a timeout.
#include "read_every_way.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    axonseg::set_thread_count(1);  // one core per fuzzer; the parallel paths run as one chunk
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace fs = std::filesystem;
    static const fs::path dir = fs::path("/dev/shm") / ("axonseg_fuzz_tiff_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file = dir / "0000.tif";
    std::ofstream(file, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), std::streamsize(size));
    axonseg::fuzz::read_tiff_every_way(file);
    return 0;
}
