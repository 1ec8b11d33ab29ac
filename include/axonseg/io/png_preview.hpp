// PNG previews: a volume's maximum-intensity projection (MIP) scaled to 8 bits, a mask blended over
// it in colour, and the two side by side in one file, for a quick look at an input and its
// prediction. Written with libpng's simplified API (png_image_*), which reports errors in a message
// instead of longjmp, through a temporary name renamed into place (AtomicFile).
// The decision a reader would get wrong: the grey levels are not min..max of the volume but the
// 0.1% and 99.9% percentiles of the projected image, so a few saturated voxels (or a dark
// background that fills most of the picture) do not wash the axons out.
#pragma once

#include "axonseg/core/parallel.hpp"
#include "axonseg/core/tensor.hpp"
#include "axonseg/io/atomic_file.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <vector>

namespace axonseg::io {

template <class T>
concept PreviewElement = std::same_as<T, std::uint8_t> || std::same_as<T, std::uint16_t> || std::same_as<T, float>;

enum class ProjectionAxis { d, h, w };  // the axis the maximum is taken along

struct Rgb {
    std::uint8_t r = 0, g = 0, b = 0;
};

constexpr Rgb k_mask_colour{255, 0, 0};
constexpr double k_mask_opacity = 0.6;     // of a full (255) mask pixel over the grey image
constexpr double k_percentile_low = 0.001;  // grey 0
constexpr double k_percentile_high = 0.999;  // grey 255
constexpr Index k_preview_gap = 4;           // black columns between the two halves of a preview

namespace detail {

// Requires `pixels` to hold height rows of width * channels bytes. Ensures `file` is that PNG.
inline void write_png(const std::filesystem::path& file, const std::uint8_t* pixels, Index height, Index width,
                      int channels) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = png_uint_32(width);
    image.height = png_uint_32(height);
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    AtomicFile target(file);
    if (!png_image_write_to_file(&image, target.temp_path().c_str(), 0, pixels, 0, nullptr))
        AXONSEG_FAIL(file.string(), ": cannot write the PNG (libpng: ", image.message, ")");
    target.commit();
}

// The plain maximum along `axis` of volume (D,H,W), in T: (H,W), (D,W) or (D,H).
// Output rows run in parallel; each is the running maximum over the projected axis.
template <PreviewElement T>
Tensor<T> project_max(ConstView<T> volume, ProjectionAxis axis) {
    const Index d = volume.dim(0), h = volume.dim(1), w = volume.dim(2);
    const int a = axis == ProjectionAxis::d ? 0 : axis == ProjectionAxis::h ? 1 : 2;
    const Index rows = a == 0 ? h : d, cols = a == 2 ? h : w, depth = volume.dim(a);
    Tensor<T> out(Shape{rows, cols});  // (rows,cols)
    // (row, k along the axis, col) -> (z, y, x)
    const auto at = [&](Index r, Index k, Index c) -> const T& {
        return a == 0 ? volume(k, r, c) : a == 1 ? volume(r, k, c) : volume(r, c, k);
    };
    parallel_for(0, rows, [&](Index r) {
        for (Index c = 0; c < cols; ++c) out(r, c) = at(r, 0, c);
        for (Index k = 1; k < depth; ++k)
            for (Index c = 0; c < cols; ++c)
                if (at(r, k, c) > out(r, c)) out(r, c) = at(r, k, c);
    });
    return out;
}

}  // namespace detail

// Writes image (H,W), any strides, as an 8-bit grey PNG. Throws naming the file.
inline void write_png_gray(const std::filesystem::path& file, ConstView<std::uint8_t> image) {
    AXONSEG_CHECK(image.rank() == 2 && image.numel() > 0, "write_png_gray: ", file.string(), ": image ",
                  image.shape(), " must be a non-empty (H,W)");
    const Index h = image.dim(0), w = image.dim(1);
    std::vector<std::uint8_t> packed(std::size_t(h * w));
    for (Index y = 0; y < h; ++y)
        for (Index x = 0; x < w; ++x) packed[std::size_t(y * w + x)] = image(y, x);
    detail::write_png(file, packed.data(), h, w, 1);
}

// Writes image (H,W,3), any strides, as an 8-bit RGB PNG. Throws naming the file.
inline void write_png_rgb(const std::filesystem::path& file, ConstView<std::uint8_t> image) {
    AXONSEG_CHECK(image.rank() == 3 && image.numel() > 0 && image.dim(2) == 3, "write_png_rgb: ", file.string(),
                  ": image ", image.shape(), " must be a non-empty (H,W,3)");
    const Index h = image.dim(0), w = image.dim(1);
    std::vector<std::uint8_t> packed(std::size_t(h * w * 3));
    for (Index y = 0; y < h; ++y)
        for (Index x = 0; x < w; ++x)
            for (Index c = 0; c < 3; ++c) packed[std::size_t((y * w + x) * 3 + c)] = image(y, x, c);
    detail::write_png(file, packed.data(), h, w, 3);
}

// The maximum-intensity projection of volume (D,H,W) along `axis` ((H,W) for d, (D,W) for h,
// (D,H) for w), scaled so the projection's 0.1% percentile is 0 and its 99.9% percentile 255
// (clamped; nearest-rank percentiles). A flat projection maps to 0, or 255 where above the
// percentile, so a sparse mask still shows. NaN becomes 0.
template <class T>
    requires PreviewElement<std::remove_const_t<T>>
