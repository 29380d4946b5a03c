// GuestTree: host-side edits of an unpacked image tree (an image being built) that never leave
// the tree, whatever symlinks the packages put in it.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"

namespace banger::imagecat {

// GuestFs: the edits banger makes in a root filesystem being built, by guest path
// ("/etc/ssh/banger.conf": absolute, no "." or ".." parts), whether the filesystem is a
// staging tree on the host (GuestTree) or already an ext4 image (Ext4GuestFs). Symlinks on the
// way are followed as the guest would follow them and never lead out of the filesystem; the
// last component is created, replaced or removed as a name, never followed, except where a
// method says it follows links.
class GuestFs {
 public:
  virtual ~GuestFs() = default;
  // Creates or replaces the regular file at the path (root-owned; its directory is created
  // like make_dirs with 0755 when missing); a symlink there is replaced, a directory is an
  // error.
  virtual Status write_file(std::string_view guest_path, std::string_view content, mode_t mode) = 0;
  // mkdir -p: creates what is missing with mode, then sets mode on the last directory.
  virtual Status make_dirs(std::string_view guest_path, mode_t mode) = 0;
  // Creates a symlink at the path (its directory must exist); already_exists when taken.
  virtual Status symlink(std::string_view guest_path, std::string_view target) = 0;
  // rm -rf of the path (the link itself when it is a symlink); missing is fine.
  virtual Status remove(std::string_view guest_path) = 0;
  // Whether something (a dangling symlink too) is at the path.
  virtual bool exists(std::string_view guest_path) = 0;
  // Whether the path itself (not a link there) is a regular file.
  virtual bool is_regular(std::string_view guest_path) = 0;
  // Whether the path, following links as the guest would, is an executable regular file.
  virtual bool is_executable(std::string_view guest_path) = 0;
  // The content of the regular file at the path (links followed as the guest would), at most
  // max_bytes; not_found when missing, invalid_argument when it is larger or not a file.
  virtual Expected<std::string> read_file(std::string_view guest_path,
                                          std::size_t max_bytes = 1 << 16) = 0;
  // The names in the directory at the path (without "." and ".."), unsorted; not_found when
  // it is missing.
  virtual Expected<std::vector<std::string>> list(std::string_view guest_path) = 0;
};

// Every guest path ("/etc/ssh/banger.conf": absolute, no "." or ".." parts) is resolved from
// the tree's root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): a symlink in the tree,
// absolute or relative, is followed as the guest would follow it, so it leads to a place in the
// tree and never to the host's files (an `etc/ssh -> /etc/ssh` link means <root>/etc/ssh). The
// last component itself is never followed: it is created, replaced or removed as a name in its
// (resolved) directory, and directories are removed through descriptors without following
// anything. A link that leads nowhere inside the tree is an error, not an escape.
// Thread-safety: one GuestTree per thread; concurrent edits of one tree are not coordinated.
class GuestTree final : public GuestFs {
 public:
  // not_found when root is missing; io otherwise.
  static Expected<GuestTree> open(const std::string& root);

  // write_file writes a temp file in the path's directory and renames it over the path.
  Status write_file(std::string_view guest_path, std::string_view content, mode_t mode) override;
  Status make_dirs(std::string_view guest_path, mode_t mode) override;
  Status symlink(std::string_view guest_path, std::string_view target) override;
  Status remove(std::string_view guest_path) override;
  bool exists(std::string_view guest_path) override;
  bool is_regular(std::string_view guest_path) override;
  bool is_executable(std::string_view guest_path) override;
  Expected<std::string> read_file(std::string_view guest_path,
                                  std::size_t max_bytes = 1 << 16) override;
  Expected<std::vector<std::string>> list(std::string_view guest_path) override;

 private:
  explicit GuestTree(base::UniqueFd root) : root_(std::move(root)) {}

  struct Parent {
    base::UniqueFd dir;
    std::string name;
  };
  Expected<base::UniqueFd> open_dir(std::string_view guest_path);
  Expected<Parent> parent(std::string_view guest_path);
  // mkdir -p; with chmod_last, the last directory gets mode even when it existed.
  Expected<base::UniqueFd> ensure_dirs(std::string_view guest_path, mode_t mode, bool chmod_last);

  base::UniqueFd root_;
};

}  // namespace banger::imagecat
