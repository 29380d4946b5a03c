// Error type and Expected<T> alias used by every banger module (our code never throws).
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "banger/posix/error.hpp"

namespace banger {

// Conditions callers branch on. Everything else goes in the message.
enum class Errc {
  invalid_argument,     // bad user input or malformed request; the message names the field
  not_found,            // the named VM, image, kernel, file or method does not exist
  already_exists,       // a create would clash with an existing name
  failed_precondition,  // the object is in a state that forbids the operation
  not_running,          // the operation needs a running VM (or daemon)
  permission_denied,    // the caller or the daemon lacks a permission
  unavailable,          // a dependency (daemon, tool, device) cannot be reached right now
  timeout,              // a deadline passed
  cancelled,            // the client went away or the operation was cancelled
  bad_version,          // protocol version mismatch
  unknown_method,       // RPC method not registered
  command_failed,       // an external tool ran and exited non-zero
  io,                   // a syscall or file operation failed
  internal,             // a bug: an invariant did not hold
};

struct Error {
  Errc code = Errc::internal;
  std::string message;  // lower case, no trailing period: "creating tap bg-1a2b: ip exited 2: ..."
  int sys_errno = 0;    // set when a syscall failed
  std::string op_id;    // set on errors that crossed the RPC boundary ("op-3f9a1c")
};

template <class T>
using Expected = tl::expected<T, Error>;
using Status = Expected<void>;

// Builds the unexpected value for `return fail(...)`.
inline tl::unexpected<Error> fail(Errc code, std::string message) {
  return tl::unexpected(Error{code, std::move(message), 0, {}});
}

// Like fail(), for a failed syscall: appends strerror(sys_errno) and keeps it.
tl::unexpected<Error> fail_errno(std::string message, int sys_errno);

// The Error for a failed posix-layer call, as fail_errno() builds it (Errc from the errno:
// permission_denied, not_found, already_exists, timeout for ETIMEDOUT, else io; sys_errno kept).
// Message: "<doing>: <what>: <strerror>", or "<what>: <strerror>" when doing is empty.
Error from_sys(const posix::SysError& error, std::string_view doing = {});

// Prefixes what the caller was doing ("doing: message"); keeps code and errno.
Error with_context(Error e, std::string_view doing);

// Stable lower_case name of an Errc ("not_found").
std::string_view errc_name(Errc code);

}  // namespace banger
