// Internal to the workspace module: the host side's access to the user's repository. git runs as
// a program (exact git semantics, DEPENDENCIES.md); files are opened beneath the root without
// following any symlink.
#pragma once

#include <sys/stat.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/posix/fd.hpp"

namespace banger::workspace::host {

struct GitResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs `git -C root <args>` (no pager, no optional locks, no fsmonitor hook, C locale, no
// terminal prompts) to completion. An Error only when git could not be run at all ("install git"
// when missing).
Expected<GitResult> git(const std::string& root, const std::vector<std::string>& args);
// Like git(), with stdin fed from input and extra environment variables (GIT_INDEX_FILE, ...).
Expected<GitResult> git(const std::string& root, const std::vector<std::string>& args,
                        std::string input, const std::map<std::string, std::string>& env);
// Like git(), but a non-zero exit is command_failed "git <command> in <root> exited <n>:
// <stderr>" (command: the first argument that is not a leading `-c <name>=<value>`).
Expected<std::string> git_checked(const std::string& root, const std::vector<std::string>& args);
Expected<std::string> git_checked(const std::string& root, const std::vector<std::string>& args,
                                  std::string input, const std::map<std::string, std::string>& env);

// Splits NUL-terminated records ("a\0b\0" -> {"a", "b"}); a missing final NUL still ends one.
std::vector<std::string> split_nul(std::string_view text);

// True when path is relative, non-empty and has no "", "." or ".." component (what the stream
// writer accepts; git never produces anything else, the check is defence in depth).
bool is_safe_relative(std::string_view path);

// Opens root/relative with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): no component, the
// last included, may be a symlink; with O_PATH | O_NOFOLLOW a final symlink itself is opened.
// Returns the errno on failure (ELOOP/EXDEV for a symlink on the way).
posix::Result<posix::Fd> open_beneath(int root, const std::string& relative, int flags);

// lstat of root/relative through open_beneath(O_PATH | O_NOFOLLOW).
posix::Result<struct stat> stat_beneath(int root, const std::string& relative);

// The target of the symlink root/relative (not followed).
Expected<std::string> read_link_beneath(int root, const std::string& relative);

// C-style escaping for display: printable ASCII stays, the rest is \n, \t, \\, \" or \ooo.
std::string escape_name(std::string_view name);

}  // namespace banger::workspace::host
