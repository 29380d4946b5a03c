// connect_unix: a connected AF_UNIX stream socket, within a deadline.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

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

// An O_PATH descriptor of the unix socket at path, for a socket that lives in a directory
// someone else can write to (a jailed Firecracker's root): path may be one symlink (the
// caller's own, in a directory only it writes) to the socket, but the socket itself is opened
// with O_NOFOLLOW, so a symlink put in its place is refused (ELOOP) rather than followed; ENOTSOCK
// for anything else that is not a socket; the errno of open/readlink otherwise. Connect to it
// through socket_fd_path() (connect_unix_pinned does both).
Result<Fd> open_socket_pinned(const std::string& path);
// "/proc/self/fd/<fd>": a short path that reaches exactly the file fd names.
std::string socket_fd_path(int fd);
// connect_unix() to the socket open_socket_pinned(path) finds (its errors, then connect_unix's,
// with what "connect <path>").
Result<Fd> connect_unix_pinned(const std::string& path, Deadline deadline);

// Sends data (at least one byte) on the unix stream socket `socket` with `fd` attached as
// SCM_RIGHTS to its first byte, then the rest of data like write_all. The receiver gets a
// duplicate of fd; the caller still owns its own. EINVAL for empty data; the errno of sendmsg /
// write_all otherwise (EPIPE when the peer is gone, ETIMEDOUT at the deadline or after `stall`).
Result<void> send_with_fd(int socket, std::string_view data, int fd,
                          Deadline deadline = kNoDeadline,
                          std::chrono::milliseconds stall = std::chrono::milliseconds::max());

// read_some() on a unix stream socket through recvmsg(MSG_CMSG_CLOEXEC): descriptors the peer
// attached (SCM_RIGHTS) are appended to `received`, so none leaks or is silently dropped; the
// caller decides which to keep. A control message truncated by the kernel (MSG_CTRUNC: more
// descriptors than fit) is EBADMSG, after the ones that fit were appended.
Result<std::size_t> recv_with_fds(int socket, char* buffer, std::size_t size,
                                  std::vector<Fd>& received, Deadline deadline = kNoDeadline);

}  // namespace banger::posix
