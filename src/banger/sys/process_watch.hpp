// Watching a process that may not be our child (VMMs outlive the daemon that started them):
// a pidfd that becomes readable when it exits, and its exit status when it was our child.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"

namespace banger::sys {

// A pidfd for the process pid whose start time (field 22 of /proc/<pid>/stat) is start_time;
// readable (POLLIN) once that process has exited, at once for a zombie. The start time is
// checked after the pidfd is opened, so the descriptor never names a process that reused the
// pid. not_found when no such process (gone, or another process under that pid); unavailable
// when the kernel has no pidfd_open; io on other failures.
Expected<base::UniqueFd> open_process_watch(pid_t pid, std::uint64_t start_time);

// How a process ended. Both empty when unknown: the process was not our child (its status went
// to its own parent) or was already collected.
struct ProcessExit {
  std::optional<int> exit_code;
  std::optional<int> signal;
};

// Collects the exit status of the exited process behind pidfd (waitid P_PIDFD, WNOHANG), which
// also reaps it when it is our child. Unknown (both empty) when it is not our child, has not
// exited, or pidfd is not a pidfd.
ProcessExit collect_process_exit(int pidfd);

}  // namespace banger::sys
