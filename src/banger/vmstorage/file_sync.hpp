// [[file_sync]] (SPEC S3/S12, docs/guest-config.md "Synced files"): host files and directories
// copied onto a VM's work disk (the guest's /root) at every start. scan_file_sync() reads the
// host (bounded), plan_file_sync() turns what it found into one ext4 edit (pure).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/ext4/editor.hpp"

namespace banger::vmstorage {

// One entry, as config::FileSync resolved it.
struct FileSyncEntry {
  std::size_t index = 0;       // position in the config: messages say "file_sync[<index>]"
  std::string host_path;       // absolute host path ("~/" already expanded)
  std::string guest_path;      // absolute, normalised guest path below /root ("/root/.aws")
  std::optional<mode_t> mode;  // permission bits; nullopt = the host's
};

// Bounds on what one start copies (all entries together).
struct FileSyncLimits {
  std::uint64_t max_bytes = std::uint64_t{256} << 20;  // file contents
  std::size_t max_nodes = 10000;                       // files, directories and links
  std::size_t max_depth = 32;                          // directory levels below an entry
};

// What scan_file_sync() found below one entry's host path, in pre-order (a directory before
// its contents, names sorted bytewise).
struct HostNode {
  enum class Kind { file, directory, symlink, other };
  std::string rel;  // "" for the entry's own path, else "a/b" below it
  Kind kind = Kind::other;
  mode_t mode = 0;      // the host's permission bits (07777)
  std::string content;  // file
  std::string target;   // symlink: the link text, never followed
  std::string why;      // other: what it is ("a fifo", "unreadable: Permission denied")
};

struct HostTree {
  FileSyncEntry entry;
  bool missing = false;  // the host path does not exist (a warning, not an error)
  std::vector<HostNode> nodes;
};

// Reads every entry's host path. The entry's own path is followed when it is a symlink (a
// dotfile manager's ~/.gitconfig -> dotfiles/gitconfig); symlinks below it are recorded as
// links and never followed; files that cannot be opened or are not regular, directories or
// links become Kind::other (skipped with a warning by the plan). Errors: invalid_argument
// naming the entry when the limits are exceeded ("file_sync[1]: /home/u/big holds more than
// 256 MiB ..."); io when a directory cannot be listed.
Expected<std::vector<HostTree>> scan_file_sync(const std::vector<FileSyncEntry>& entries,
                                               const FileSyncLimits& limits = {});

struct FileSyncPlan {
  // Paths are on the work disk (the guest's /root is its "/"): every synced node written as
  // root:root; missing parents created 0755 (existing ones keep their mode).
  ext4::Ext4Edit edit;
  std::vector<std::string> warnings;  // one line each, naming the entry
  std::uint64_t bytes = 0;            // file contents written
};

// Pure: the edit that copies trees onto the work disk. Modes: a file entry gets mode, else the
// host file's permission bits (0777 at most: no setuid/setgid/sticky bits); in a directory
// entry with mode, files get mode and directories get mode plus x wherever r is set (0600 ->
// 0700, 0644 -> 0755), without mode each keeps its host bits. Warnings (the node is skipped):
// a missing host path, special files, names or link targets with a newline, carriage return
// or NUL (a debugfs script is line-based).
FileSyncPlan plan_file_sync(const std::vector<HostTree>& trees);

// Pure: the mode a directory inside a synced tree gets from an entry's file mode.
mode_t directory_mode(mode_t file_mode);

}  // namespace banger::vmstorage
