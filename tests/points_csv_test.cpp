// ImageJ Results CSV -> centre points: columns by name, fractional X and Y truncated, blank lines
// and a byte order mark tolerated, and errors that name the file and the line.
#include "support/checks.hpp"

#include "axonseg/io/points_csv.hpp"

#include <sstream>

using namespace axonseg;
using namespace axonseg::io;

namespace {

std::vector<CentrePoint> parse(const std::string& text) {
    std::istringstream in(text);
    return parse_points_csv(in, "points.csv");
}

}  // namespace

TEST_CASE("an ImageJ Results table gives X, Y and Slice, truncated") {
    const auto p = parse(" ,Area,Mean,Min,Max,X,Y,Slice\n"
                         "1,0,2673,2673,2673,221.500,300.500,22\r\n"
                         "\n"
                         "2,0,100,100,100,75,74.999,142\n"
                         "3,0,1,1,1,0.9,599.2,260\n");
    REQUIRE(p.size() == 3);
    CHECK(p[0].x == 221);
    CHECK(p[0].y == 300);
    CHECK(p[0].slice == 22);
    CHECK(p[0].line == 2);
    CHECK(p[1].y == 74);
    CHECK(p[1].line == 4);
    CHECK(p[2].x == 0);
    CHECK(p[2].slice == 260);
}

TEST_CASE("columns are found by name in any order, quoted or after a byte order mark") {
    const auto p = parse("\xEF\xBB\xBF\"Slice\",\"Y\",\"X\"\n\"5\",\"6.7\",\"8.9\"\n");
    REQUIRE(p.size() == 1);
    CHECK(p[0].slice == 5);
    CHECK(p[0].y == 6);
    CHECK(p[0].x == 8);
    CHECK(parse(" ,X,Y,Slice\n").empty());
}

TEST_CASE("points CSV errors name the file and the line") {
    CHECK_THROWS_WITH_AS(parse(""), doctest::Contains("points.csv: empty file"), Error);
    CHECK_THROWS_WITH_AS(parse(" ,Area,X,Y\n1,0,3,4\n"),
                         doctest::Contains("points.csv: line 1: no 'Slice' column in the header ' ,Area,X,Y'"), Error);
    CHECK_THROWS_WITH_AS(parse(" ,X,Y,Slice\n1,3,4,5\n2,3,abc,5\n"),
                         doctest::Contains("points.csv: line 3: Y 'abc' is not a number"), Error);
    CHECK_THROWS_WITH_AS(parse(" ,X,Y,Slice\n1,3,4\n"),
                         doctest::Contains("points.csv: line 2: 3 fields, the header has 4"), Error);
    CHECK_THROWS_WITH_AS(parse(" ,X,Y,Slice\n1,3,4,\n"),
                         doctest::Contains("points.csv: line 2: Slice '' is not a number"), Error);
    CHECK_THROWS_WITH_AS(read_points_csv("/nonexistent/points.csv"),
                         doctest::Contains("/nonexistent/points.csv: no such file"), Error);
}

TEST_CASE("read_points_csv reads a file") {
    const std::filesystem::path file = std::filesystem::temp_directory_path() / "axonseg_points_csv_test.csv";
    {
        std::ofstream out(file);
        out << " ,Area,Mean,Min,Max,X,Y,Slice\n1,0,0,0,0,10.5,20.5,3\n";
    }
    const auto p = read_points_csv(file);
    std::filesystem::remove(file);
    REQUIRE(p.size() == 1);
    CHECK(p[0].x == 10);
    CHECK(p[0].y == 20);
    CHECK(p[0].slice == 3);
}
