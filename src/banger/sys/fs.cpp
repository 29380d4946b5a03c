#include "banger/sys/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "banger/base/fd.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"

namespace banger::sys {

Expected<std::string> read_file(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno("reading " + path, errno);
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("reading " + path, errno);
    }
    if (r == 0) {
      return out;
    }
    out.append(buf, static_cast<std::size_t>(r));
  }
}

Status write_file_atomic(const std::string& path, std::string_view content, mode_t mode) {
  // A fresh name per call (mkostemp: O_CREAT|O_EXCL, mode 0600 until fchmod), so concurrent
  // writers of one path never share a temp file and nothing planted there is followed.
  std::string tmp = path + ".tmp.XXXXXX";
  base::UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) {
    return fail_errno("writing " + tmp, errno);
  }
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t w = ::write(fd.get(), content.data() + done, content.size() - done);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      ::unlink(tmp.c_str());
      return fail_errno("writing " + tmp, e);
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0 ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail_errno("writing " + path, e);
  }
  return {};
}

Status make_dirs(const std::string& path, mode_t mode) {
  std::string current;
  for (const auto& part : base::split(path, '/')) {
    if (part.empty()) {
      if (current.empty()) {
        current = "/";
      }
      continue;
    }
    if (!current.empty() && current.back() != '/') {
      current += '/';
    }
    current += part;
    if (::mkdir(current.c_str(), mode) != 0 && errno != EEXIST) {
      return fail_errno("creating directory " + current, errno);
    }
  }
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    return fail_errno("creating directory " + path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail(Errc::failed_precondition, path + " exists and is not a directory");
  }
  return {};
}

Status remove_all(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    return fail(Errc::io, "removing " + path + ": " + ec.message());
  }
  return {};
}

namespace {

// A mountinfo field with the kernel's escapes (\ooo for space, tab, newline and backslash)
// decoded; anything else passes through unchanged.
std::string unescape_mountinfo(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    auto octal = [&](std::size_t at) {
      return at < field.size() && field[at] >= '0' && field[at] <= '7';
    };
    if (field[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> mounts_below(std::string_view mountinfo, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& line : base::split(mountinfo, '\n')) {
    auto fields = base::split(line, ' ');
    if (fields.size() < 5) {
      continue;
    }
    std::string mount_point = unescape_mountinfo(fields[4]);
    if (mount_point == path || mount_point.starts_with(path + "/")) {
      out.push_back(std::move(mount_point));
    }
  }
  return out;
}

Status require_absolute(std::string_view what, const std::string& path) {
  if (!path.starts_with('/')) {
    return fail(Errc::invalid_argument, std::string(what) + " must be an absolute path, got \"" +
                                            base::printable(path, 200) + "\"");
  }
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return ::access(name.c_str(), X_OK) == 0 ? name : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string search = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  // Tools such as mkfs.ext4 and nft live in sbin, which a user's PATH may omit.
  search += ":/usr/local/sbin:/usr/sbin:/sbin";
  for (const auto& dir : base::split(search, ':')) {
    if (dir.empty()) {
      continue;
    }
    std::string candidate = dir + "/" + name;
    struct stat st{};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

std::string self_executable_dir() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    return "";
  }
  std::string dir(self, static_cast<std::size_t>(n));
  dir.resize(dir.rfind('/'));
  return dir;
}

}  // namespace banger::sys
