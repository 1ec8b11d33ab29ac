// AtomicFolder: build a whole output folder (a dataset, say) under a hidden temporary name beside
// the target, then rename it into place, so a stopped or failed run leaves no half-made folder
// under the final name and a folder the user had is only replaced by a complete one.
#pragma once

#include "axonseg/core/error.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace axonseg::io {

class AtomicFolder {
public:
    // Requires final_path's parent to exist or be creatable. Ensures an empty folder at
    // temp_path(). A folder already at final_path is an error unless `overwrite`.
    AtomicFolder(std::filesystem::path final_path, bool overwrite)
        : m_final(std::move(final_path)), m_overwrite(overwrite) {
        AXONSEG_CHECK(!m_final.filename().empty(), "AtomicFolder: ", m_final, " names no folder");
        std::error_code ec;
        AXONSEG_CHECK(overwrite || !std::filesystem::exists(m_final, ec), m_final.string(),
                      " already exists; not replacing it (--overwrite to replace)");
        const std::filesystem::path parent = m_final.has_parent_path() ? m_final.parent_path() : ".";
        std::filesystem::create_directories(parent, ec);
        AXONSEG_CHECK(!ec, parent.string(), ": cannot create the folder (", ec.message(), ")");
        m_temp = parent / sibling_name("partial");
        std::filesystem::remove_all(m_temp, ec);
        AXONSEG_CHECK(std::filesystem::create_directory(m_temp, ec) && !ec, m_temp.string(),
                      ": cannot create the temporary folder (", ec ? ec.message() : "it exists", ")");
    }
    AtomicFolder(const AtomicFolder&) = delete;
    AtomicFolder& operator=(const AtomicFolder&) = delete;
    // Removes the temporary folder unless commit() succeeded.
    ~AtomicFolder() {
        if (!m_committed) {
            std::error_code ignored;
            std::filesystem::remove_all(m_temp, ignored);
        }
    }

    const std::filesystem::path& temp_path() const { return m_temp; }
    const std::filesystem::path& final_path() const { return m_final; }

    // Requires everything written under temp_path(). Ensures it is now final_path(); an old folder
    // there (overwrite) is moved aside first and deleted only after the new one is in place.
    void commit() {
        std::error_code ec;
        std::filesystem::path old;
        if (std::filesystem::exists(m_final, ec)) {
            AXONSEG_CHECK(m_overwrite, m_final.string(), " appeared while it was being made; not replacing it");
            old = m_temp.parent_path() / sibling_name("old");
            if (::rename(m_final.c_str(), old.c_str()) != 0)
                AXONSEG_FAIL(m_final.string(), ": cannot move the existing folder aside (", std::strerror(errno), ")");
        }
        if (::rename(m_temp.c_str(), m_final.c_str()) != 0) {
            const int error = errno;
            if (!old.empty()) ::rename(old.c_str(), m_final.c_str());  // put the user's folder back
            AXONSEG_FAIL(m_final.string(), ": cannot rename the finished folder into place (", std::strerror(error), ")");
        }
        m_committed = true;
        if (!old.empty()) std::filesystem::remove_all(old, ec);
    }

private:
    std::string sibling_name(const char* what) const {
        std::string name = ".";  // appended piecewise: GCC 12 warns falsely on "." + string&&
        name += m_final.filename().string();
        name += '.';
        name += what;
        name += '-';
        name += std::to_string(::getpid());
        return name;
    }

    std::filesystem::path m_final, m_temp;
    bool m_overwrite = false, m_committed = false;
};

}  // namespace axonseg::io
