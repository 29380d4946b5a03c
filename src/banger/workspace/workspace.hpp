// Workspaces (SPEC S12, issue 11, docs/workspaces.md): everything about copying a user's
// repository into a guest that needs neither a VM nor the daemon. The CLI calls inspect() (the
// preflight, before any VM exists), then runs guest_prepare_command() in the guest over a stream
// channel (ADR 0009) and feeds its stdin with write_upload_stream(). Export and show are guest
// commands too, whose output the CLI passes on (export) or parses (show).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::workspace {

// The exit code of the guest prepare command when it refuses to replace a guest directory that
// holds changes nobody exported (the message is on its stderr); `force` replaces it anyway.
inline constexpr int kDirtyExitCode = 3;
// The exit code of a guest command that found no usable repository in the guest directory.
inline constexpr int kNoWorkspaceExitCode = 4;

struct Options {
  std::string path;  // the repository (any directory inside it) or, with no_git, a directory
  bool include_untracked = false;  // also untracked files that git does not ignore
  bool no_git = false;             // a plain directory: all files, no git metadata
  std::string branch;              // create this guest-only branch (git check-ref-format)
  std::string from;                // with branch: the branch starts at this commit's clean tree
  bool force = false;              // over max_size_bytes, or replacing a dirty guest directory
  std::uint64_t max_size_bytes = 2ull << 30;
};

struct Entry {
  enum class Kind { file, symlink, directory };
  std::string path;  // relative to the root, raw bytes, never absolute, no "." or ".." parts
  Kind kind = Kind::file;
  std::uint32_t mode = 0;  // permission bits (07777) as found
  std::uint64_t size = 0;  // file: bytes at inspection; symlink: target length
  bool in_submodule = false;
  std::string oid;  // with --from: the blob the content is read from; "" otherwise
};

struct Plan {
  Options options;
  std::string root;       // the repository's top level (or the directory), symlinks resolved
  std::string repo_name;  // basename of root
  bool git = true;
  std::string head;         // full sha of what the guest's HEAD will be (HEAD, or --from's commit)
  std::string branch;       // the host's current branch, "" when detached
  std::string origin_url;   // remote.origin.url, "" when none
  std::string from_commit;  // --from resolved to a full sha, "" without --from
  std::vector<Entry> entries;
  std::string index_info;  // the index at inspection (git ls-files -s -z), what the guest loads
  std::vector<std::string> submodules;  // gitlink paths (their checked-out files are entries)
  std::uint64_t total_bytes = 0;        // sum of the files' sizes
  // git status of the host's working tree (0 with --from: a clean tree is copied)
  int modified = 0, added = 0, deleted = 0, untracked = 0;
};

// Preflight + enumeration, before any VM exists. A path that is a symlink is resolved (the
// repository it leads to is copied; docs/workspaces.md). Errors, each naming the path:
// invalid_argument (empty path, not a directory, --from without --branch, an invalid branch
// name, --branch with --no-git, --include-untracked with --no-git or --from), not_found (path
// missing, --from names no commit), failed_precondition (not inside a git work tree, bare
// repository, no commit yet, larger than max_size_bytes without force).
Expected<Plan> inspect(const Options& options);

// The --dry-run listing: one line per entry (size, C-escaped name, "(symlink)", "(executable)",
// "dir/"), one line per submodule saying its files are copied, the git summary, the totals.
std::string render_dry_run(const Plan& plan);

// The workspace part of the spec line: "workspace myrepo @ 1a2b3c4 (+3 modified)",
// "workspace dir (no git)".
std::string spec_fragment(const Plan& plan);

struct GuestCommand {
  std::vector<std::string> argv;
  std::string cwd;
};

// The guest command that reads write_upload_stream()'s bytes on stdin and builds guest_dir from
// them (staged next to it, then swapped in). It refuses before reading anything (exit
// kDirtyExitCode) when guest_dir holds changes since the last prepare or export, unless
// plan.options.force; exits 1 with "the image has no git: ..." / "the image has no tar: ...".
// POSIX sh; works with busybox sh/tar and with dash/bash + GNU tar; git 2.x in the guest.
GuestCommand guest_prepare_command(const Plan& plan, const std::string& guest_dir = "/root/repo");

// Writes the upload stream for guest_prepare_command to fd (a pipe or socket): one GNU tar
// stream, written as it is read (bounded memory; the workspace's files are never copied on the
// host's disk: the only scratch files, in a private temporary directory removed on every path,
// are the guest's index, its tree objects and a pack under 1 MiB with its .idx). Files
// are opened relative to plan.root without following any symlink. A file whose size changed
// since it was opened fails with failed_precondition naming it. EPIPE (the guest stopped
// reading: look at its exit code first, it may have refused) is Errc::io. cancel is checked
// between entries and between blocks (Errc::cancelled). content_bytes, when set, grows by the
// file content bytes streamed (workspace files and git metadata files; not tar headers) as
// they are written, for a progress display on another thread: compare with plan.total_bytes.
Status write_upload_stream(const Plan& plan, int fd, const base::CancelFn& cancel = {},
                           std::atomic<std::uint64_t>* content_bytes = nullptr);

// A guest command whose stdout is a binary patch (git diff --binary --full-index -M) from
// base_commit (or the guest's HEAD) to the guest's working tree, untracked non-ignored files
// included, for `git apply` on the host's checkout at that base. Records what it exported, so a
// later prepare does not count it as unexported. Exit kNoWorkspaceExitCode without a git
// repository in guest_dir; 1 with a message when base_commit is not in the guest.
GuestCommand guest_export_command(const std::optional<std::string>& base_commit,
                                  const std::string& guest_dir = "/root/repo");

struct GuestStatus {
  bool git = false;         // guest_dir is a git work tree
  std::string head;         // full sha ("" without git)
  std::string branch;       // "" when detached
  std::string base;         // HEAD when it was copied, "" when unknown
  int changed = 0;          // tracked paths that differ from HEAD (staged or not)
  int untracked = 0;        // untracked, not ignored
  bool unexported = false;  // changed since the last prepare or export
};

// A guest command printing guest_dir's state as "key value" lines (parse_guest_status reads
// them). Exit kNoWorkspaceExitCode when guest_dir does not exist.
GuestCommand guest_status_command(const std::string& guest_dir = "/root/repo");

// Parses guest_status_command's output (guest input: strict, bounded; invalid_argument on
// anything unexpected).
Expected<GuestStatus> parse_guest_status(std::string_view out);

}  // namespace banger::workspace
