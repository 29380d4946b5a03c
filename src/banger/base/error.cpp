#include "banger/base/error.hpp"

#include <cerrno>
#include <cstring>

#include "banger/base/enum_names.hpp"

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

Error with_context(Error e, std::string_view doing) {
  std::string message(doing);
  message += ": ";
  message += e.message;
  e.message = std::move(message);
  return e;
}

namespace {

constexpr auto kErrcNames = base::make_enum_names<Errc>({
    {Errc::invalid_argument, "invalid_argument"},
    {Errc::not_found, "not_found"},
    {Errc::already_exists, "already_exists"},
    {Errc::failed_precondition, "failed_precondition"},
    {Errc::not_running, "not_running"},
    {Errc::permission_denied, "permission_denied"},
    {Errc::unavailable, "unavailable"},
    {Errc::timeout, "timeout"},
    {Errc::cancelled, "cancelled"},
    {Errc::bad_version, "bad_version"},
    {Errc::unknown_method, "unknown_method"},
    {Errc::command_failed, "command_failed"},
    {Errc::io, "io"},
    {Errc::internal, "internal"},
});

}  // namespace

std::string_view errc_name(Errc code) { return kErrcNames.name(code, "internal"); }

}  // namespace banger
