// segpoints.ini regions: x,y,z in the file become (z,y,x) Index3s, [DEFAULT] keys are inherited,
// relative dataroots resolve against the file's folder, and each malformed file is an Error
// naming the file and the line.
#include "axonseg/io/segpoints_ini.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>

using namespace axonseg;
using namespace axonseg::io;
namespace fs = std::filesystem;

namespace {

struct IniFile {
    fs::path path;
    explicit IniFile(const std::string& text)
        : path(fs::temp_directory_path() / ("axonseg_segpoints_" + std::to_string(::getpid()) + ".ini")) {
        std::ofstream(path) << text;
    }
    ~IniFile() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

void rejects(const std::string& text, const std::string& message) {
    const IniFile ini(text);
    CHECK_THROWS_WITH_AS(read_segpoints_ini(ini.path), doctest::Contains((ini.path.string() + ":" + message).c_str()), Error);
}

}  // namespace

TEST_CASE("segpoints.ini: regions in file order, points as (z,y,x)") {
    const IniFile ini(
        "# regions of brain 1\n"
        "[DEFAULT]\n"
        "dataroot = /data/brain1\n"
        "\n"
        "[cortex]\n"
        "start_point = 10,20,30\n"
        "End_Point= 110, 220 ,330\n"
        "note = ignored\n"
        "; a comment\n"
        "[ thalamus ]\n"
        "dataroot: slices/brain2\n"
        "start_point=0,0,0\n"
        "end_point=5,0,7\n");
    const std::vector<Region> regions = read_segpoints_ini(ini.path);
    REQUIRE(regions.size() == 2);
    CHECK(regions[0].name == "cortex");
    CHECK(regions[0].dataroot == fs::path("/data/brain1"));
    CHECK(regions[0].start == Index3{30, 20, 10});
    CHECK(regions[0].end == Index3{330, 220, 110});
    CHECK(regions[1].name == "thalamus");
    CHECK(regions[1].dataroot == ini.path.parent_path() / "slices/brain2");
    CHECK(regions[1].start == Index3{0, 0, 0});
    CHECK(regions[1].end == Index3{7, 0, 5});  // empty in y: allowed
}

TEST_CASE("segpoints.ini: malformed files name the file and the line") {
    CHECK_THROWS_WITH_AS(read_segpoints_ini("/no/such/segpoints.ini"),
                         doctest::Contains("/no/such/segpoints.ini: cannot open"), Error);
    rejects("[a]\ndataroot=/d\nstart_point=1,2,3\n", "1: section [a] has no end_point");
    rejects("[a]\nstart_point=1,2,3\nend_point=4,5,6\n", "1: section [a] has no dataroot");
    rejects("[a]\ndataroot=/d\nstart_point=1,two,3\nend_point=4,5,6\n",
            "3: start_point \"1,two,3\": coordinate \"two\" is not an integer");
    rejects("[a]\ndataroot=/d\nstart_point=1,2\nend_point=4,5,6\n",
            "3: start_point \"1,2\" needs three coordinates x,y,z");
    rejects("[a]\ndataroot=/d\nstart_point=1,2,3,4\nend_point=4,5,6\n",
            "3: start_point \"1,2,3,4\": coordinate \"3,4\" is not an integer");
    rejects("[a]\ndataroot=/d\nstart_point=1,2,3\nend_point=4,-5,6\n",
            "4: end_point \"4,-5,6\": coordinate -5 is negative");
    rejects("[a]\ndataroot=/d\nstart_point=1,9,3\nend_point=4,5,6\n",
            "4: [a] has start_point > end_point in y (9 > 5)");
    rejects("[a]\ndataroot=/d\nstart_point=1,2,3\nend_point=4,5,6\n[a]\n",
            "5: section [a] given twice (first at line 1)");
    rejects("[a]\ndataroot=/d\nDataRoot=/e\n", "3: key dataroot given twice in one section (first at line 2)");
    rejects("dataroot=/d\n[a]\n", "1: `dataroot=/d` comes before any [section]");
    rejects("[a]\njust some words\n", "2: expected `key = value`, found \"just some words\"");
    rejects("[a\n", "1: unclosed section header \"[a\"");
}
