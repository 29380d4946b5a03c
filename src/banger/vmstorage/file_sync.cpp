#include "banger/vmstorage/file_sync.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"

namespace banger::vmstorage {
namespace {

constexpr mode_t kPermissionBits = 0777;

std::string mib(std::uint64_t bytes) { return fmt::format("{} MiB", bytes >> 20); }

struct Scan {
  const FileSyncLimits& limits;
  std::uint64_t bytes = 0;
  std::size_t nodes = 0;
};

Error too_big(const FileSyncEntry& e, std::string_view what) {
  return Error{Errc::invalid_argument,
               fmt::format("file_sync[{}]: {} holds {}; sync less, or copy large data into the "
                           "VM another way (vm run <path>, scp)",
                           e.index, e.host_path, what)};
}

std::string join_rel(const std::string& rel, std::string_view name) {
  return rel.empty() ? std::string(name) : rel + "/" + std::string(name);
}

// Reads the regular file open as fd (size from its fstat) into node.content.
Status read_content(int fd, std::uint64_t size, HostNode& node) {
  node.content.resize(size);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, node.content.data() + done, size - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return fail_errno("reading", errno);
    }
    if (n == 0) {
      break;  // the file shrank while we read it: copy what is there
    }
    done += static_cast<std::size_t>(n);
  }
  node.content.resize(done);
  return {};
}

Status scan_at(Scan& scan, const FileSyncEntry& entry, int dirfd, const char* name, std::string rel,
               std::size_t depth, bool follow, std::vector<HostNode>& out);

Status scan_dir(Scan& scan, const FileSyncEntry& entry, int fd, const std::string& rel,
                std::size_t depth, std::vector<HostNode>& out) {
  if (depth >= scan.limits.max_depth) {
    return tl::unexpected(
        too_big(entry, fmt::format("directories deeper than {} levels", scan.limits.max_depth)));
  }
  int listing_fd = ::dup(fd);
  if (listing_fd < 0) {
    return fail_errno("listing " + entry.host_path, errno);
  }
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(listing_fd);
    return fail_errno("listing " + entry.host_path, err);
  }
  base::Defer close_dir([&] { ::closedir(dir); });
  std::vector<std::string> names;
  errno = 0;
  while (dirent* d = ::readdir(dir)) {
    std::string_view name = d->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
    errno = 0;
  }
  if (errno != 0) {
    return fail_errno(fmt::format("listing {}/{}", entry.host_path, rel), errno);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    BANGER_TRY(scan_at(scan, entry, fd, name.c_str(), join_rel(rel, name), depth + 1, false, out));
  }
  return {};
}

// Records dirfd/name (rel below the entry) and, for a directory, what it holds. follow: only
// the entry's own path may be a symlink that is followed.
Status scan_at(Scan& scan, const FileSyncEntry& entry, int dirfd, const char* name, std::string rel,
               std::size_t depth, bool follow, std::vector<HostNode>& out) {
  if (++scan.nodes > scan.limits.max_nodes) {
    return tl::unexpected(too_big(
        entry, fmt::format("more than {} files (all entries together)", scan.limits.max_nodes)));
  }
  struct stat st{};
  if (::fstatat(dirfd, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
    out.push_back({.rel = rel,
                   .kind = HostNode::Kind::other,
                   .why = fmt::format("unreadable: {}", std::strerror(errno))});
    return {};
  }
  HostNode node{.rel = rel, .mode = static_cast<mode_t>(st.st_mode & 07777)};
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(dirfd, name, target.data(), target.size());
    if (n < 0 || static_cast<std::size_t>(n) >= target.size()) {
      node.kind = HostNode::Kind::other;
      node.why = "a symlink that changed while it was read";
    } else {
      target.resize(static_cast<std::size_t>(n));
      node.kind = HostNode::Kind::symlink;
      node.target = std::move(target);
    }
    out.push_back(std::move(node));
    return {};
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    node.kind = HostNode::Kind::other;
    node.why = S_ISFIFO(st.st_mode) ? "a fifo" : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
    out.push_back(std::move(node));
    return {};
  }
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW) |
              (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
  base::UniqueFd fd(::openat(dirfd, name, flags));
  struct stat opened{};
  if (!fd || ::fstat(fd.get(), &opened) != 0 || opened.st_ino != st.st_ino ||
      (opened.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
    node.kind = HostNode::Kind::other;
    node.why =
        fd ? "replaced while it was read" : fmt::format("unreadable: {}", std::strerror(errno));
    out.push_back(std::move(node));
    return {};
  }
  if (S_ISDIR(st.st_mode)) {
    node.kind = HostNode::Kind::directory;
    out.push_back(std::move(node));
    return scan_dir(scan, entry, fd.get(), rel, depth, out);
  }
  auto size = static_cast<std::uint64_t>(opened.st_size);
  if (scan.bytes + size > scan.limits.max_bytes) {
    return tl::unexpected(too_big(entry, fmt::format("more than {} of files (all entries together)",
                                                     mib(scan.limits.max_bytes))));
  }
  node.kind = HostNode::Kind::file;
  if (auto r = read_content(fd.get(), size, node); !r) {
    node.kind = HostNode::Kind::other;
    node.why = "unreadable: " + r.error().message;
    node.content.clear();
  }
  scan.bytes += node.content.size();
  out.push_back(std::move(node));
  return {};
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos;
}

// The path on the work disk of a guest path below /root ("/root/.aws" -> "/.aws").
std::string disk_path(const std::string& guest_path, const std::string& rel) {
  std::string base = guest_path.substr(std::string_view("/root").size());
  return rel.empty() ? base : base + "/" + rel;
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  return out;
}

}  // namespace

