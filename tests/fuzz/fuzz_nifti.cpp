// libFuzzer harness for the NIfTI-1 reader: probe_nifti and read_nifti into every element type
// (read_every_way.hpp). The reader takes a path, so each input is written to a file in /dev/shm;
// zlib reads plain and gzip files alike, so one name serves .nii and .nii.gz inputs.
// An axonseg::Error is fine; any other exception aborts, which libFuzzer reports as a finding,
// like a sanitizer report, an allocation over -malloc_limit_mb or a timeout.
#include "read_every_way.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace fs = std::filesystem;
    static const fs::path file =
        fs::path("/dev/shm") / ("axonseg_fuzz_nifti_" + std::to_string(::getpid()) + ".nii");
    std::ofstream(file, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), std::streamsize(size));
    axonseg::fuzz::read_nifti_every_way(file);
    return 0;
}
