// Reading and writing descriptors against a deadline. Every call works on blocking and
// non-blocking descriptors alike (it polls before it reads or writes), retries EINTR, and never
// raises SIGPIPE: a closed peer is the error EPIPE.
#pragma once

#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "banger/posix/error.hpp"

namespace banger::posix {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// Milliseconds from now until deadline for poll(): 0 once it has passed, -1 for kNoDeadline.
int poll_timeout(Deadline deadline);

// The deadline `timeout` from now.
inline Deadline deadline_in(std::chrono::milliseconds timeout) { return Clock::now() + timeout; }

// Waits until fd has one of `events` (POLLIN, POLLOUT) or an error/hang-up, and returns the
// revents. ETIMEDOUT at the deadline; the errno of poll otherwise.
Result<short> wait_ready(int fd, short events, Deadline deadline);

// Writes all of data (send(MSG_NOSIGNAL) on sockets, write() otherwise). ETIMEDOUT when the
// deadline passes first, or when no byte could be written for `stall` (part may have been
// written); EPIPE when the reader is gone (also a hang-up while there is no room); the errno of
// send/write otherwise.
Result<void> write_all(int fd, std::string_view data, Deadline deadline = kNoDeadline,
                       std::chrono::milliseconds stall = std::chrono::milliseconds::max());

// Reads what is available (at most `size` bytes, waiting for at least one). Returns 0 at end of
// stream. ETIMEDOUT when nothing arrived by the deadline; the errno of read otherwise.
Result<std::size_t> read_some(int fd, char* buffer, std::size_t size,
                              Deadline deadline = kNoDeadline);

// How read_until stopped.
enum class ReadEnd { delimiter, eof, limit };

// Appends to `out` one byte at a time until `delimiter` (consumed, not appended), end of stream,
// or `out` holding max_bytes. Nothing after the delimiter is read, so the rest of the stream is
// still the caller's. On ETIMEDOUT (or any read error) `out` keeps what arrived.
Result<ReadEnd> read_until(int fd, char delimiter, std::string& out, std::size_t max_bytes,
                           Deadline deadline = kNoDeadline);

// Blocks SIGPIPE in the calling thread for its lifetime, so writes to a closed pipe fail with
// EPIPE instead of killing the process; a SIGPIPE raised meanwhile is consumed on destruction.
class SigpipeGuard {
 public:
  SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard();

 private:
  sigset_t old_{};
  bool was_blocked_ = false;
};

}  // namespace banger::posix
