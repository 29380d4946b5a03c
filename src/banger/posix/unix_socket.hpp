// connect_unix: a connected AF_UNIX stream socket, within a deadline.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>

#include "banger/posix/error.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/io.hpp"

namespace banger::posix {

// The longest path a sockaddr_un holds (without its terminating NUL): 107 on Linux.
inline constexpr std::size_t kMaxUnixPathBytes = 107;

// Connects the NON-BLOCKING socket fd (any family: AF_UNIX, AF_INET, AF_VSOCK) to addr, waiting
// for a connect in progress until the deadline. Errors: ETIMEDOUT at the deadline, else the errno
// of connect or of the connection attempt (SO_ERROR), e.g. ECONNREFUSED; EAGAIN when a unix
// listener's backlog is full (connect_unix retries that). what is "connect".
Result<void> connect_socket(int fd, const sockaddr* addr, socklen_t len, Deadline deadline);

// Connects a SOCK_STREAM | SOCK_CLOEXEC unix socket to `path` and returns it NON-BLOCKING (use
// the deadline helpers of io.hpp on it). A full listen backlog is retried until the deadline.
// Errors (SysError.what is "connect <path>"): ENAMETOOLONG when path is empty or longer than
// kMaxUnixPathBytes; ENOENT when nothing is at path; ECONNREFUSED when nobody listens there;
// ETIMEDOUT when the deadline passes; the errno of socket/connect otherwise (EACCES, ...).
Result<Fd> connect_unix(const std::string& path, Deadline deadline);

}  // namespace banger::posix
