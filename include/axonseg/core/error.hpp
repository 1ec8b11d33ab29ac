// The library's one exception type and its check macro.
// Library code throws axonseg::Error (never exits or prints); only the command line catches.
// A message names the operation, the tensor or file by role, what was expected and what was found;
// AXONSEG_CHECK appends the failed condition and file:line so a report points at the check.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace axonseg {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}
}  // namespace detail

}  // namespace axonseg

// AXONSEG_CHECK(cond, "conv3d: input ", x.shape(), " and weight ", ...): throws axonseg::Error
// with the message, then "(check `cond` failed at file:line)".
#define AXONSEG_CHECK(cond, ...)                                                              \
    do {                                                                                      \
        if (!(cond))                                                                          \
            throw ::axonseg::Error(::axonseg::detail::concat(__VA_ARGS__, " (check `" #cond   \
                                                             "` failed at ", __FILE__, ":",   \
                                                             __LINE__, ")"));                 \
    } while (0)

#define AXONSEG_FAIL(...) throw ::axonseg::Error(::axonseg::detail::concat(__VA_ARGS__))
