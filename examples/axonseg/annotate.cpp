// `axonseg annotate rough|fine`: the two automatic annotation steps of a training cube.
// rough: a cube's high-pass response (prep/high_pass.hpp) binarised with a given or automatic
// threshold (prep/threshold.hpp) into the 0/255 "Rough-label", the step the original leaves to
// ImageJ. fine: small specks removed, thinned and widened again (prep/fine_label.hpp).
// Outputs are written through a temporary name and never replace an existing file unless asked.
#include "command.hpp"

#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/fine_label.hpp"
#include "axonseg/prep/high_pass.hpp"
#include "axonseg/prep/threshold.hpp"

#include <cstdio>

namespace axonseg::cli {

namespace {

void check_new_output(const std::string& output, bool overwrite) {
    std::error_code ec;
    if (!overwrite && std::filesystem::exists(output, ec))
        AXONSEG_FAIL(output, " already exists; not replacing it (--overwrite to replace)");
}

Index count_foreground(ConstView<std::uint8_t> mask) {
    Index n = 0;
    for (Index i = 0; i < mask.numel(); ++i) n += mask.data()[i] != 0;
    return n;
}

void print_foreground(const std::string& output, ConstView<std::uint8_t> mask) {
    const Index n = count_foreground(mask);
    std::printf("%s: %lld foreground voxels of %lld (%.4f %%)\n", output.c_str(), static_cast<long long>(n),
                static_cast<long long>(mask.numel()), 100.0 * double(n) / double(mask.numel()));
}

int run_rough(const Args& args) {
    namespace po = boost::program_options;
    std::string input, output, automatic, blur_plane = "zy";
    int threshold = -1;
    bool from_response = false, overwrite = false;
    po::options_description options("annotate rough options");
    options.add_options()
        ("input", po::value(&input)->required(), "uint16 cube (volume-<N>.tiff), or its response with --from-response")
        ("output", po::value(&output)->required(), "the rough label to write: uint8 0/255")
        ("threshold", po::value(&threshold), "foreground = response > T (0 ... 65535)")
        ("auto", po::value(&automatic), "pick T from the response: otsu, triangle or percentile:P")
        ("blur-plane", po::value(&blur_plane)->default_value("zy"),
         "the response's 3x3 blur: zy (the original), yx (per slice) or zyx (3-d)")
        ("from-response", po::bool_switch(&from_response), "the input already is a high-pass response (label-<N>.tiff)")
        ("overwrite", po::bool_switch(&overwrite), "replace an existing output file");
    po::variables_map vm;
    if (!parse(args,
               "usage: axonseg annotate rough --input V.tiff --output R.tiff (--threshold T | --auto otsu|triangle|percentile:P)",
               options, vm))
        return 0;
    if (vm.count("threshold") == vm.count("auto"))
        throw po::error("give exactly one of --threshold and --auto");
    if (vm.count("threshold") && (threshold < 0 || threshold > 65535))
        throw po::error("--threshold must be in 0 ... 65535, got " + std::to_string(threshold));
    const prep::BlurPlane plane = parse_blur_plane(blur_plane);
    const prep::AutoThreshold rule = vm.count("auto") ? prep::parse_auto_threshold(automatic) : prep::AutoThreshold{};
    check_new_output(output, overwrite);

    Tensor<std::uint16_t> cube = io::read_tiff_stack<std::uint16_t>(input);  // (D,H,W)
    const Tensor<std::uint16_t> response = from_response ? std::move(cube) : prep::high_pass_response(cube, plane);
    const std::uint16_t t = vm.count("threshold") ? std::uint16_t(threshold) : prep::auto_threshold(response, rule);
    std::printf("threshold: response > %d (%s)\n", int(t), vm.count("auto") ? automatic.c_str() : "given");
    const Tensor<std::uint8_t> rough = prep::binarize(response, t);  // (D,H,W)
    io::write_tiff_stack(output, rough.view());
    print_foreground(output, rough);
    return 0;
}

int run_fine(const Args& args) {
    namespace po = boost::program_options;
    std::string input, output;
    prep::FineLabelParams params;
    bool overwrite = false;
    po::options_description options("annotate fine options");
    options.add_options()
        ("input", po::value(&input)->required(), "the rough label: uint8, non-zero = foreground")
        ("output", po::value(&output)->required(), "the fine label to write: uint8 0/255")
        ("min-size", po::value(&params.min_size)->default_value(10),
         "drop 26-connected components of fewer voxels before thinning")
        ("overwrite", po::bool_switch(&overwrite), "replace an existing output file");
    po::variables_map vm;
    if (!parse(args, "usage: axonseg annotate fine --input R.tiff --output F.tiff [--min-size 10]", options, vm))
        return 0;
    if (params.min_size < 0) throw po::error("--min-size must be >= 0, got " + std::to_string(params.min_size));
    check_new_output(output, overwrite);
    const Tensor<std::uint8_t> rough = io::read_tiff_stack<std::uint8_t>(input);  // (D,H,W)
    const Tensor<std::uint8_t> fine = prep::fine_label(rough, params);            // (D,H,W)
    io::write_tiff_stack(output, fine.view());
    print_foreground(output, fine);
    return 0;
}

}  // namespace

int run_annotate(const Args& args) {
    const char* usage =
        "usage: axonseg annotate rough|fine [options]   (axonseg annotate <step> --help for its options)\n"
        "  rough   binarise a cube's high-pass response: the Rough-label\n"
        "  fine    remove specks, thin and widen a rough label: the Fine-label";
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        std::printf("%s\n", usage);
        return 0;
    }
    if (args.empty() || (args[0] != "rough" && args[0] != "fine"))
        throw boost::program_options::error("expected the step 'rough' or 'fine' first" +
                                            (args.empty() ? std::string() : ", got '" + args[0] + "'"));
    const Args rest(args.begin() + 1, args.end());
    return args[0] == "rough" ? run_rough(rest) : run_fine(rest);
}

}  // namespace axonseg::cli
