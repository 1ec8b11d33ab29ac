// `axonseg crop`: training cubes around the centre points of an ImageJ Results CSV, cut from a
// folder of TIFF slices (prep/crop.hpp), with the high-pass label when asked. Prints one line per
// cube. Cubes that leave the volume stop the run unless --out-of-bounds says pad or skip.
#include "command.hpp"

#include "axonseg/io/points_csv.hpp"
#include "axonseg/prep/crop.hpp"

#include <cstdio>

namespace axonseg::cli {

namespace {

prep::OutOfBounds parse_out_of_bounds(const std::string& s) {
    if (s == "error") return prep::OutOfBounds::error;
    if (s == "pad") return prep::OutOfBounds::pad;
    if (s == "skip") return prep::OutOfBounds::skip;
    throw boost::program_options::error("--out-of-bounds must be error, pad or skip, got '" + s + "'");
}

}  // namespace

prep::BlurPlane parse_blur_plane(const std::string& s) {
    if (s == "zy") return prep::BlurPlane::zy;
    if (s == "yx") return prep::BlurPlane::yx;
    if (s == "zyx") return prep::BlurPlane::zyx;
    throw boost::program_options::error("--blur-plane must be zy, yx or zyx, got '" + s + "'");
}

int run_crop(const Args& args) {
    namespace po = boost::program_options;
    std::string slices_dir, points_csv, out_dir, out_of_bounds = "error", blur_plane = "zy";
    prep::CropParams p;
    po::options_description options("crop options");
    options.add_options()
        ("slices", po::value(&slices_dir)->required(), "folder of 2-d uint16 TIFF slices (sorted name order is z)")
        ("points", po::value(&points_csv)->required(), "ImageJ Results CSV with X, Y and Slice columns")
        ("out", po::value(&out_dir)->required(), "folder for volume-<N>.tiff (and label-<N>.tiff); created if missing")
        ("size", po::value(&p.size)->default_value(150), "cube edge in voxels")
        ("start-index", po::value(&p.start_index)->default_value(1000), "N of the first point's files")
        ("slice-base", po::value(&p.slice_base)->default_value(0),
         "what the Slice column counts from: 0 as the original, 1 as ImageJ numbers slices")
        ("labels", po::bool_switch(), "also write label-<N>.tiff, the high-pass response")
        ("blur-plane", po::value(&blur_plane)->default_value("zy"),
         "the labels' 3x3 blur: zy (the original: cv2 on the cube), yx (per slice) or zyx (3-d)")
        ("out-of-bounds", po::value(&out_of_bounds)->default_value("error"),
         "a cube leaving the volume: error (stop before writing), pad (zeros) or skip")
        ("overwrite", po::bool_switch(&p.overwrite), "replace existing output files");
    po::variables_map vm;
    if (!parse(args,
               "usage: axonseg crop --slices DIR --points CSV --out DIR [options]\n"
               "Cuts a cube around every point: rows Y-size/2 ..., columns X-size/2 ..., slices Slice-size/2 ...",
               options, vm))
        return 0;
    if (p.slice_base != 0 && p.slice_base != 1)
        throw po::error("--slice-base must be 0 or 1, got " + std::to_string(p.slice_base));
    p.out_of_bounds = parse_out_of_bounds(out_of_bounds);
    const prep::BlurPlane plane = parse_blur_plane(blur_plane);
    if (vm["labels"].as<bool>()) p.labels = plane;

    const io::SliceFolder slices(slices_dir);
    const std::vector<io::CentrePoint> points = io::read_points_csv(points_csv);
    std::printf("%s: %lld x %lld x %lld slices; %zu points\n", slices_dir.c_str(), static_cast<long long>(slices.depth()),
                static_cast<long long>(slices.height()), static_cast<long long>(slices.width()), points.size());
    Index written = 0;
    const auto report = [&](const prep::CubeOutcome& o) {
        const char* fate = o.fate == prep::CubeFate::written ? "written"
                           : o.fate == prep::CubeFate::padded ? "written, zero-padded"
                                                              : "skipped";
        written += o.fate != prep::CubeFate::skipped;
        std::printf("volume-%lld (point %lld, line %lld): %s%s%s\n", static_cast<long long>(o.number),
                    static_cast<long long>(o.point + 1), static_cast<long long>(points[std::size_t(o.point)].line),
                    fate, o.why.empty() ? "" : ": ", o.why.c_str());
        std::fflush(stdout);
    };
    prep::crop_cubes(slices, points, out_dir, p, report);
    std::printf("%lld of %zu cubes written to %s\n", static_cast<long long>(written), points.size(), out_dir.c_str());
    return 0;
}

}  // namespace axonseg::cli
