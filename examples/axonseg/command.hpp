// The `axonseg` command's subcommands: each is a name, a one-line summary and a function that
// takes the arguments after the subcommand's name. Subcommands parse with Boost.Program_options,
// print their own --help, and let axonseg::Error propagate: main() prints it and returns 1.
#pragma once

#include <boost/program_options.hpp>

#include <span>
#include <string>
#include <vector>

namespace axonseg::prep {
enum class BlurPlane;  // prep/high_pass.hpp
}

namespace axonseg::cli {

using Args = std::vector<std::string>;

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const Args& args);
};

// Every subcommand, in the order `axonseg --help` lists them.
std::span<const Command> commands();

// Parses args into vm; returns false (after printing usage) when --help was asked for.
// Throws boost::program_options::error on unknown or malformed options.
bool parse(const Args& args, const char* usage, const boost::program_options::options_description& options,
           boost::program_options::variables_map& vm,
           const boost::program_options::positional_options_description* positional = nullptr);

int run_info(const Args& args);
int run_crop(const Args& args);
int run_annotate(const Args& args);
int run_synth(const Args& args);
int run_make_dataset(const Args& args);

// "zy", "yx" or "zyx" (crop --blur-plane, annotate rough --blur-plane); a usage error otherwise.
prep::BlurPlane parse_blur_plane(const std::string& s);

}  // namespace axonseg::cli
