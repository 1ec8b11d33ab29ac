// `axonseg synth`: a synthetic light-sheet axon volume with its exact ground truth
// (prep/synth.hpp), written as DIR/volume.tiff (uint16), DIR/label.tiff and DIR/centerline.tiff
// (uint8 0/255), or with --layout slices as folders of 2-d slices under the same names; --preview
// adds a PNG of the volume's maximum-intensity projection beside it with the label in red.
// Existing outputs are never replaced unless --overwrite; all three are checked before generating.
#include "command.hpp"

#include "axonseg/io/png_preview.hpp"
#include "axonseg/io/slice_folder.hpp"
#include "axonseg/io/tiff_write.hpp"
#include "axonseg/prep/synth.hpp"

#include <chrono>
#include <cstdio>
#include <sstream>

namespace axonseg::cli {

namespace {

// "Z,Y,X" with three positive integers; a usage error otherwise.
Index3 parse_shape(const std::string& s) {
    std::istringstream in(s);
    Index v[3] = {0, 0, 0};
    char comma1 = 0, comma2 = 0;
    in >> v[0] >> comma1 >> v[1] >> comma2 >> v[2];
    if (!in || comma1 != ',' || comma2 != ',' || in.peek() != EOF)
        throw boost::program_options::error("--shape must be Z,Y,X (three integers), got '" + s + "'");
    return {v[0], v[1], v[2]};
}

}  // namespace

int run_synth(const Args& args) {
    namespace po = boost::program_options;
    std::string out_dir, shape_text, layout = "stack", preview;
    prep::SynthParams p;
    bool overwrite = false;
    po::options_description options("synth options");
    options.add_options()
        ("out", po::value(&out_dir)->required(), "folder for volume, label and centerline; created if missing")
        ("shape", po::value(&shape_text)->required(), "Z,Y,X in voxels, e.g. 128,256,256")
        ("seed", po::value(&p.seed)->default_value(p.seed), "random seed: the same seed gives identical files")
        ("layout", po::value(&layout)->default_value(layout),
         "stack (one multi-page TIFF each) or slices (a folder of 0000.tiff, ... each)")
        ("density", po::value(&p.density)->default_value(p.density), "axon length per 1000 voxels")
        ("artifacts", po::value(&p.artifacts)->default_value(p.artifacts),
         "strength of stripes, blobs and the tissue edge; 0 for none")
        ("preview", po::value(&preview), "also write this PNG: the volume's z-projection, and beside it with the label")
        ("overwrite", po::bool_switch(&overwrite), "replace existing outputs");
    po::variables_map vm;
    if (!parse(args,
               "usage: axonseg synth --out DIR --shape Z,Y,X [options]\n"
               "Generates a synthetic light-sheet volume of axons with its exact label and centreline.",
               options, vm))
        return 0;
    if (layout != "stack" && layout != "slices")
        throw po::error("--layout must be stack or slices, got '" + layout + "'");
    p.shape = parse_shape(shape_text);
    prep::check_synth_params(p);  // before anything is printed or written
    const bool slices = layout == "slices";
    const std::filesystem::path dir(out_dir);
    const auto target = [&](const char* name) {
        return dir / (slices ? std::string(name) : std::string(name) + ".tiff");
    };
    std::error_code ec;
    for (const char* name : {"volume", "label", "centerline"})
        if (!overwrite && std::filesystem::exists(target(name), ec))
            AXONSEG_FAIL(target(name).string(), " already exists; not replacing it (--overwrite to replace)");

    std::printf("synth: %s voxels, seed %llu, density %g, artifacts %g ...\n", shape_text.c_str(),
                static_cast<unsigned long long>(p.seed), p.density, p.artifacts);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    const prep::SynthVolume v = prep::synthesize(p);
    const double generated_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::filesystem::create_directories(dir, ec);
    if (ec) AXONSEG_FAIL(dir.string(), ": cannot create the folder (", ec.message(), ")");
    const auto write = [&](const char* name, const auto& t) {
        if (slices) io::write_slice_folder(target(name), t.view());
        else io::write_tiff_stack(target(name), t.view());
    };
    write("volume", v.volume);
    write("label", v.label);
    write("centerline", v.centerline);
    if (!preview.empty()) io::write_preview(preview, v.volume.view(), v.label.view());
    Index labelled = 0;
    for (Index i = 0; i < v.label.numel(); ++i) labelled += v.label.data()[i] != 0;
    std::printf("synth: generated in %.2f s; %.3f %% of voxels labelled; wrote %s, %s, %s\n", generated_s,
                100.0 * double(labelled) / double(v.label.numel()), target("volume").string().c_str(),
                target("label").string().c_str(), target("centerline").string().c_str());
    return 0;
}

}  // namespace axonseg::cli
