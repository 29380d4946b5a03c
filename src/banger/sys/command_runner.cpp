#include "banger/sys/command_runner.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "banger/base/strings.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/subprocess.hpp"

namespace banger::sys {

std::string to_display(const std::vector<std::string>& argv) { return base::join(argv, " "); }

Expected<std::string> run_checked(CommandRunner& runner, const Command& command) {
  auto result = runner.run(command);
  if (!result) {
    return tl::unexpected(result.error());
  }
  if (result->exit_code != 0) {
    std::string err(base::trim(result->err));
    if (err.empty()) {
      err = std::string(base::trim(result->out));
    }
    return fail(Errc::command_failed,
                fmt::format("{} exited {}{}{}", command.argv.empty() ? "" : command.argv[0],
                            result->exit_code, err.empty() ? "" : ": ", err));
  }
  return std::move(result->out);
}

Expected<CommandResult> PosixCommandRunner::run(const Command& command) {
  if (command.argv.empty()) {
    return fail(Errc::invalid_argument, "empty command");
  }
  const std::string& program = command.argv[0];
  auto child = posix::Subprocess::spawn({
      .argv = command.argv,
      .env = posix::build_env(posix::current_env(), command.env_overrides),
      .cwd = command.cwd,
      // Its own session and process group: a timeout kills every process the tool started
      // (mmdebstrap's apt, a shell's children), not just the tool.
      .new_session = true,
  });
  if (!child) {
    if (child.error().sys_errno == ENOENT) {
      return fail(Errc::not_found, fmt::format("{}: command not found", program));
    }
    return tl::unexpected(from_sys(child.error()));
  }
  auto pumped = child->pump({.stdin_data = command.stdin_data,
                             .deadline = posix::deadline_in(command.timeout),
                             .on_stdout = command.on_stdout});
  if (!pumped) {
    return tl::unexpected(from_sys(pumped.error(), "running " + program));
  }
  if (pumped->stopped) {
    return fail(Errc::cancelled, program + " was stopped");
  }
  if (pumped->timed_out) {
    return fail(Errc::timeout,
                fmt::format("{} timed out after {} ms", program, command.timeout.count()));
  }
  return CommandResult{
      .exit_code = pumped->exit.code, .out = std::move(pumped->out), .err = std::move(pumped->err)};
}

}  // namespace banger::sys
