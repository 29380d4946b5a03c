// exec: runs argv with a fixed base environment plus the request's env, feeds stdin and
// collects stdout/stderr concurrently (no deadlock on large input and output), with an
// optional timeout that kills the process group.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace banger::agentd {

// The environment every exec starts from; the request's env is laid over it.
// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME=/root, TERM=dumb
// (output goes to pipes, not a terminal), LANG=C.UTF-8.
std::vector<std::string> exec_base_env();

// Pure: base, then image (every key but HOME: commands run as root, HOME stays /root), then
// the request's entries; a later layer replaces a name.
std::map<std::string, std::string> layer_env(const std::vector<std::string>& base,
                                             const std::map<std::string, std::string>& image,
                                             const std::map<std::string, std::string>& request);

// What resolve_program asks of the filesystem (tests pass fakes).
struct ProgramProbe {
  std::function<bool(const std::string&)> exists;         // anything is at the path
  std::function<bool(const std::string&)> is_executable;  // a regular file we may execute
};

// stat() and access(X_OK) on the real filesystem.
ProgramProbe real_program_probe();

// Finds the file to execute for argv[0] `name` the way execvp would, but with the child's PATH
// (`path_var`) and cwd: a name with '/' is taken as is (relative to cwd) and must exist; else the
// first PATH entry (an empty entry is ".", relative entries are under cwd) holding an executable
// `name`. Returns the path (cwd-relative for a relative name with '/'), or not_found
// "executable \"x\" not found" / "executable \"x\" not found in PATH".
std::variant<std::string, agentproto::WireError> resolve_program(const std::string& name,
                                                                 std::string_view path_var,
                                                                 const std::string& cwd,
                                                                 const ProgramProbe& probe);

// A command checked and ready to spawn: the file to execute, the working directory and the
// complete environment ("K=V").
struct PreparedCommand {
  std::string program;
  std::string cwd;
  std::vector<std::string> env;
};

// The base environment with env laid over it (extra_path, when not empty, appended to PATH),
// cwd ("" = "/") checked and argv[0] resolved in that PATH (resolve_program). Errors as
// run_exec's: bad_request for an empty argv, not_found for a missing program or directory.
std::variant<PreparedCommand, agentproto::WireError> prepare_command(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
    const std::string& cwd, std::string_view extra_path = "");

// The error of a spawn that failed with sys_errno: not_found "executable \"x\" not found" for
// ENOENT, operation_failed "cannot run \"x\": <strerror>" otherwise.
agentproto::WireError spawn_error(const std::string& name, int sys_errno);

// Runs params.argv[0] (searched in the effective PATH when it has no '/') in params.cwd ("" =
// "/") in a new session (its own process group), with stdin/stdout/stderr on pipes and no other
// inherited descriptors. Each output stream keeps its first max_output bytes (the result marks
// it truncated). When the process exits, output still buffered in the pipes is collected; output
// from background descendants after that is not waited for. timeout_s > 0: at the deadline the
// whole process group gets SIGKILL and timed_out is set.
// Errors: not_found "executable \"x\" not found in PATH" / "executable \"./x\" not found" /
// "working directory \"/x\" does not exist" / "... is not a directory"; operation_failed
// "cannot run \"x\": <strerror>" for any other spawn failure, "running \"x\": poll: <strerror>"
// when waiting on the child fails (it is killed then).
std::variant<agentproto::ExecResult, agentproto::WireError> run_exec(
    const agentproto::ExecParams& params, std::size_t max_output = agentproto::kMaxExecOutputBytes);

}  // namespace banger::agentd
