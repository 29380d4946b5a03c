#include "banger/imagecat/guest_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <linux/openat2.h>

#include "banger/base/expected.hpp"

namespace banger::imagecat {
namespace {

// The components of an absolute guest path; empty parts (from "//") are skipped.
Expected<std::vector<std::string>> components(std::string_view guest_path) {
  if (guest_path.empty() || guest_path.front() != '/') {
    return fail(Errc::invalid_argument,
                fmt::format("guest path \"{}\" is not absolute", guest_path));
  }
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= guest_path.size()) {
    std::size_t end = guest_path.find('/', start);
    if (end == std::string_view::npos) {
      end = guest_path.size();
    }
    std::string_view part = guest_path.substr(start, end - start);
    if (part == "." || part == "..") {
      return fail(Errc::invalid_argument,
                  fmt::format("guest path \"{}\" has a \"{}\" part", guest_path, part));
    }
    if (!part.empty()) {
      parts.emplace_back(part);
    }
    start = end + 1;
  }
  return parts;
}

std::string join_parts(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += "/" + parts[i];
  }
  return out.empty() ? "/" : out;
}

// openat2 relative to the tree's root: "." for the root itself.
int open_in_root(int root, const std::string& guest_path, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string relative = guest_path == "/" ? "." : guest_path.substr(1);
  long fd = -1;
  do {
    fd = ::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return static_cast<int>(fd);
}

tl::unexpected<Error> io_fail(std::string_view doing, std::string_view guest_path, int err) {
  return fail_errno(fmt::format("{} {} in the image tree", doing, guest_path), err);
}

// Removes `name` in dir (a tree when it is a directory) without following any symlink.
Status remove_at(int dir, const std::string& name, const std::string& guest_path) {
  struct stat st{};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status{} : io_fail("removing", guest_path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
      return io_fail("removing", guest_path, errno);
    }
    return {};
  }
  int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return io_fail("removing", guest_path, errno);
  }
  DIR* entries = ::fdopendir(fd);
  if (entries == nullptr) {
    int err = errno;
    ::close(fd);
    return io_fail("removing", guest_path, err);
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(entries)) {
    std::string_view child = entry->d_name;
    if (child != "." && child != "..") {
      names.emplace_back(child);
    }
  }
  Status result;
  for (const auto& child : names) {
    result = remove_at(::dirfd(entries), child, guest_path + "/" + child);
    if (!result) {
      break;
    }
  }
  ::closedir(entries);
  BANGER_TRY(result);
  if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return io_fail("removing", guest_path, errno);
  }
  return {};
}

// A name for a temp file beside `name` that nobody can predict.
std::string temp_name(const std::string& name) {
  std::uint64_t random = 0;
  if (::getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    random = static_cast<std::uint64_t>(::getpid()) << 32 ^ static_cast<std::uint64_t>(::rand());
  }
  return fmt::format(".{}.banger-tmp.{:016x}", name, random);
}

}  // namespace

Expected<GuestTree> GuestTree::open(const std::string& root) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return fail_errno("opening the image tree " + root, errno);
  }
  return GuestTree(base::UniqueFd(fd));
}

Expected<base::UniqueFd> GuestTree::open_dir(std::string_view guest_path) {
  BANGER_TRY_ASSIGN(auto parts, components(guest_path));
  int fd = open_in_root(root_.get(), join_parts(parts, parts.size()), O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    return io_fail("opening", guest_path, errno);
  }
  return base::UniqueFd(fd);
}

Expected<GuestTree::Parent> GuestTree::parent(std::string_view guest_path) {
  BANGER_TRY_ASSIGN(auto parts, components(guest_path));
  if (parts.empty()) {
    return fail(Errc::invalid_argument, "the image tree's root cannot be edited as a file");
  }
  int fd = open_in_root(root_.get(), join_parts(parts, parts.size() - 1), O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    return io_fail("opening the directory of", guest_path, errno);
  }
  return Parent{.dir = base::UniqueFd(fd), .name = parts.back()};
}