mode_t directory_mode(mode_t file_mode) {
  file_mode &= kPermissionBits;
  return file_mode | ((file_mode & 0444) >> 2);
}

Expected<std::vector<HostTree>> scan_file_sync(const std::vector<FileSyncEntry>& entries,
                                               const FileSyncLimits& limits) {
  Scan scan{.limits = limits};
  std::vector<HostTree> trees;
  for (const auto& entry : entries) {
    HostTree tree{.entry = entry};
    if (::access(entry.host_path.c_str(), F_OK) != 0 && errno == ENOENT) {
      tree.missing = true;
    } else {
      BANGER_TRY(scan_at(scan, entry, AT_FDCWD, entry.host_path.c_str(), "", 0, true, tree.nodes));
    }
    trees.push_back(std::move(tree));
  }
  return trees;
}

FileSyncPlan plan_file_sync(const std::vector<HostTree>& trees) {
  FileSyncPlan plan;
  for (const auto& tree : trees) {
    const FileSyncEntry& e = tree.entry;
    auto warn = [&](const std::string& rel, std::string_view what) {
      std::string where = rel.empty() ? e.host_path : e.host_path + "/" + rel;
      plan.warnings.push_back(
          fmt::format("file_sync[{}]: {} {}; skipped", e.index, printable(where), what));
    };
    if (tree.missing) {
      warn("", "does not exist");
      continue;
    }
    // Parents of the entry's guest path: created when missing, left alone when present.
    std::string top = disk_path(e.guest_path, "");
    for (std::size_t slash = top.find('/', 1); slash != std::string::npos;
         slash = top.find('/', slash + 1)) {
      plan.edit.ensure_dir(top.substr(0, slash), 0755);
    }
    std::vector<std::string> skipped_dirs;  // contents of a skipped directory are skipped too
    for (const auto& node : tree.nodes) {
      bool under_skipped = std::any_of(skipped_dirs.begin(), skipped_dirs.end(),
                                       [&](auto& d) { return node.rel.starts_with(d + "/"); });
      if (under_skipped) {
        continue;
      }
      if (has_line_break(node.rel)) {
        warn(node.rel, "has a newline or carriage return in its name");
        if (node.kind == HostNode::Kind::directory) {
          skipped_dirs.push_back(node.rel);
        }
        continue;
      }
      std::string path = disk_path(e.guest_path, node.rel);
      switch (node.kind) {
        case HostNode::Kind::file: {
          mode_t mode = e.mode.value_or(node.mode) & kPermissionBits;
          plan.edit.write_file(path, node.content, mode, 0, 0);
          plan.bytes += node.content.size();
          break;
        }
        case HostNode::Kind::directory: {
          mode_t mode = e.mode ? directory_mode(*e.mode) : node.mode & kPermissionBits;
          plan.edit.mkdir_p(path, mode, 0, 0);
          break;
        }
        case HostNode::Kind::symlink:
          if (node.target.empty() || has_line_break(node.target)) {
            warn(node.rel, "is a symlink whose target has a newline or carriage return");
          } else {
            plan.edit.symlink(path, node.target);
          }
          break;
        case HostNode::Kind::other:
          warn(node.rel, "is " + node.why);
          break;
      }
    }
  }
  return plan;
}

}  // namespace banger::vmstorage
