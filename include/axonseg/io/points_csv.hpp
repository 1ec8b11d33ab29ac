// Cube centre points from an ImageJ "Results" table saved as CSV (pipeline §1), e.g.
//    ,Area,Mean,Min,Max,X,Y,Slice
//   1,0,2673,2673,2673,221.500,300.500,22
// The X (column), Y (row) and Slice (z) columns are found by header name, wherever they are;
// other columns are ignored. X and Y may be fractional and are truncated toward zero, as the
// original's int(float(...)) does; Slice is kept as written (what it counts from is the cropper's
// choice, see prep/crop.hpp). Every problem is an Error naming the file and the line.
#pragma once

#include "axonseg/core/error.hpp"
#include "axonseg/core/shape.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <vector>

namespace axonseg::io {

struct CentrePoint {
    Index x = 0, y = 0, slice = 0;  // column, row, slice as written (truncated)
    Index line = 0;                 // 1-based line of the CSV, for messages
};

namespace detail {

inline std::string trim_field(std::string s) {
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && blank(s.back())) s.pop_back();
    std::size_t b = 0;
    while (b < s.size() && blank(s[b])) ++b;
    s.erase(0, b);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
}

inline std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = line.find(',', start);
        fields.push_back(trim_field(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos) return fields;
        start = comma + 1;
    }
}

}  // namespace detail

// Parses the CSV text of `in`; `name` (the file) is used in messages. Requires a header line with
// X, Y and Slice columns. Ensures one point per non-blank data line, in file order.
inline std::vector<CentrePoint> parse_points_csv(std::istream& in, const std::string& name) {
    std::string line;
    Index line_no = 0;
    std::vector<std::string> header;
    while (header.empty() && std::getline(in, line)) {
        ++line_no;
        if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte order mark
        if (detail::trim_field(line).empty()) continue;
        header = detail::split_csv_line(line);
    }
    if (header.empty()) AXONSEG_FAIL(name, ": empty file, expected an ImageJ Results table with X, Y and Slice columns");
    const auto column = [&](const char* wanted) {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (header[i] == wanted) return i;
        AXONSEG_FAIL(name, ": line ", line_no, ": no '", wanted, "' column in the header '", line,
                     "' (expected an ImageJ Results table with X, Y and Slice columns)");
    };
    const std::size_t cx = column("X"), cy = column("Y"), cz = column("Slice");
    std::vector<CentrePoint> points;
    while (std::getline(in, line)) {
        ++line_no;
        if (detail::trim_field(line).empty()) continue;
        const std::vector<std::string> fields = detail::split_csv_line(line);
        if (fields.size() != header.size())
            AXONSEG_FAIL(name, ": line ", line_no, ": ", fields.size(), " fields, the header has ", header.size());
        const auto number = [&](std::size_t c) {
            const std::string& text = fields[c];
            std::size_t used = 0;
            double v = NAN;
            try {
                v = std::stod(text, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (text.empty() || used != text.size() || !std::isfinite(v) || std::abs(v) > 1e15)
                AXONSEG_FAIL(name, ": line ", line_no, ": ", header[c], " '", text, "' is not a number");
            return Index(std::trunc(v));
        };
        points.push_back({.x = number(cx), .y = number(cy), .slice = number(cz), .line = line_no});
    }
    return points;
}

// The points of an ImageJ Results CSV file; throws naming the file when it cannot be read.
inline std::vector<CentrePoint> read_points_csv(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) AXONSEG_FAIL(file.string(), ": no such file");
    std::ifstream in(file);
    if (!in) AXONSEG_FAIL(file.string(), ": cannot open for reading");
    return parse_points_csv(in, file.string());
}

}  // namespace axonseg::io
