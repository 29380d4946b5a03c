// pidfd_open(2), the one place that spells the system call: a descriptor naming a process that
// becomes readable when it exits and cannot be fooled by pid reuse once open.
#pragma once

#include <sys/types.h>

#include "banger/posix/fd.hpp"

namespace banger::posix {

// A pidfd for pid, or an invalid Fd with errno set (ESRCH: no such process; ENOSYS: the kernel
// or the C library headers have no pidfd_open, Linux < 5.3).
Fd open_pidfd(pid_t pid);

}  // namespace banger::posix
