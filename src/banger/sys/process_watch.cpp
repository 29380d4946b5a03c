#include "banger/sys/process_watch.hpp"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "banger/posix/pidfd.hpp"
#include "banger/sys/process_launcher.hpp"

namespace banger::sys {
namespace {

#ifndef P_PIDFD
constexpr idtype_t kPidfdIdType = static_cast<idtype_t>(3);
#else
constexpr idtype_t kPidfdIdType = P_PIDFD;
#endif

}  // namespace

Expected<base::UniqueFd> open_process_watch(pid_t pid, std::uint64_t start_time) {
  if (pid <= 0) {
    return fail(Errc::not_found, fmt::format("no process {}", pid));
  }
  base::UniqueFd watch = posix::open_pidfd(pid);
  if (!watch.valid()) {
    int err = errno;
    if (err == ESRCH) {
      return fail(Errc::not_found, fmt::format("process {} is gone", pid));
    }
    if (err == ENOSYS) {
      return fail(Errc::unavailable, "this kernel has no pidfd_open (Linux 5.3 or newer needed)");
    }
    return fail(Errc::io, fmt::format("pidfd_open({}): {}", pid, std::strerror(err)));
  }
  // Opened first, checked second: if the start time matches now, the pidfd names that process.
  auto actual = process_start_time(pid);
  if (!actual || *actual != start_time) {
    return fail(Errc::not_found,
                fmt::format("process {} is gone (another process has its pid)", pid));
  }
  return watch;
}

ProcessExit collect_process_exit(int pidfd) {
  siginfo_t info{};
  if (::waitid(kPidfdIdType, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) != 0 ||
      info.si_pid == 0) {
    return {};
  }
  if (info.si_code == CLD_EXITED) {
    return {.exit_code = info.si_status, .signal = std::nullopt};
  }
  return {.exit_code = std::nullopt, .signal = info.si_status};
}

}  // namespace banger::sys
