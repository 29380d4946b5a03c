#include "banger/sys/capped_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"

namespace banger::sys {
namespace {

constexpr std::int64_t kMinCap = 4096;

Expected<base::UniqueFd> open_log(const std::string& path, bool truncate) {
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | (truncate ? O_TRUNC : 0);
  base::UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd) {
    return fail_errno("opening log file " + path, errno);
  }
  return fd;
}

Status write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("writing log file " + path, errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Status copy_to_capped_log(int in_fd, const std::string& path, std::int64_t max_bytes) {
  if (max_bytes < kMinCap) {
    return fail(Errc::invalid_argument,
                fmt::format("log cap {} bytes is below the minimum of {}", max_bytes, kMinCap));
  }
  BANGER_TRY_ASSIGN(auto out, open_log(path, false));
  struct stat st{};
  std::int64_t size = ::fstat(out.get(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
  std::array<char, 65536> buffer{};
  while (true) {
    ssize_t got = ::read(in_fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("reading the stream for " + path, errno);
    }
    if (got == 0) {
      return {};
    }
    const char* data = buffer.data();
    auto n = static_cast<std::int64_t>(got);
    if (n > max_bytes) {  // only with a cap below the buffer size: keep the newest bytes
      data += n - max_bytes;
      n = max_bytes;
    }
    if (size + n > max_bytes) {
      std::string previous = path + ".1";
      if (::rename(path.c_str(), previous.c_str()) != 0) {
        return fail_errno(fmt::format("rotating {} to {}", path, previous), errno);
      }
      BANGER_TRY_ASSIGN(out, open_log(path, true));
      size = 0;
    }
    BANGER_TRY(write_all(out.get(), data, static_cast<std::size_t>(n), path));
    size += n;
  }
}

std::string read_tail(const std::string& path, std::int64_t max_bytes, std::int64_t from_offset) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0 || max_bytes <= 0) {
    return {};
  }
  const auto size = static_cast<std::int64_t>(st.st_size);
  std::int64_t from = from_offset > size || from_offset < 0 ? 0 : from_offset;
  from = std::max(from, size - max_bytes);
  std::string text(static_cast<std::size_t>(size - from), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pread(fd.get(), text.data() + done, text.size() - done,
                        static_cast<off_t>(from + static_cast<std::int64_t>(done)));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // shrank meanwhile (rotation): what was read is the tail we have
    }
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}

}  // namespace banger::sys
