#include "banger/base/error.hpp"

#include <cerrno>
#include <cstring>

namespace banger {

tl::unexpected<Error> fail_errno(std::string message, int sys_errno) {
  Errc code = Errc::io;
  if (sys_errno == EACCES || sys_errno == EPERM) {
    code = Errc::permission_denied;
  } else if (sys_errno == ENOENT) {
    code = Errc::not_found;
  } else if (sys_errno == EEXIST) {
    code = Errc::already_exists;
  } else if (sys_errno == ETIMEDOUT) {
    code = Errc::timeout;
  }
  message += ": ";
  message += std::strerror(sys_errno);
  return tl::unexpected(Error{code, std::move(message), sys_errno, {}});
}

Error from_sys(const posix::SysError& error, std::string_view doing) {
  std::string message(doing);
  if (!message.empty()) {
    message += ": ";
  }
  message += error.what;
  if (error.sys_errno == 0) {
    return Error{Errc::io, std::move(message), 0, {}};
  }
  return fail_errno(std::move(message), error.sys_errno).value();
}

Error with_context(Error e, std::string_view doing) {
  std::string message(doing);
  message += ": ";
  message += e.message;
  e.message = std::move(message);
  return e;
}

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::failed_precondition:
      return "failed_precondition";
    case Errc::not_running:
      return "not_running";
    case Errc::permission_denied:
      return "permission_denied";
    case Errc::unavailable:
      return "unavailable";
    case Errc::timeout:
      return "timeout";
    case Errc::cancelled:
      return "cancelled";
    case Errc::bad_version:
      return "bad_version";
    case Errc::unknown_method:
      return "unknown_method";
    case Errc::command_failed:
      return "command_failed";
    case Errc::io:
      return "io";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace banger
