#include "banger/agentd/host_attach.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace banger::agentd {
namespace {

constexpr int kArmedWaitInIdleSleeps = 100;

sigset_t sigio_set() {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGIO);
  return set;
}

}  // namespace

HostAttachWait::HostAttachWait(int fd, std::chrono::milliseconds idle_sleep)
    : fd_(fd), idle_sleep_(idle_sleep) {
  const sigset_t set = sigio_set();
  if (::pthread_sigmask(SIG_BLOCK, &set, &old_mask_) != 0) {
    return;
  }
  f_owner_ex owner{F_OWNER_TID, static_cast<pid_t>(::gettid())};
  const int flags = ::fcntl(fd_, F_GETFL);
  armed_ = flags >= 0 && ::fcntl(fd_, F_SETOWN_EX, &owner) == 0 &&
           ::fcntl(fd_, F_SETFL, flags | O_ASYNC) == 0;
}

HostAttachWait::~HostAttachWait() {
  if (armed_) {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) {
      ::fcntl(fd_, F_SETFL, flags & ~O_ASYNC);
    }
  }
  // A SIGIO still pending would be delivered when the mask is restored, and its default action
  // ends the process: consume it first.
  const sigset_t set = sigio_set();
  const timespec now{0, 0};
  while (::sigtimedwait(&set, nullptr, &now) == SIGIO) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void HostAttachWait::wait() {
  if (!armed_) {
    std::this_thread::sleep_for(idle_sleep_);
    return;
  }
  const auto longest = idle_sleep_ * kArmedWaitInIdleSleeps;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(longest);
  const timespec timeout{
      .tv_sec = static_cast<time_t>(seconds.count()),
      .tv_nsec = static_cast<long>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(longest - seconds).count())};
  const sigset_t set = sigio_set();
  // EAGAIN (timeout) and EINTR just return: the caller polls the port again either way.
  (void)::sigtimedwait(&set, nullptr, &timeout);
}

}  // namespace banger::agentd
