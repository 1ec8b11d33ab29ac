// axonseg: git-style subcommands over the library. `axonseg <command> --help` describes each.
// Errors from the library (axonseg::Error) are printed with the subcommand's name; exit codes:
// 0 success, 1 a failure while working, 2 a usage error.
#include "command.hpp"

#include "axonseg/core/error.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>

namespace axonseg::cli {

std::span<const Command> commands() {
    static const Command table[] = {
        {"info", "show how this axonseg was built and what hardware it sees", run_info},
        {"crop", "cut training cubes around ImageJ-marked points from a slice folder", run_crop},
        {"annotate", "make a cube's rough (thresholded) or fine (thinned) label", run_annotate},
        {"make-dataset", "cut augmented training crops from axon and artefact cubes (nnU-Net or axonseg format)",
         run_make_dataset},
        {"synth", "generate a synthetic axon volume with its exact label and centreline", run_synth},
    };
    return table;
}

bool parse(const Args& args, const char* usage, const boost::program_options::options_description& options,
           boost::program_options::variables_map& vm,
           const boost::program_options::positional_options_description* positional) {
    namespace po = boost::program_options;
    po::options_description help;
    help.add_options()("help,h", "show this help");
    po::options_description all;
    all.add(options).add(help);
    po::command_line_parser parser(args);
    parser.options(all);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
        std::printf("%s\n\n", usage);
        std::ostringstream text;
        if (!options.options().empty()) text << options << '\n';
        text << help;
        std::printf("%s", text.str().c_str());
        return false;
    }
    po::notify(vm);
    return true;
}

namespace {

void print_usage() {
    std::printf("usage: axonseg <command> [options]   (axonseg <command> --help for its options)\n\ncommands:\n");
    for (const Command& c : commands()) std::printf("  %-14s %s\n", c.name, c.summary);
}

}  // namespace
}  // namespace axonseg::cli

int main(int argc, char** argv) {
    using namespace axonseg::cli;
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        print_usage();
        return argc < 2 ? 2 : 0;
    }
    for (const Command& c : commands()) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            return c.run(Args(argv + 2, argv + argc));
        } catch (const boost::program_options::error& e) {
            std::fprintf(stderr, "axonseg %s: %s (see axonseg %s --help)\n", c.name, e.what(), c.name);
            return 2;
        } catch (const axonseg::Error& e) {
            std::fprintf(stderr, "axonseg %s: error: %s\n", c.name, e.what());
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "axonseg %s: unexpected error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "axonseg: unknown command '%s'\n", argv[1]);
    print_usage();
    return 2;
}
