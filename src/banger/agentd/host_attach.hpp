// Waiting, without polling, for a host to attach to a virtio-serial port. A port with no host
// reports POLLHUP and EOF at once, so poll() cannot wait for one; sleeping and retrying costs
// an idle guest CPU (under TCG every wakeup is emulated: 5 ports at 10 ms were about half of an
// idle guest's CPU). virtio_console instead sends SIGIO to a port's owner when the host side
// opens or closes the port and when data arrives (O_ASYNC / fasync), so the serving thread
// blocks SIGIO and waits for it with sigtimedwait(): a signal raised before the wait stays
// pending, so no attach is missed between the EOF and the wait.
#pragma once

#include <signal.h>

#include <chrono>

namespace banger::agentd {

class HostAttachWait {
 public:
  // Arms fd for the calling thread: SIGIO blocked in this thread, fd owned by this thread
  // (F_SETOWN_EX, F_OWNER_TID) with O_ASYNC. When the fd does not take O_ASYNC, wait() sleeps
  // idle_sleep instead (the old behaviour). Armed, wait() gives up after 100 idle sleeps: that
  // only bounds how late a stop flag (tests) or a lost signal is noticed.
  HostAttachWait(int fd, std::chrono::milliseconds idle_sleep);
  // Disarms fd (clears O_ASYNC) and restores this thread's signal mask.
  ~HostAttachWait();
  HostAttachWait(const HostAttachWait&) = delete;
  HostAttachWait& operator=(const HostAttachWait&) = delete;

  // Returns when the host attached, left or sent data (SIGIO), or after the timeout above.
  // Call only from the thread that constructed this.
  void wait();
  bool armed() const { return armed_; }

 private:
  int fd_;
  std::chrono::milliseconds idle_sleep_;
  bool armed_ = false;
  sigset_t old_mask_{};
};

}  // namespace banger::agentd
