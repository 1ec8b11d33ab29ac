// NIfTI-1 volumes (.nii and .nii.gz), the format of nnU-Net's raw datasets: imagesTr/<case>_0000.nii.gz
// (float32) and labelsTr/<case>.nii.gz (uint8). Both go through zlib's gzFile, which also reads and
// writes plain files ("transparent"), so one code path serves .nii and .nii.gz.
// The decision a reader would get wrong: NIfTI stores x fastest, like a C array indexed (z, y, x),
// so our (D,H,W) tensor is dim[1] = W, dim[2] = H, dim[3] = D with no transposition, and spacing
// (z, y, x) is pixdim[3], pixdim[2], pixdim[1].
// Reading converts to the requested element type only where no information is lost (integer labels
// that fit, any type into float); anything else is an Error naming the file, never a silent cast.
#pragma once

#include "axonseg/core/tensor.hpp"
#include "axonseg/io/atomic_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace axonseg::io {

static_assert(std::endian::native == std::endian::little, "the NIfTI code assumes a little-endian host");

// NIfTI datatype codes we read (nifti1.h's DT_* values).
enum class NiftiType : std::int16_t { u8 = 2, i16 = 4, i32 = 8, f32 = 16, f64 = 64, u16 = 512 };

// Element types a volume can be read into, and the subset written (what nnU-Net datasets hold).
template <class T>
concept NiftiElement = std::same_as<T, std::uint8_t> || std::same_as<T, std::uint16_t> ||
                       std::same_as<T, std::int32_t> || std::same_as<T, float> || std::same_as<T, double>;
template <class T>
concept NiftiWritable = std::same_as<T, std::uint8_t> || std::same_as<T, std::uint16_t> || std::same_as<T, float>;

template <NiftiElement T>
struct NiftiVolume {
    Tensor<T> data;                              // (D,H,W)
    std::array<double, 3> spacing{1.0, 1.0, 1.0};  // (z, y, x), from pixdim
};

// What the header says, without reading the voxels.
struct NiftiInfo {
    Index depth = 0, height = 0, width = 0;
    NiftiType type = NiftiType::u8;
    std::array<double, 3> spacing{1.0, 1.0, 1.0};  // (z, y, x)
    double slope = 0.0, inter = 0.0;              // scl_slope, scl_inter as stored
    bool big_endian = false;
    bool scaled() const { return slope != 0.0 && !(slope == 1.0 && inter == 0.0); }
};

constexpr const char* to_string(NiftiType t) {
    switch (t) {
        case NiftiType::u8: return "uint8";
        case NiftiType::i16: return "int16";
        case NiftiType::i32: return "int32";
        case NiftiType::f32: return "float32";
        case NiftiType::f64: return "float64";
        case NiftiType::u16: return "uint16";
    }
    return "?";
}

namespace detail {

constexpr Index k_nifti_header_bytes = 348;
constexpr Index k_nifti_data_offset = 352;  // header + the 4-byte extension flag, as every writer uses
constexpr unsigned k_gz_chunk_bytes = 1u << 20;  // gzread/gzwrite take unsigned counts

// Names of the datatype codes we refuse, so the message says what the file holds.
inline const char* nifti_type_name(std::int16_t code) {
    switch (code) {
        case 1: return "binary";
        case 32: return "complex64";
        case 128: return "RGB24";
        case 256: return "int8";
        case 768: return "uint32";
        case 1024: return "int64";
        case 1280: return "uint64";
        case 1536: return "float128";
        case 1792: return "complex128";
        case 2048: return "complex256";
        case 2304: return "RGBA32";
        default: return "unknown";
    }
}

inline Index nifti_type_bytes(NiftiType t) {
    switch (t) {
        case NiftiType::u8: return 1;
        case NiftiType::i16:
        case NiftiType::u16: return 2;
        case NiftiType::i32:
        case NiftiType::f32: return 4;
        case NiftiType::f64: return 8;
    }
    return 0;
}

template <class T> constexpr NiftiType nifti_type_of();
template <> constexpr NiftiType nifti_type_of<std::uint8_t>() { return NiftiType::u8; }
template <> constexpr NiftiType nifti_type_of<std::uint16_t>() { return NiftiType::u16; }
template <> constexpr NiftiType nifti_type_of<std::int32_t>() { return NiftiType::i32; }
template <> constexpr NiftiType nifti_type_of<float>() { return NiftiType::f32; }
template <> constexpr NiftiType nifti_type_of<double>() { return NiftiType::f64; }

// One gzFile, closed on every path. Messages name `file`; zlib's own reason is appended.
class GzFile {
public:
    GzFile(const std::filesystem::path& file, const char* mode, const std::filesystem::path& shown_as)
        : m_shown(shown_as), m_gz(gzopen(file.c_str(), mode)) {
        if (!m_gz) AXONSEG_FAIL(m_shown.string(), ": cannot open (", std::strerror(errno), ")");
        gzbuffer(m_gz, 256 * 1024);  // before the first read or write; the 8 KB default is slow
    }
    GzFile(const GzFile&) = delete;
    GzFile& operator=(const GzFile&) = delete;
    ~GzFile() {
        if (m_gz) gzclose(m_gz);
    }

