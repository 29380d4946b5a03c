// CommandRunner seam: runs short-lived host tools (ip, nft, mkfs.ext4, ssh-keygen) to completion.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::sys {

struct Command {
  std::vector<std::string> argv;  // never a shell string
  std::string stdin_data;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::map<std::string, std::string> env_overrides;  // added to the inherited environment
  std::string cwd;                                   // empty: inherit
  // Optional: every chunk of stdout as it arrives (a long build's progress); returning false
  // stops the command (its process group is killed and run() returns cancelled). Chunks do
  // not follow line boundaries.
  std::function<bool(std::string_view chunk)> on_stdout;
};

struct CommandResult {
  int exit_code = 0;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Renders argv as one line for logs and error messages (not for a shell).
std::string to_display(const std::vector<std::string>& argv);

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs the command to completion. Returns an Error only when the command could not be run
  // at all (not_found when argv[0] is missing, timeout after killing it, cancelled when
  // on_stdout stopped it); a non-zero exit is a successful run.
  virtual Expected<CommandResult> run(const Command& command) = 0;
};

// Like run(), but a non-zero exit becomes Errc::command_failed carrying stderr; returns stdout.
Expected<std::string> run_checked(CommandRunner& runner, const Command& command);

// posix::Subprocess: posix_spawnp (argv[0] searched in PATH) in a new session (its own process
// group), stdin/stdout/stderr on pipes pumped concurrently, no inherited descriptors, and one
// deadline for the whole run (output, exit, descendants holding the pipes) after which the
// whole process group gets SIGKILL. Descendants that left the group (setsid) or outlive a
// SIGKILLed caller are not tracked.
class PosixCommandRunner final : public CommandRunner {
 public:
  Expected<CommandResult> run(const Command& command) override;
};

}  // namespace banger::sys
