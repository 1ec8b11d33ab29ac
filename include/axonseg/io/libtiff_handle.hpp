// TiffHandle: the thin RAII wrapper around one libtiff TIFF*, the only place that opens or closes
// one. libtiff reports problems through handlers, by default printing to stderr; every handle is
// opened with TIFFOpenExt and its own handlers, which keep the last error message (so the Error we
// throw names the file and libtiff's reason) and swallow warnings (unknown private tags from
// ImageJ, tifffile or microscope software are normal and must not litter the terminal).
// Per-handle handlers keep this thread-safe: slices are read in parallel, one handle per thread.
#pragma once

#include "axonseg/core/error.hpp"

#include <tiffio.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace axonseg::io {

class TiffHandle {
public:
    // Opens `file` for reading ("r") or writing ("w", "w8" for BigTIFF). Messages name the file
    // as `shown_as` when given (a writer's temporary is named by its final path). Throws naming
    // the file and libtiff's reason when libtiff refuses it.
    TiffHandle(const std::filesystem::path& file, const char* mode,
               const std::filesystem::path& shown_as = {})
        : TiffHandle(-1, file, mode, shown_as) {}
    // The same on `fd`, an open descriptor of `file` that the handle takes over (and closes here
    // when libtiff refuses it): a writer's temporary from AtomicFile::take_fd(), which must not be
    // reopened by name (see atomic_file.hpp). fd < 0 opens `file` by name.
    TiffHandle(int fd, const std::filesystem::path& file, const char* mode,
               const std::filesystem::path& shown_as = {})
        : m_file(file),
          m_shown_as(shown_as.empty() ? file : shown_as),
          m_capture(std::make_unique<Capture>()) {
        TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
        TIFFOpenOptionsSetErrorHandlerExtR(options, &TiffHandle::on_error, m_capture.get());
        TIFFOpenOptionsSetWarningHandlerExtR(options, &TiffHandle::on_warning, m_capture.get());
        m_tif = fd < 0 ? TIFFOpenExt(file.c_str(), mode, options) : TIFFFdOpenExt(fd, file.c_str(), mode, options);
        TIFFOpenOptionsFree(options);
        if (!m_tif) {
            if (fd >= 0) ::close(fd);
            fail(mode[0] == 'r' ? "corrupt TIFF header" : "cannot create the file");
        }
    }
    TiffHandle(const TiffHandle&) = delete;
    TiffHandle& operator=(const TiffHandle&) = delete;
    ~TiffHandle() {
        if (m_tif) TIFFClose(m_tif);
    }

    TIFF* get() const { return m_tif; }
    const std::filesystem::path& file() const { return m_file; }

    // Closes the file, flushing what libtiff still buffers; throws if that fails (a full disk).
    void close() {
        TIFF* tif = m_tif;
        m_tif = nullptr;
        const int flushed = TIFFFlush(tif);
        TIFFClose(tif);
        if (!flushed || m_capture->failed) fail("could not finish writing");
    }

    // True when libtiff reported an error since the last clear(): some libtiff calls report a
    // problem but still return success (a short strip is zero-filled with only a message).
    bool failed() const { return m_capture->failed; }
    void clear() const {
        m_capture->failed = false;
        m_capture->message.clear();
    }

    // Throws "<file>: <what> (libtiff: <last error>)".
    [[noreturn]] void fail(const std::string& what) const {
        if (m_capture->message.empty()) AXONSEG_FAIL(m_shown_as.string(), ": ", what);
        AXONSEG_FAIL(m_shown_as.string(), ": ", what, " (libtiff: ", m_capture->message, ")");
    }

    // Reads a tag libtiff fills with a default when the file omits it.
    template <class V>
    V tag_or(ttag_t tag, V fallback) const {
        V value = fallback;
        return TIFFGetFieldDefaulted(m_tif, tag, &value) ? value : fallback;
    }

private:
    struct Capture {
        bool failed = false;
        std::string message;
    };

    static int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list args) {
        auto* capture = static_cast<Capture*>(user);
        char text[512];
        std::vsnprintf(text, sizeof text, fmt, args);
        capture->failed = true;
        capture->message = module && *module ? std::string(module) + ": " + text : std::string(text);
        return 1;  // handled: libtiff must not also print it
    }
    static int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

    std::filesystem::path m_file, m_shown_as;
    std::unique_ptr<Capture> m_capture;  // a stable address for libtiff's user-data pointer
    TIFF* m_tif = nullptr;
};

}  // namespace axonseg::io
