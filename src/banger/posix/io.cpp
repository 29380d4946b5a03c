#include "banger/posix/io.hpp"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>

namespace banger::posix {

int poll_timeout(Deadline deadline) {
  if (deadline == kNoDeadline) {
    return -1;
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30));
}

Result<short> wait_ready(int fd, short events, Deadline deadline) {
  while (true) {
    pollfd pfd{fd, events, 0};
    const int ready = ::poll(&pfd, 1, poll_timeout(deadline));
    if (ready > 0) {
      return pfd.revents;
    }
    if (ready == 0) {
      return sys_fail(ETIMEDOUT, "poll");
    }
    if (errno != EINTR) {
      return sys_fail(errno, "poll");
    }
  }
}

Result<void> write_all(int fd, std::string_view data, Deadline deadline,
                       std::chrono::milliseconds stall) {
  bool is_socket = true;
  std::optional<SigpipeGuard> guard;
  while (!data.empty()) {
    ssize_t n = 0;
    if (is_socket) {
      n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK) {
        is_socket = false;
        guard.emplace();
        continue;
      }
    } else {
      n = ::write(fd, data.data(), data.size());
    }
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return sys_fail(errno, "write");
    }
    const auto stalled =
        stall == std::chrono::milliseconds::max() || deadline - Clock::now() < stall
            ? deadline
            : Clock::now() + stall;
    auto ready = wait_ready(fd, POLLOUT, stalled);
    if (!ready) {
      return tl::unexpected(ready.error());
    }
    if ((*ready & POLLOUT) == 0) {
      return sys_fail(EPIPE, "write");  // POLLHUP/POLLERR without room
    }
  }
  return {};
}

Result<std::size_t> read_some(int fd, char* buffer, std::size_t size, Deadline deadline) {
  while (true) {
    if (auto ready = wait_ready(fd, POLLIN, deadline); !ready) {
      return tl::unexpected(ready.error());
    }
    const ssize_t n = ::read(fd, buffer, size);
    if (n >= 0) {
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return sys_fail(errno, "read");
    }
  }
}

Result<ReadEnd> read_until(int fd, char delimiter, std::string& out, std::size_t max_bytes,
                           Deadline deadline) {
  while (out.size() < max_bytes) {
    char c = 0;
    auto n = read_some(fd, &c, 1, deadline);
    if (!n) {
      return tl::unexpected(n.error());
    }
    if (*n == 0) {
      return ReadEnd::eof;
    }
    if (c == delimiter) {
      return ReadEnd::delimiter;
    }
    out.push_back(c);
  }
  return ReadEnd::limit;
}

SigpipeGuard::SigpipeGuard() {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_);
  was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
}

SigpipeGuard::~SigpipeGuard() {
  if (was_blocked_) {
    return;
  }
  sigset_t pending;
  sigemptyset(&pending);
  if (::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGPIPE);
    const timespec zero{0, 0};
    ::sigtimedwait(&only, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace banger::posix