    // Reads up to `bytes` bytes; returns how many came (fewer only at the end of the data).
    // Throws when the gzip stream is damaged, or ends without its trailer (a cut-off download).
    Index read(void* out, Index bytes) {
        Index done = 0;
        while (done < bytes) {
            const unsigned want = unsigned(std::min<Index>(bytes - done, k_gz_chunk_bytes));
            const int got = gzread(m_gz, static_cast<char*>(out) + done, want);
            if (got < 0) fail_gzip();
            done += got;
            if (unsigned(got) < want) break;
        }
        int code = Z_OK;
        gzerror(m_gz, &code);
        if (code != Z_OK) fail_gzip();
        return done;
    }
    void write(const void* in, Index bytes) {
        for (Index done = 0; done < bytes;) {
            const unsigned n = unsigned(std::min<Index>(bytes - done, k_gz_chunk_bytes));
            if (gzwrite(m_gz, static_cast<const char*>(in) + done, n) != int(n))
                AXONSEG_FAIL(m_shown.string(), ": cannot write (", reason(), ")");
            done += n;
        }
    }
    // Flushes and closes; throws if the last bytes could not be written (a full disk).
    void close() {
        const int code = gzclose(std::exchange(m_gz, nullptr));
        if (code != Z_OK) AXONSEG_FAIL(m_shown.string(), ": could not finish writing (zlib error ", code, ")");
    }
    // Skips `bytes` bytes; returns how many there were.
    Index skip(Index bytes) {
        unsigned char sink[4096];
        Index done = 0;
        while (done < bytes) {
            const Index want = std::min<Index>(bytes - done, Index(sizeof(sink)));
            const Index got = read(sink, want);
            done += got;
            if (got < want) break;
        }
        return done;
    }
    // True when reading decompresses (false for a plain file read through zlib's transparent mode).
    bool compressed() const { return gzdirect(m_gz) == 0; }

private:
    std::string reason() const {
        int code = Z_OK;
        const char* text = gzerror(m_gz, &code);
        return code == Z_ERRNO ? std::strerror(errno) : text;
    }
    [[noreturn]] void fail_gzip() const {
        int code = Z_OK;
        gzerror(m_gz, &code);
        if (code == Z_BUF_ERROR)
            AXONSEG_FAIL(m_shown.string(), ": truncated gzip stream (", reason(), ")");
        AXONSEG_FAIL(m_shown.string(), ": corrupt gzip data (", reason(), ")");
    }

