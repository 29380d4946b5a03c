// exec: runs argv with a fixed base environment plus the request's env, feeds stdin and
// collects stdout/stderr concurrently (no deadlock on large input and output), with an
// optional timeout that kills the process group.
#pragma once

#include <cstddef>
#include <string>
#include <variant>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace banger::agentd {

// The environment every exec starts from; the request's env is laid over it.
// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME=/root, TERM=dumb
// (output goes to pipes, not a terminal), LANG=C.UTF-8.
std::vector<std::string> exec_base_env();

// Runs params.argv[0] (searched in the effective PATH when it has no '/') in params.cwd ("" =
// "/") in a new session (its own process group), with stdin/stdout/stderr on pipes and no other
// inherited descriptors. Each output stream keeps its first max_output bytes (the result marks
// it truncated). When the process exits, output still buffered in the pipes is collected; output
// from background descendants after that is not waited for. timeout_s > 0: at the deadline the
// whole process group gets SIGKILL and timed_out is set.
// Errors: not_found "executable \"x\" not found in PATH" / "executable \"./x\" not found" /
// "working directory \"/x\" does not exist" / "... is not a directory"; operation_failed
// "cannot run \"x\": <strerror>" for any other spawn failure.
std::variant<agentproto::ExecResult, agentproto::WireError> run_exec(
    const agentproto::ExecParams& params, std::size_t max_output = agentproto::kMaxExecOutputBytes);

}  // namespace banger::agentd
