// The progress bar: what it prints to a stream that is not a terminal (a log), and when.
#include "axonseg/core/progress.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using namespace axonseg;

namespace {

std::string contents(std::FILE* f) {
    std::rewind(f);
    std::string s;
    for (int c; (c = std::fgetc(f)) != EOF;) s += char(c);
    return s;
}

}  // namespace

TEST_CASE("A progress bar in a log prints a line at most every few seconds, and always the end") {
    std::FILE* log = std::tmpfile();
    REQUIRE(log);
    {
        ProgressBar bar("predict", 10, "tiles", log);
        for (Index i = 2; i <= 9; ++i) bar.update(i);
        bar.advance();  // 10 of 10: always drawn
    }  // finish(): nothing more, the end was drawn
    const std::string text = contents(log);
    std::fclose(log);
    CHECK(text.find("predict [##############################] 100% 10/10 tiles") != std::string::npos);
    CHECK(text.find(" tiles/s, 0:00 elapsed, ETA --:--\n") != std::string::npos);
    CHECK(text.find("5/10") == std::string::npos);  // throttled: a log gets a line every 5 s at most
    CHECK(text.find('\n') == text.size() - 1);       // so one line here
    CHECK(text.find('\r') == std::string::npos);   // no terminal control codes in a log
}

TEST_CASE("A progress bar that is stopped early still prints where it got to") {
    std::FILE* log = std::tmpfile();
    REQUIRE(log);
    {
        ProgressBar bar("segment", 1000, "voxels", log);
        bar.update(250);
    }
    const std::string text = contents(log);
    std::fclose(log);
    CHECK(text.find("[#######                       ]  25% 250/1000 voxels") != std::string::npos);
    CHECK(text.find("ETA ") != std::string::npos);
}