    std::filesystem::path m_shown;
    gzFile m_gz;
};

// Reads a field at a byte offset of the header, swapping bytes for a big-endian file.
template <class V>
V header_field(const unsigned char* header, Index offset, bool swap) {
    unsigned char bytes[sizeof(V)];
    std::memcpy(bytes, header + offset, sizeof(V));
    if (swap) std::reverse(bytes, bytes + sizeof(V));
    return std::bit_cast<V>(bytes);
}

// Parses and checks the header; `in` is left at the end of the header.
inline NiftiInfo read_nifti_header(GzFile& in, const std::filesystem::path& file, Index& voxel_offset) {
    unsigned char h[k_nifti_header_bytes];
    const Index got = in.read(h, k_nifti_header_bytes);
    if (got < k_nifti_header_bytes)
        AXONSEG_FAIL(file.string(), ": not a NIfTI-1 file (", got, " bytes, shorter than the ",
                     k_nifti_header_bytes, "-byte header)");
    NiftiInfo info;
    const std::int32_t size = header_field<std::int32_t>(h, 0, false);
    info.big_endian = size != 348 && header_field<std::int32_t>(h, 0, true) == 348;
    if (size != 348 && !info.big_endian)
        AXONSEG_FAIL(file.string(), ": not a NIfTI-1 file (sizeof_hdr is ",
                     size == 540 || header_field<std::int32_t>(h, 0, true) == 540 ? "540, a NIfTI-2 header"
                                                                                  : std::to_string(size),
                     "; expected 348)");
    const bool swap = info.big_endian;
    const char* magic = reinterpret_cast<const char*>(h + 344);
    if (std::memcmp(magic, "ni1\0", 4) == 0)
        AXONSEG_FAIL(file.string(), ": a NIfTI-1 header of a .hdr/.img pair; axonseg reads single-file .nii");
    if (std::memcmp(magic, "n+1\0", 4) != 0)
        AXONSEG_FAIL(file.string(), ": not a NIfTI-1 file (no \"n+1\" magic; an Analyze 7.5 header?)");

    const auto dim = [&](int i) { return Index(header_field<std::int16_t>(h, 40 + 2 * i, swap)); };
    const Index rank = dim(0);
    if (rank < 1 || rank > 7) AXONSEG_FAIL(file.string(), ": corrupt header (dim[0] is ", rank, ")");
    for (int i = 1; i <= rank; ++i)
        if (dim(i) < 1) AXONSEG_FAIL(file.string(), ": corrupt header (dim[", i, "] is ", dim(i), ")");
    for (int i = 4; i <= rank; ++i)
        if (dim(i) != 1)
            AXONSEG_FAIL(file.string(), ": a ", rank, "-d image (dim[", i, "] is ", dim(i),
                         "); axonseg reads 3-d volumes");
    const auto extent = [&](int i) { return i <= rank ? dim(i) : Index(1); };
    info.width = extent(1);
    info.height = extent(2);
    info.depth = extent(3);

    const std::int16_t code = header_field<std::int16_t>(h, 70, swap);
    switch (code) {
        case 2: case 4: case 8: case 16: case 64: case 512: info.type = NiftiType(code); break;
        default:
            AXONSEG_FAIL(file.string(), ": unsupported datatype ", code, " (", nifti_type_name(code),
                         "); axonseg reads uint8, int16, uint16, int32, float32 and float64");
    }
    // Missing or meaningless spacings (a 2-d image's pixdim[3] is often 0) read as 1.
    for (int i = 1; i <= 3; ++i) {
        const double p = std::fabs(double(header_field<float>(h, 76 + 4 * i, swap)));
        info.spacing[std::size_t(3 - i)] = i <= rank && std::isfinite(p) && p > 0 ? p : 1.0;
    }
    const double offset = header_field<float>(h, 108, swap);
    if (!(offset >= 0 && offset < 1e12) || (offset > 0 && offset < double(k_nifti_header_bytes)))
        AXONSEG_FAIL(file.string(), ": corrupt header (vox_offset is ", offset, ")");
    voxel_offset = std::max(Index(offset), k_nifti_header_bytes);
    const double slope = header_field<float>(h, 112, swap), inter = header_field<float>(h, 116, swap);
    info.slope = std::isfinite(slope) ? slope : 0.0;  // nibabel writes NaN for "no scaling"
    info.inter = std::isfinite(inter) ? inter : 0.0;
    return info;
}

template <class S>
S raw_sample(const unsigned char* p, bool swap) {
    return header_field<S>(p, 0, swap);
}

// Converts n samples of type S to T, checking that integer outputs hold every value.
template <class S, NiftiElement T>
void convert_samples(const unsigned char* raw, T* out, Index n, const NiftiInfo& info,
                     const std::filesystem::path& file) {
    const bool swap = info.big_endian;
    for (Index i = 0; i < n; ++i) {
        const S v = raw_sample<S>(raw + i * Index(sizeof(S)), swap);
        if constexpr (std::is_floating_point_v<T>) {
            out[i] = info.scaled() ? T(double(v) * info.slope + info.inter) : T(v);
        } else if constexpr (std::is_integral_v<S>) {
            if (std::cmp_less(v, std::numeric_limits<T>::min()) || std::cmp_greater(v, std::numeric_limits<T>::max())) {
                const Index x = i % info.width, y = i / info.width % info.height, z = i / info.width / info.height;
                AXONSEG_FAIL(file.string(), ": value ", +v, " at voxel (z,y,x) = (", z, ",", y, ",", x,
                             ") does not fit ", to_string(dtype_v<T>));
            }
            out[i] = T(v);
        }  // float samples into an integer T never get here: read_nifti refuses them first
    }
}

}  // namespace detail

