#include "banger/posix/unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>
#include <vector>

namespace banger::posix {
namespace {

constexpr std::chrono::milliseconds kBacklogRetry{10};

static_assert(sizeof(sockaddr_un::sun_path) == kMaxUnixPathBytes + 1);

void sleep_before_retry(Deadline deadline) {
  const auto pause = std::min<Clock::duration>(kBacklogRetry, deadline - Clock::now());
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(pause).count();
  const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  ::nanosleep(&ts, nullptr);
}

// connect_unix(path) reporting errors as `what`.
Result<Fd> connect_unix_as(const std::string& path, const std::string& what, Deadline deadline) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() > kMaxUnixPathBytes) {
    return sys_fail(ENAMETOOLONG, what);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return sys_fail(errno, "socket AF_UNIX");
  }
  while (true) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr API
    auto connected =
        connect_socket(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr, deadline);
    if (connected) {
      return fd;
    }
    const int err = connected.error().sys_errno;
    if (err != EAGAIN) {
      return sys_fail(err, what);
    }
    if (Clock::now() >= deadline) {  // the listener's backlog stayed full
      return sys_fail(ETIMEDOUT, what);
    }
    sleep_before_retry(deadline);
  }
}

}  // namespace

Result<void> connect_socket(int fd, const sockaddr* addr, socklen_t len, Deadline deadline) {
  int err = 0;
  do {
    err = ::connect(fd, addr, len) == 0 ? 0 : errno;
  } while (err == EINTR);
  if (err == EINPROGRESS) {
    socklen_t err_len = sizeof err;
    if (auto ready = wait_ready(fd, POLLOUT, deadline); !ready) {
      err = ready.error().sys_errno;
    } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
      err = errno;
    }
  }
  if (err != 0) {
    return sys_fail(err, "connect");
  }
  return {};
}

Result<Fd> connect_unix(const std::string& path, Deadline deadline) {
  return connect_unix_as(path, "connect " + path, deadline);
}

Result<Fd> open_socket_pinned(const std::string& path) {
  const std::string what = "open " + path;
  Fd first(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!first) {
    return sys_fail(errno, what);
  }
  struct stat st{};
  if (::fstat(first.get(), &st) != 0) {
    return sys_fail(errno, what);
  }
  if (S_ISSOCK(st.st_mode)) {
    return first;
  }
  if (!S_ISLNK(st.st_mode)) {
    return sys_fail(ENOTSOCK, what);
  }
  // One level of link: the caller's own (the socket's path is too long for sun_path).
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(first.get(), "", target.data(), target.size());
  if (n < 0) {
    return sys_fail(errno, "readlink " + path);
  }
  target.resize(static_cast<std::size_t>(n));
  if (!target.starts_with('/')) {
    auto slash = path.rfind('/');
    target = (slash == std::string::npos ? std::string(".") : path.substr(0, slash)) + "/" + target;
  }
  Fd socket(::open(target.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!socket) {
    return sys_fail(errno, "open " + target);
  }
  if (::fstat(socket.get(), &st) != 0) {
    return sys_fail(errno, "open " + target);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return sys_fail(S_ISLNK(st.st_mode) ? ELOOP : ENOTSOCK, "open " + target);
  }
  return socket;
}

std::string socket_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<Fd> connect_unix_pinned(const std::string& path, Deadline deadline) {
  auto socket = open_socket_pinned(path);
  if (!socket) {
    return tl::unexpected(socket.error());
  }
  return connect_unix_as(socket_fd_path(socket->get()), "connect " + path, deadline);
}

Result<void> send_with_fd(int socket, std::string_view data, int fd, Deadline deadline,
                          std::chrono::milliseconds stall) {
  if (data.empty()) {
    return sys_fail(EINVAL, "sendmsg");
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec first{const_cast<char*>(data.data()), 1};
  msghdr message{};
  message.msg_iov = &first;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
  while (true) {
    auto ready = wait_ready(socket, POLLOUT, deadline);
    if (!ready) {
      return tl::unexpected(ready.error());
    }
    ssize_t sent = ::sendmsg(socket, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent == 1) {
      break;
    }
    if (sent < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    return sys_fail(sent < 0 ? errno : EIO, "sendmsg");
  }
  return write_all(socket, data.substr(1), deadline, stall);
}

Result<std::size_t> recv_with_fds(int socket, char* buffer, std::size_t size,
                                  std::vector<Fd>& received, Deadline deadline) {
  constexpr std::size_t kMaxFds = 8;
  while (true) {
    auto ready = wait_ready(socket, POLLIN, deadline);
    if (!ready) {
      return tl::unexpected(ready.error());
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    iovec data{buffer, size};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return sys_fail(errno, "recvmsg");
    }
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
        continue;
      }
      std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        received.emplace_back(fd);
      }
    }
    if ((message.msg_flags & MSG_CTRUNC) != 0) {
      return sys_fail(EBADMSG, "recvmsg");
    }
    return static_cast<std::size_t>(n);
  }
}

}  // namespace banger::posix