Expected<base::UniqueFd> GuestTree::ensure_dirs(std::string_view guest_path, mode_t mode,
                                                bool chmod_last) {
  BANGER_TRY_ASSIGN(auto parts, components(guest_path));
  base::UniqueFd dir(::dup(root_.get()));
  if (!dir) {
    return io_fail("creating", guest_path, errno);
  }
  for (std::size_t i = 1; i <= parts.size(); ++i) {
    const std::string prefix = join_parts(parts, i);
    int fd = open_in_root(root_.get(), prefix, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      // Created as a plain name in the directory resolved so far (inside the tree); EEXIST
      // here means a link that leads nowhere inside the tree, which the reopen reports.
      if (::mkdirat(dir.get(), parts[i - 1].c_str(), mode) != 0 && errno != EEXIST) {
        return io_fail("creating", prefix, errno);
      }
      fd = open_in_root(root_.get(), prefix, O_RDONLY | O_DIRECTORY);
    }
    if (fd < 0) {
      return io_fail("creating", prefix, errno);
    }
    dir.reset(fd);
  }
  if (chmod_last && ::fchmod(dir.get(), mode) != 0) {
    return io_fail("setting the mode of", guest_path, errno);
  }
  return dir;
}

Status GuestTree::make_dirs(std::string_view guest_path, mode_t mode) {
  BANGER_TRY(ensure_dirs(guest_path, mode, true));
  return {};
}

Status GuestTree::write_file(std::string_view guest_path, std::string_view content, mode_t mode) {
  BANGER_TRY_ASSIGN(auto parts, components(guest_path));
  if (parts.empty()) {
    return fail(Errc::invalid_argument, "the image tree's root cannot be written as a file");
  }
  BANGER_TRY_ASSIGN(auto dir, ensure_dirs(join_parts(parts, parts.size() - 1), 0755, false));
  const std::string& name = parts.back();
  struct stat st{};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    ::unlinkat(dir.get(), name.c_str(), 0);  // the rename would replace it too; be explicit
  }
  const std::string tmp = temp_name(name);
  base::UniqueFd file(
      ::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file) {
    return io_fail("writing", guest_path, errno);
  }
  auto fail_write = [&](int err) {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return io_fail("writing", guest_path, err);
  };
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(file.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_write(errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(file.get(), mode) != 0 || ::fsync(file.get()) != 0 ||
      ::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0) {
    return fail_write(errno);
  }
  return {};
}

Status GuestTree::symlink(std::string_view guest_path, std::string_view target) {
  BANGER_TRY_ASSIGN(auto where, parent(guest_path));
  if (::symlinkat(std::string(target).c_str(), where.dir.get(), where.name.c_str()) != 0) {
    return fail_errno(
        fmt::format("creating symlink {} -> {} in the image tree", guest_path, target), errno);
  }
  return {};
}

Status GuestTree::remove(std::string_view guest_path) {
  auto where = parent(guest_path);
  if (!where) {
    return where.error().code == Errc::not_found ? Status{} : tl::unexpected(where.error());
  }
  return remove_at(where->dir.get(), where->name, std::string(guest_path));
}

bool GuestTree::exists(std::string_view guest_path) {
  auto where = parent(guest_path);
  struct stat st{};
  return where && ::fstatat(where->dir.get(), where->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool GuestTree::is_regular(std::string_view guest_path) {
  auto where = parent(guest_path);
  struct stat st{};
  return where && ::fstatat(where->dir.get(), where->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

bool GuestTree::is_executable(std::string_view guest_path) {
  auto parts = components(guest_path);
  if (!parts) {
    return false;
  }
  base::UniqueFd fd(open_in_root(root_.get(), join_parts(*parts, parts->size()), O_PATH));
  struct stat st{};
  return fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

Expected<std::string> GuestTree::read_file(std::string_view guest_path, std::size_t max_bytes) {
  BANGER_TRY_ASSIGN(auto parts, components(guest_path));
  base::UniqueFd fd(
      open_in_root(root_.get(), join_parts(parts, parts.size()), O_RDONLY | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    return io_fail("reading", guest_path, errno);
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return fail(Errc::invalid_argument,
                fmt::format("{} in the image tree is not a file of at most {} bytes", guest_path,
                            max_bytes));
  }
  std::string content(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < content.size()) {
    ssize_t n = ::read(fd.get(), content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  content.resize(got);
  return content;
}

Expected<std::vector<std::string>> GuestTree::list(std::string_view guest_path) {
  BANGER_TRY_ASSIGN(auto dir, open_dir(guest_path));
  DIR* entries = ::fdopendir(dir.get());
  if (entries == nullptr) {
    return io_fail("listing", guest_path, errno);
  }
  dir.release();  // owned by entries now
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(entries)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
  ::closedir(entries);
  return names;
}

}  // namespace banger::imagecat