// Reads only the header of `file` (.nii or .nii.gz). Throws naming the file when it is missing,
// not NIfTI-1, or holds something axonseg does not read (see read_nifti).
inline NiftiInfo probe_nifti(const std::filesystem::path& file) {
    if (!std::filesystem::is_regular_file(file)) AXONSEG_FAIL(file.string(), ": no such file");
    detail::GzFile in(file, "rb", file);
    Index voxel_offset = 0;
    return detail::read_nifti_header(in, file, voxel_offset);
}

// Reads a 3-d NIfTI-1 volume (a 2-d image reads as D = 1; dimensions 4..7 must be 1) as (D,H,W)
// with its spacing (z, y, x). Stored uint8, int16, uint16, int32, float32 and float64 (either byte
// order) convert to T when nothing is lost: integers into an integer T only when every value fits
// (else an Error naming the file, the value and the voxel), anything into float or double.
// scl_slope/scl_inter are applied when the slope is non-zero and not (1, 0); such files read only
// into float or double. Throws naming the file for a missing, foreign, truncated or corrupt file.
template <NiftiElement T>
NiftiVolume<T> read_nifti(const std::filesystem::path& file) {
    if (!std::filesystem::is_regular_file(file)) AXONSEG_FAIL(file.string(), ": no such file");
    detail::GzFile in(file, "rb", file);
    Index voxel_offset = 0;
    const NiftiInfo info = detail::read_nifti_header(in, file, voxel_offset);
    if (info.scaled() && !std::is_floating_point_v<T>)
        AXONSEG_FAIL(file.string(), ": holds scaled values (scl_slope ", info.slope, ", scl_inter ", info.inter,
                     "); read it as float or double, not ", to_string(dtype_v<T>));
    const bool float_file = info.type == NiftiType::f32 || info.type == NiftiType::f64;
    if (float_file && !std::is_floating_point_v<T>)
        AXONSEG_FAIL(file.string(), ": holds ", to_string(info.type), " data; read it as float or double, not ",
                     to_string(dtype_v<T>));

    const Index count = info.depth * info.height * info.width;
    const Index bytes = count * detail::nifti_type_bytes(info.type);
    const auto truncated = [&](const auto&... found) {
        AXONSEG_FAIL(file.string(), ": truncated (", info.depth, " x ", info.height, " x ", info.width, " ",
                     to_string(info.type), " voxels need ", voxel_offset + bytes, " bytes, ", found..., ")");
    };
    // Before allocating: a damaged header must not ask for terabytes. Deflate expands at most
    // 1032-fold, which bounds what a gzip file can hold.
    const Index file_bytes = Index(std::filesystem::file_size(file));
    if (!in.compressed() && voxel_offset + bytes > file_bytes) truncated("the data ends after ", file_bytes);
    if (in.compressed() && double(voxel_offset + bytes) > 1032.0 * double(file_bytes) + 1024.0)
        truncated("more than a ", file_bytes, "-byte gzip file can hold");

    NiftiVolume<T> volume{Tensor<T>(Shape{info.depth, info.height, info.width}), info.spacing};
    // Same type, native order, no scaling: the voxels go straight into the tensor.
    const bool direct = info.type == detail::nifti_type_of<T>() && !info.big_endian && !info.scaled();
    std::unique_ptr<unsigned char[]> raw(direct ? nullptr : new unsigned char[std::size_t(bytes)]);
    void* target = direct ? static_cast<void*>(volume.data.data()) : raw.get();
    // Extensions between the header and the voxels are skipped.
    const Index got = in.skip(voxel_offset - detail::k_nifti_header_bytes) + in.read(target, bytes);
    if (got < voxel_offset - detail::k_nifti_header_bytes + bytes)
        truncated("the data ends after ", detail::k_nifti_header_bytes + got);
    unsigned char past_end = 0;
    in.read(&past_end, 1);  // reaches the gzip trailer, so a damaged checksum is noticed
    if (direct) return volume;
    T* out = volume.data.data();
    switch (info.type) {
        case NiftiType::u8: detail::convert_samples<std::uint8_t>(raw.get(), out, count, info, file); break;
        case NiftiType::i16: detail::convert_samples<std::int16_t>(raw.get(), out, count, info, file); break;
        case NiftiType::u16: detail::convert_samples<std::uint16_t>(raw.get(), out, count, info, file); break;
        case NiftiType::i32: detail::convert_samples<std::int32_t>(raw.get(), out, count, info, file); break;
        case NiftiType::f32: detail::convert_samples<float>(raw.get(), out, count, info, file); break;
        case NiftiType::f64: detail::convert_samples<double>(raw.get(), out, count, info, file); break;
    }
    return volume;
}

