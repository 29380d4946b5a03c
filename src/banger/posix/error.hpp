// SysError and Result<T>: how the posix layer reports a failed system call. No banger::Error
// here (posix sits below base so the static guest agent can use it); host code converts with
// banger::from_sys() in base/error.hpp, which keeps the errno.
#pragma once

#include <string>

#include <tl/expected.hpp>

namespace banger::posix {

struct SysError {
  int sys_errno = 0;  // the errno of the failed call (ETIMEDOUT when a deadline passed)
  std::string what;   // the operation, without strerror: "connect /run/x.sock", "read"

  // "what: strerror(sys_errno)".
  std::string message() const;
};

template <class T>
using Result = tl::expected<T, SysError>;

// `return sys_fail(errno, "read");`
inline tl::unexpected<SysError> sys_fail(int sys_errno, std::string what) {
  return tl::unexpected(SysError{sys_errno, std::move(what)});
}

}  // namespace banger::posix
