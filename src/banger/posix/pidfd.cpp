#include "banger/posix/pidfd.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace banger::posix {

Fd open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0U);
  return Fd(fd >= 0 ? static_cast<int>(fd) : -1);
#else
  (void)pid;
  errno = ENOSYS;
  return Fd();
#endif
}

}  // namespace banger::posix