// Writes volume (D,H,W), any strides, as a NIfTI-1 file: gzip-compressed when the name ends in
// .nii.gz, plain for .nii (any other name is an Error). The header carries the spacing (z, y, x)
// in pixdim and a diagonal affine from it in both qform and sform (codes 1, "scanner"), units mm.
// Through a temporary name renamed into place; throws naming the file.
template <class V>
    requires NiftiWritable<std::remove_const_t<V>>
void write_nifti(const std::filesystem::path& file, TensorView<V> volume,
                 std::array<double, 3> spacing = {1.0, 1.0, 1.0}) {
    using T = std::remove_const_t<V>;
    const std::string name = file.filename().string();
    const auto ends_with = [&](std::string_view tail) {
        return name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    const bool gz = ends_with(".nii.gz");
    AXONSEG_CHECK(gz || ends_with(".nii"), "write_nifti: ", file.string(), ": the name must end in .nii or .nii.gz");
    AXONSEG_CHECK(volume.rank() == 3 && volume.numel() > 0, "write_nifti: ", file.string(), ": volume ",
                  volume.shape(), " must be a non-empty (D,H,W)");
    const Index depth = volume.dim(0), height = volume.dim(1), width = volume.dim(2);
    AXONSEG_CHECK(depth <= 32767 && height <= 32767 && width <= 32767, "write_nifti: ", file.string(), ": volume ",
                  volume.shape(), " exceeds NIfTI-1's 32767 voxels per axis");
    for (double s : spacing)
        AXONSEG_CHECK(std::isfinite(s) && s > 0, "write_nifti: ", file.string(), ": spacing ", s,
                      " must be positive");

    unsigned char h[detail::k_nifti_data_offset] = {};
    const auto put = [&](Index offset, auto value) { std::memcpy(h + offset, &value, sizeof(value)); };
    put(0, std::int32_t(348));
    const std::int16_t dims[8] = {3, std::int16_t(width), std::int16_t(height), std::int16_t(depth), 1, 1, 1, 1};
    std::memcpy(h + 40, dims, sizeof(dims));
    put(70, std::int16_t(detail::nifti_type_of<T>()));
    put(72, std::int16_t(8 * sizeof(T)));
    const float sx = float(spacing[2]), sy = float(spacing[1]), sz = float(spacing[0]);
    const float pixdim[8] = {1.0f, sx, sy, sz, 1.0f, 1.0f, 1.0f, 1.0f};  // pixdim[0] = qfac = 1
    std::memcpy(h + 76, pixdim, sizeof(pixdim));
    put(108, float(detail::k_nifti_data_offset));
    put(112, 1.0f);  // scl_slope 1, scl_inter 0: values as stored
    put(123, char(2 | 8));  // xyzt_units: mm and s
    std::memcpy(h + 148, "axonseg", 7);
    put(252, std::int16_t(1));  // qform_code: scanner; the zero quaternion is the identity rotation
    put(254, std::int16_t(1));  // sform_code
    const float srow[12] = {sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, sz, 0};
    std::memcpy(h + 280, srow, sizeof(srow));
    std::memcpy(h + 344, "n+1\0", 4);

    AtomicFile target(file);
    // Level 1: measured 6x faster than zlib's default 6 on a 64 MB float32 volume (0.5 s against
    // 3.4 s) for an 18% larger file. "wbT": zlib's transparent mode, a plain file through the same calls.
    detail::GzFile out(target.temp_path(), gz ? "wb1" : "wbT", file);
    out.write(h, detail::k_nifti_data_offset);
    std::vector<T> plane(std::size_t(height * width));  // (H,W), one z at a time
    for (Index z = 0; z < depth; ++z) {
        for (Index y = 0; y < height; ++y)
            for (Index x = 0; x < width; ++x) plane[std::size_t(y * width + x)] = volume(z, y, x);
        out.write(plane.data(), Index(plane.size() * sizeof(T)));
    }
    out.close();
    target.commit();
}

}  // namespace axonseg::io
