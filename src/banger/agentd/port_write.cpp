#include "banger/agentd/port_write.hpp"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <thread>

#include "banger/posix/io.hpp"

namespace banger::agentd {
namespace {

using Clock = std::chrono::steady_clock;

// Longest single wait for room; and the pause after a look that found the port hung up (poll
// returns at once then: the attach has no wakeup of its own to wait for).
constexpr int kPollSliceMs = 100;
constexpr std::chrono::milliseconds kPortSettle{10};

// EAGAIN: a port without a host known to the guest, or a full queue; EPIPE: a FIFO without a
// reader (tests), the same state there.
bool refused_for_now(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EPIPE; }

}  // namespace

bool write_to_port(int fd, std::string_view data, std::chrono::milliseconds attach_wait) {
  posix::SigpipeGuard no_sigpipe;
  auto stalled_since = Clock::now();
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      stalled_since = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && !refused_for_now(errno)) {
      return false;
    }
    if (Clock::now() - stalled_since >= attach_wait) {
      return false;
    }
    pollfd pfd{fd, POLLOUT, 0};
    if (::poll(&pfd, 1, kPollSliceMs) > 0 && (pfd.revents & POLLOUT) == 0) {
      std::this_thread::sleep_for(kPortSettle);  // hung up: not attached (yet)
    }
  }
  return true;
}

}  // namespace banger::agentd
