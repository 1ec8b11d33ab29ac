// The fuzzers' inputs without libFuzzer, in the normal build: every file in tests/fuzz/crashes
// (inputs that once crashed a reader, kept after the fix) and the seed corpus tests/fuzz/corpus
// goes through every reader of its format (tests/fuzz/read_every_way.hpp). Each must read cleanly
// or throw an axonseg::Error, never crash or throw anything else; seeds must stay valid, and a
// crash input's Error says what was wrong where k_expected names it.
#include "fuzz/read_every_way.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <map>

using namespace axonseg;
namespace fs = std::filesystem;

namespace {

const fs::path k_fuzz_dir = fs::path(AXONSEG_SOURCE_DIR) / "tests" / "fuzz";

// What the Error of a crash input must contain (the fix's message).
const std::map<std::string, std::string> k_expected = {
    {"huge_page_uncompressed.tif",
     "page 0 claims blocks of 1 x 60000 pixels, more than the 328-byte file can hold"},
    {"huge_page_lzw.tif", "page 0 claims blocks of 60000 x 60000 pixels, more than the 328-byte file can hold"},
    {"huge_tile.tif", "page 0 claims blocks of 1048576 x 1048576 pixels, more than the"},
};

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

struct ScratchDir {
    fs::path path = fs::temp_directory_path() / ("axonseg_fuzz_regression_" + std::to_string(::getpid()));
    ScratchDir() { fs::create_directories(path); }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

bool any_contains(const std::vector<std::string>& errors, const std::string& text) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

// read(file) returns the messages of the Errors the readers threw; probe(file) reads the header
// of a seed, which must stay a valid file (a seed the readers refuse teaches the fuzzer little).
template <class Read, class Probe>
void check_inputs(const std::string& format, Read&& read, Probe&& probe) {
    for (const char* kind : {"corpus", "crashes"}) {
        const fs::path dir = k_fuzz_dir / kind / format;
        if (std::string(kind) == "crashes" && !fs::exists(dir)) continue;  // none found yet
        const std::vector<fs::path> files = files_in(dir);
        CHECK(!files.empty());
        for (const fs::path& file : files) {
            CAPTURE(file);
            std::vector<std::string> errors;
            CHECK_NOTHROW(errors = read(file));
            if (std::string(kind) == "corpus") CHECK_NOTHROW(probe(file));
            if (const auto it = k_expected.find(file.filename().string()); it != k_expected.end()) {
                std::string all;
                for (const std::string& e : errors) all += e + "\n";
                INFO("errors:\n", all);
                CHECK(any_contains(errors, it->second));
            }
        }
    }
}

}  // namespace

TEST_CASE("fuzz inputs: every TIFF reader reads or throws an Error") {
    const ScratchDir scratch;
    check_inputs("tiff", [&](const fs::path& file) {
        // Alone in a folder, named as a slice, so SliceFolder reads it too.
        const fs::path copy = scratch.path / "0000.tif";
        fs::copy_file(file, copy, fs::copy_options::overwrite_existing);
        return fuzz::read_tiff_every_way(copy);
    }, [](const fs::path& file) { io::probe_tiff(file); });
}

TEST_CASE("fuzz inputs: the NIfTI reader reads or throws an Error") {
    check_inputs("nifti", [](const fs::path& file) { return fuzz::read_nifti_every_way(file); },
                 [](const fs::path& file) { io::probe_nifti(file); });
}
