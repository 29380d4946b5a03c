// Filesystem helpers that return Expected instead of throwing.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::sys {

Expected<std::string> read_file(const std::string& path);
// Writes to a new uniquely named temp file in the same directory (<path>.tmp.XXXXXX), sets
// mode, fsyncs and renames it over path; the temp file is removed on failure. Concurrent calls
// for one path each rename a complete file: the last rename wins.
Status write_file_atomic(const std::string& path, std::string_view content, mode_t mode = 0644);
// mkdir -p; existing directories are fine. mode applies to directories it creates.
Status make_dirs(const std::string& path, mode_t mode = 0755);
// rm -rf; a missing path is fine.
Status remove_all(const std::string& path);
bool path_exists(const std::string& path);
// invalid_argument "<what> must be an absolute path, got \"<path>\"" (path made printable)
// unless path starts with '/': for paths a daemon receives from a client with another cwd.
Status require_absolute(std::string_view what, const std::string& path);
// Pure: the mount points in mountinfo (/proc/self/mountinfo's format) that are path or below
// it, with the kernel's octal escapes decoded (`\040` is a space, `\134` a backslash), so a
// path with blanks in it matches.
std::vector<std::string> mounts_below(std::string_view mountinfo, const std::string& path);

// Searches PATH for an executable; empty when not found. Names containing '/' are checked as is.
std::string find_executable(const std::string& name);

// The directory of this process's executable (/proc/self/exe), "" when it cannot be read.
std::string self_executable_dir();

}  // namespace banger::sys
