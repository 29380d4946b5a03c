#include "banger/sys/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

namespace banger::sys {

Expected<FileLock> FileLock::try_acquire(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno("opening lock file " + path, errno);
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(Errc::unavailable, path + " is locked by another process");
    }
    return fail_errno("locking " + path, errno);
  }
  return FileLock(std::move(fd));
}

Expected<FileLock> FileLock::acquire(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno("opening lock file " + path, errno);
  }
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      return fail_errno("locking " + path, errno);
    }
  }
  return FileLock(std::move(fd));
}

}  // namespace banger::sys
