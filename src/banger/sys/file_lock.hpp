// FileLock: an exclusive flock(2) on a file, held for the object's lifetime.
#pragma once

#include <string>

#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"

namespace banger::sys {

class FileLock {
 public:
  // Takes the lock without waiting; Errc::unavailable when another process holds it.
  static Expected<FileLock> try_acquire(const std::string& path);
  // Waits for the lock.
  static Expected<FileLock> acquire(const std::string& path);

  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;
  ~FileLock() = default;  // closing the descriptor releases the lock

  int fd() const { return fd_.get(); }

 private:
  explicit FileLock(base::UniqueFd fd) : fd_(std::move(fd)) {}
  base::UniqueFd fd_;
};

}  // namespace banger::sys
