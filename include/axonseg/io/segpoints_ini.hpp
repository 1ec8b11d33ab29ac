// segpoints.ini: the regions of a whole brain that D-LMBmap segments, one INI section each:
//   [name]
//   dataroot = /data/brain1/slices
//   start_point = x,y,z
//   end_point = x,y,z
// The decision a reader would get wrong: the file writes points as x,y,z (column, row, slice);
// Region stores them as Index3 in our (D,H,W) order, so start.d is the file's z and start.w its x.
// A region is the half-open box [start, end) per axis, as the Python slicing of the original
// (volume[z0:z1, y0:y1, x0:x1]); start <= end is required, start == end is an empty region.
// The syntax is the subset of Python's configparser these files use: `key = value` or
// `key: value`, `#` and `;` comment lines, case-insensitive keys, a [DEFAULT] section whose keys
// every region inherits. Unknown keys are ignored; everything else wrong is an Error naming the
// file and the line.
#pragma once

#include "axonseg/core/shape.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace axonseg::io {

struct Region {
    std::string name;                // the section name
    std::filesystem::path dataroot;  // relative paths are resolved against the .ini's folder
    Index3 start;                    // (z,y,x) = (d,h,w): the file's x,y,z reversed
    Index3 end;                      // exclusive, same order
};

namespace detail {

inline std::string trim(std::string_view s) {
    const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return std::string(s);
}

// A value with the line it came from, for messages.
struct IniValue {
    std::string text;
    int line = 0;
};

// Parses "x,y,z" (spaces allowed) into (z,y,x); throws naming file, line and key otherwise.
inline Index3 parse_point(const IniValue& v, const std::string& where, const std::string& key) {
    Index xyz[3] = {};
    std::string_view rest = v.text;
    for (int i = 0; i < 3; ++i) {
        const std::size_t comma = i < 2 ? rest.find(',') : std::string_view::npos;
        if (i < 2 && comma == std::string_view::npos)
            AXONSEG_FAIL(where, v.line, ": ", key, " \"", v.text, "\" needs three coordinates x,y,z");
        const std::string part = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), xyz[i]);
        if (part.empty() || ec != std::errc() || end != part.data() + part.size())
            AXONSEG_FAIL(where, v.line, ": ", key, " \"", v.text, "\": coordinate \"", part,
                         "\" is not an integer");
        if (xyz[i] < 0)
            AXONSEG_FAIL(where, v.line, ": ", key, " \"", v.text, "\": coordinate ", xyz[i], " is negative");
    }
    return {xyz[2], xyz[1], xyz[0]};
}

}  // namespace detail

// Reads every region section of `file`, in file order. Requires each to have dataroot,
// start_point and end_point (own or from [DEFAULT]), with non-negative integer coordinates and
// start <= end on every axis. Throws naming the file and line for a missing key, a malformed
// line or coordinate, start > end, and a section or key given twice.
inline std::vector<Region> read_segpoints_ini(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) AXONSEG_FAIL(file.string(), ": cannot open (", std::strerror(errno), ")");
    const std::string where = file.string() + ":";

    using Section = std::map<std::string, detail::IniValue>;
    std::vector<std::pair<detail::IniValue, Section>> sections;  // name (with its line), keys
    Section defaults;
    Section* current = nullptr;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string text = detail::trim(line);
        if (text.empty() || text[0] == '#' || text[0] == ';') continue;
        if (text.front() == '[') {
            if (text.back() != ']') AXONSEG_FAIL(where, number, ": unclosed section header \"", text, "\"");
            const std::string name = detail::trim(std::string_view(text).substr(1, text.size() - 2));
            if (name.empty()) AXONSEG_FAIL(where, number, ": empty section name");
            if (name == "DEFAULT") {
                current = &defaults;
                continue;
            }
            for (const auto& [seen, keys] : sections)
                if (seen.text == name)
                    AXONSEG_FAIL(where, number, ": section [", name, "] given twice (first at line ", seen.line, ")");
            current = &sections.emplace_back(detail::IniValue{name, number}, Section{}).second;
            continue;
        }
        const std::size_t split = text.find_first_of("=:");
        if (split == std::string::npos || split == 0)
            AXONSEG_FAIL(where, number, ": expected `key = value`, found \"", text, "\"");
        if (!current) AXONSEG_FAIL(where, number, ": `", text, "` comes before any [section]");
        std::string key = detail::trim(std::string_view(text).substr(0, split));
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        const auto [at, fresh] = current->try_emplace(key, detail::IniValue{detail::trim(text.substr(split + 1)), number});
        if (!fresh) AXONSEG_FAIL(where, number, ": key ", key, " given twice in one section (first at line ", at->second.line, ")");
    }

    std::vector<Region> regions;
    for (const auto& [header, own] : sections) {
        const auto value = [&](const std::string& key) -> const detail::IniValue& {
            if (const auto it = own.find(key); it != own.end()) return it->second;
            if (const auto it = defaults.find(key); it != defaults.end()) return it->second;
            AXONSEG_FAIL(where, header.line, ": section [", header.text, "] has no ", key);
        };
        Region r;
        r.name = header.text;
        const detail::IniValue& root = value("dataroot");
        if (root.text.empty()) AXONSEG_FAIL(where, root.line, ": dataroot of [", header.text, "] is empty");
        r.dataroot = std::filesystem::path(root.text);
        if (r.dataroot.is_relative()) r.dataroot = file.parent_path() / r.dataroot;
        r.start = detail::parse_point(value("start_point"), where, "start_point");
        const detail::IniValue& end = value("end_point");
        r.end = detail::parse_point(end, where, "end_point");
        for (int axis = 0; axis < 3; ++axis)
            if (r.start[axis] > r.end[axis])
                AXONSEG_FAIL(where, end.line, ": [", header.text, "] has start_point > end_point in ", "zyx"[axis],
                             " (", r.start[axis], " > ", r.end[axis], ")");
        regions.push_back(std::move(r));
    }
    return regions;
}

}  // namespace axonseg::io
