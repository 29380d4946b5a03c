#include "banger/posix/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
  const std::string what = "connect " + path;
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

}  // namespace banger::posix
