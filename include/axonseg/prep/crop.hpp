// Cutting training cubes out of a whole brain (pipeline §1): a cube of edge `size` around each
// centre point, read lazily from the slice folder, written as volume-<N>.tiff (uint16) and, with
// labels, label-<N>.tiff (the high-pass response, prep/high_pass.hpp).
// NB: the original wraps a cube that starts above slice 0 around to the end of the stack
// (a negative Python index) and silently writes short cubes at the other edges. Here a cube that
// leaves the volume is an error naming the point, or is zero-padded or skipped on request: never
// wrapped, never short. All points are checked before anything is written.
// This step joins io and prep, so unlike the rest of prep it includes io.
#pragma once

#include "axonseg/io/points_csv.hpp"
#include "axonseg/io/slice_folder.hpp"
#include "axonseg/io/tiff_write.hpp"
#include "axonseg/prep/high_pass.hpp"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace axonseg::prep {

enum class OutOfBounds {
    error,  // refuse the whole run, naming the first point whose cube leaves the volume
    pad,    // read what lies inside, zeros elsewhere (a cube wholly outside is all zeros; a label
            // sees the padding's edge as a bright face)
    skip,   // write nothing for that point (its number N is still used up)
};

struct CropParams {
    Index size = 150;            // cube edge: centre - size/2 ... centre + size - size/2 - 1 per axis
    Index slice_base = 0;        // the Slice that means the first slice: 0 = the original, 1 = ImageJ
    Index start_index = 1000;    // N of the first point's volume-<N>.tiff
    OutOfBounds out_of_bounds = OutOfBounds::error;
    std::optional<BlurPlane> labels{};  // also write label-<N>.tiff with this blur; none: no labels
    bool overwrite = false;      // replace existing outputs (otherwise refuse before writing any)
};

// The cube of one point: its first voxel (z, y, x) and whether all of it lies in the volume.
struct CubeBox {
    Index z0 = 0, y0 = 0, x0 = 0, size = 0;
    bool inside = false;
};

// The box of point p's cube in a depth x height x width volume (Slice shifted by the base).
inline CubeBox cube_box(const io::CentrePoint& p, const CropParams& params, Index depth, Index height, Index width) {
    const Index half = params.size / 2;
    CubeBox b{.z0 = p.slice - params.slice_base - half, .y0 = p.y - half, .x0 = p.x - half, .size = params.size};
    const auto fits = [&](Index begin, Index extent) { return begin >= 0 && begin + b.size <= extent; };
    b.inside = fits(b.z0, depth) && fits(b.y0, height) && fits(b.x0, width);
    return b;
}

// "slices [-53, 97) leave the stack of 100 slices [0, 100)"-style text for every axis that leaves.
inline std::string describe_outside(const CubeBox& b, Index depth, Index height, Index width) {
    std::string why;
    const auto axis = [&](const char* what, Index begin, Index extent) {
        if (begin >= 0 && begin + b.size <= extent) return;
        why += axonseg::detail::concat(why.empty() ? "" : "; ", what, " [", begin, ", ", begin + b.size,
                                       ") leave [0, ", extent, ")");
    };
    axis("slices", b.z0, depth);
    axis("rows", b.y0, height);
    axis("columns", b.x0, width);
    return why;
}

// The cube at b, zeros where it leaves the volume. Requires a uint16 folder. Reads only the part
// inside (SliceFolder::read_box), slices in parallel.
inline Tensor<std::uint16_t> read_cube(const io::SliceFolder& slices, const CubeBox& b) {
    Tensor<std::uint16_t> cube = Tensor<std::uint16_t>::zeros({b.size, b.size, b.size});  // (S,S,S)
    const Index extent[3] = {slices.depth(), slices.height(), slices.width()};
    const Index begin[3] = {b.z0, b.y0, b.x0};
    Index lo[3], hi[3];
    for (int a = 0; a < 3; ++a) {
        lo[a] = std::max<Index>(begin[a], 0);
        hi[a] = std::min(begin[a] + b.size, extent[a]);
        if (lo[a] >= hi[a]) return cube;  // entirely outside: all zeros
    }
    const TensorView<std::uint16_t> inside =
        cube.box({lo[0] - begin[0], lo[1] - begin[1], lo[2] - begin[2]},
                 {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]});  // (d,h,w) of the volume's part
    slices.read_box(lo[0], lo[1], lo[2], inside);
    return cube;
}