Tensor<std::uint8_t> max_projection(TensorView<T> volume, ProjectionAxis axis = ProjectionAxis::d) {
    AXONSEG_CHECK(volume.rank() == 3 && volume.numel() > 0, "max_projection: volume ", volume.shape(),
                  " must be a non-empty (D,H,W)");
    const Tensor<std::remove_const_t<T>> mip =
        detail::project_max(ConstView<std::remove_const_t<T>>(volume), axis);  // (rows,cols)
    std::vector<double> values(std::size_t(mip.numel()));
    std::size_t n = 0;
    for (Index i = 0; i < mip.numel(); ++i)
        if (!std::isnan(double(mip.data()[i]))) values[n++] = double(mip.data()[i]);
    double lo = 0, hi = 0;
    if (n > 0) {
        const auto rank_of = [&](double q) { return values.begin() + std::ptrdiff_t(std::lround(q * double(n - 1))); };
        std::nth_element(values.begin(), rank_of(k_percentile_low), values.begin() + std::ptrdiff_t(n));
        lo = *rank_of(k_percentile_low);
        std::nth_element(values.begin(), rank_of(k_percentile_high), values.begin() + std::ptrdiff_t(n));
        hi = *rank_of(k_percentile_high);
    }
    Tensor<std::uint8_t> out(mip.shape());  // (rows,cols)
    for (Index i = 0; i < mip.numel(); ++i) {
        const double v = double(mip.data()[i]);
        const double g = hi > lo ? (v - lo) / (hi - lo) * 255.0 : (v > lo ? 255.0 : 0.0);
        out.data()[i] = std::isnan(v) ? 0 : std::uint8_t(std::clamp(g, 0.0, 255.0) + 0.5);
    }
    return out;
}

// Blends `colour` over the grey image (H,W) where mask (H,W) is non-zero, in proportion to the
// mask value (255: k_mask_opacity of the colour). Returns (H,W,3).
inline Tensor<std::uint8_t> overlay_mask(ConstView<std::uint8_t> gray, ConstView<std::uint8_t> mask,
                                         Rgb colour = k_mask_colour) {
    AXONSEG_CHECK(gray.rank() == 2 && gray.shape() == mask.shape(), "overlay_mask: grey image ", gray.shape(),
                  " and mask ", mask.shape(), " must be the same (H,W)");
    const Index h = gray.dim(0), w = gray.dim(1);
    Tensor<std::uint8_t> out(Shape{h, w, 3});  // (H,W,3)
    const double tint[3] = {double(colour.r), double(colour.g), double(colour.b)};
    for (Index y = 0; y < h; ++y)
        for (Index x = 0; x < w; ++x) {
            const double a = k_mask_opacity * double(mask(y, x)) / 255.0;
            for (int c = 0; c < 3; ++c)
                out(y, x, c) = std::uint8_t(double(gray(y, x)) * (1.0 - a) + tint[c] * a + 0.5);
        }
    return out;
}

// Writes the preview of volume (D,H,W): its MIP along D (grey) and, when `mask` (D,H,W, uint8:
// 0/1 labels, a 0/255 mask or a probability map) is given, beside it the same MIP with the mask's
// own MIP, stretched to a maximum of 255, blended in red; k_preview_gap black columns apart.
// Without a mask, the grey MIP alone. Throws naming the file.
template <class T>
    requires PreviewElement<std::remove_const_t<T>>
void write_preview(const std::filesystem::path& file, TensorView<T> volume, ConstView<std::uint8_t> mask = {}) {
    AXONSEG_CHECK(volume.rank() == 3 && volume.numel() > 0, "write_preview: ", file.string(), ": volume ",
                  volume.shape(), " must be a non-empty (D,H,W)");
    const Tensor<std::uint8_t> gray = max_projection(volume);  // (H,W)
    if (mask.empty()) return write_png_gray(file, gray);
    AXONSEG_CHECK(mask.shape() == volume.shape(), "write_preview: ", file.string(), ": mask ", mask.shape(),
                  " and volume ", volume.shape(), " differ in shape");
    // Stretched so its maximum is 255: nnU-Net's 0/1 labels would otherwise be all but invisible.
    Tensor<std::uint8_t> mask_mip = detail::project_max(mask, ProjectionAxis::d);  // (H,W)
    const std::uint8_t top = *std::max_element(mask_mip.data(), mask_mip.data() + mask_mip.numel());
    for (Index i = 0; top > 0 && i < mask_mip.numel(); ++i)
        mask_mip.data()[i] = std::uint8_t((mask_mip.data()[i] * 255 + top / 2) / top);
    const Tensor<std::uint8_t> tinted = overlay_mask(gray, mask_mip);  // (H,W,3)
    const Index h = gray.dim(0), w = gray.dim(1);
    Tensor<std::uint8_t> side = Tensor<std::uint8_t>::zeros(Shape{h, 2 * w + k_preview_gap, 3});  // (H,2W+gap,3)
    for (Index y = 0; y < h; ++y)
        for (Index x = 0; x < w; ++x)
            for (Index c = 0; c < 3; ++c) {
                side(y, x, c) = gray(y, x);
                side(y, w + k_preview_gap + x, c) = tinted(y, x, c);
            }
    write_png_rgb(file, side);
}

}  // namespace axonseg::io