enum class CubeFate { written, padded, skipped };

struct CubeOutcome {
    Index point = 0;   // 0-based position in the points list
    Index number = 0;  // N of volume-<N>.tiff
    CubeFate fate = CubeFate::written;
    std::string why{};  // for padded and skipped cubes: which axes leave the volume
};

inline std::filesystem::path volume_path(const std::filesystem::path& dir, Index n) {
    return dir / axonseg::detail::concat("volume-", n, ".tiff");
}
inline std::filesystem::path label_path(const std::filesystem::path& dir, Index n) {
    return dir / axonseg::detail::concat("label-", n, ".tiff");
}

// Crops every point into out_dir (created if missing) and reports each cube to `progress` as it
// is done. Throws, before writing anything, when params are invalid, the folder is not uint16, a
// cube leaves the volume under OutOfBounds::error, or an output exists and !params.overwrite.
// Every file is written through a temporary name, so a failure leaves no partial file.
inline std::vector<CubeOutcome> crop_cubes(const io::SliceFolder& slices, std::span<const io::CentrePoint> points,
                                           const std::filesystem::path& out_dir, const CropParams& params,
                                           const std::function<void(const CubeOutcome&)>& progress = {}) {
    AXONSEG_CHECK(params.size >= 1, "crop: the cube size must be at least 1, got ", params.size);
    AXONSEG_CHECK(params.start_index >= 0, "crop: the start index must be >= 0, got ", params.start_index);
    if (slices.dtype() != DType::u16)
        AXONSEG_FAIL("crop: ", slices.dir().string(), " holds ", to_string(slices.dtype()),
                     " slices; the cropper reads uint16 (what the original writes)");
    const Index D = slices.depth(), H = slices.height(), W = slices.width();
    std::vector<CubeOutcome> plan;
    std::vector<CubeBox> boxes;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const io::CentrePoint& p = points[i];
        const CubeBox b = cube_box(p, params, D, H, W);
        CubeOutcome o{.point = Index(i), .number = params.start_index + Index(i)};
        if (!b.inside) {
            o.why = describe_outside(b, D, H, W);
            if (params.out_of_bounds == OutOfBounds::error)
                AXONSEG_FAIL("crop: point ", i + 1, " of ", points.size(), " (line ", p.line, ": X ", p.x, ", Y ",
                             p.y, ", Slice ", p.slice, ", slice base ", params.slice_base, "): its ", params.size,
                             "^3 cube leaves the ", D, " x ", H, " x ", W, " volume: ", o.why,
                             " (--out-of-bounds pad or skip to go on)");
            o.fate = params.out_of_bounds == OutOfBounds::pad ? CubeFate::padded : CubeFate::skipped;
        }
        if (o.fate != CubeFate::skipped && !params.overwrite) {
            std::error_code ec;
            for (const std::filesystem::path& f :
                 {volume_path(out_dir, o.number), params.labels ? label_path(out_dir, o.number) : std::filesystem::path()})
                if (!f.empty() && std::filesystem::exists(f, ec))
                    AXONSEG_FAIL("crop: ", f.string(), " already exists; not replacing it (choose another output "
                                 "folder or start index, or allow overwriting)");
        }
        plan.push_back(o);
        boxes.push_back(b);
    }
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) AXONSEG_FAIL("crop: ", out_dir.string(), ": cannot create the folder (", ec.message(), ")");
    for (std::size_t i = 0; i < plan.size(); ++i) {
        const CubeOutcome& o = plan[i];
        if (o.fate != CubeFate::skipped) {
            const Tensor<std::uint16_t> cube = read_cube(slices, boxes[i]);  // (S,S,S)
            io::write_tiff_stack(volume_path(out_dir, o.number), cube.view());
            if (params.labels)
                io::write_tiff_stack(label_path(out_dir, o.number), high_pass_response(cube, *params.labels).view());
        }
        if (progress) progress(o);
    }
    return plan;
}

}  // namespace axonseg::prep
