// Pieces of the `banger vm ...` commands that are worth testing on their own: the system ssh
// argv, running ssh as a child with signal forwarding, the prune confirmation, the logs follower,
// and the entry of `vm run` (vm_run_command.cpp) for the command table.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "banger/api/vm.hpp"
#include "banger/base/error.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/context.hpp"
#include "banger/sys/ssh_command.hpp"

namespace banger::cli {

// --- shared by the vm commands ---

// "2026-11-28T03:48:41Z" -> "2026-11-28 03:48".
std::string short_time(const std::string& rfc3339);

// The state word, green when running, red for error, yellow while starting/stopping.
std::string colour_state(const Style& style, const std::string& state);

// --- ssh ---

// What the CLI execs to reach a guest: sys::ssh_argv, shared with the daemon.
using SshSpec = sys::SshCommandSpec;
inline std::vector<std::string> build_ssh_argv(const SshSpec& spec) { return sys::ssh_argv(spec); }

// The spec for a VM's ssh_info: -t only when stdin is a terminal and there is no command (a
// command's output may be piped, and a pty would mangle it). The daemon's answer is checked
// before it can reach ssh (sys::check_ssh_target, security review H2): a user such as
// "-oProxyCommand=..." or an ip starting with '-' is Errc::invalid_argument.
Expected<SshSpec> ssh_spec_for(const api::VmSshInfo::Response& info,
                               std::vector<std::string> command, bool stdin_is_tty);

// The ssh program: $BANGER_SSH_BIN when set (tests, unusual installs), else "ssh" from PATH.
std::string ssh_program();

// For errors of exec_replacing/run_child: a not_found gets the hint to install the OpenSSH
// client; other errors are returned unchanged.
Error with_ssh_hint(Error error);

// Replaces the process with argv[0] (PATH search), with SIGPIPE reset to its default. Returns
// only on failure: not_found when the program is not on PATH (the message says to install the
// OpenSSH client), io otherwise.
Status exec_replacing(const std::vector<std::string>& argv);

// Runs argv as a child and waits for it. While it runs, SIGINT, SIGTERM and SIGHUP sent to banger
// are forwarded to the child instead of ending banger (a Ctrl-C on the terminal reaches both;
// the child decides), so the caller can clean up afterwards. Returns the child's exit code, or
// 128 + the signal number when a signal ended it. Errors: not_found when the program is not on
// PATH, io when fork/exec fails otherwise.
Expected<int> run_child(const std::vector<std::string>& argv);

// While alive, SIGINT sets a flag instead of ending the process (the handler uses SA_RESTART, so
// an RPC read in progress carries on). For `vm logs -f`. Not nestable.
class InterruptCatcher {
 public:
  InterruptCatcher();
  InterruptCatcher(const InterruptCatcher&) = delete;
  InterruptCatcher& operator=(const InterruptCatcher&) = delete;
  ~InterruptCatcher();
  bool interrupted() const;
  // Sleeps for `duration` in small steps; false as soon as SIGINT arrived.
  bool sleep_for(std::chrono::milliseconds duration) const;

 private:
  struct sigaction old_{};
};

// --- the "still running" reminder after a session ---

// How a `vm ssh` / `vm run` session ended, for the reminder decision.
struct SessionEnd {
  bool shell = false;  // an interactive shell: no command after --
  bool rm = false;     // vm run --rm: the VM is deleted anyway
  bool stdin_is_tty = false;
  bool stderr_is_tty = false;
};

// True only after a shell a person used: no command, no --rm, stdin and stderr terminals. A
// `-- cmd` run, a shell fed from a pipe or output captured by a script gets no extra line.
bool wants_still_running_reminder(const SessionEnd& end);

// "web is still running: banger vm stop web (or banger vm delete web)\n".
std::string still_running_reminder(const std::string& name);

// Asks the daemon (vm.show) whether the VM still runs and, if so, prints the reminder on
// stderr. Best effort: when the daemon cannot say, nothing is printed.
void remind_if_still_running(Context& ctx, const std::string& name);

// --- prune ---

enum class PruneGate {
  delete_now,  // -f: no question
  ask,         // stdin is a terminal: show the table and ask
  refuse       // no -f and nobody to ask
};

PruneGate prune_gate(bool force, bool stdin_is_tty);

// Reads one line; true only for "y" or "yes" (any case, blanks around ignored). End of input
// means no.
bool read_yes(std::istream& in);

// `vm prune`: with force, vm.prune at once (every VM idle when the daemon gets to it).
// Otherwise vm.prune with dry_run, the table of those VMs, then (per prune_gate) the question
// `Delete these N VMs? [y/N] ` on stderr answered from `in`, or a refusal (exit 1) without a
// terminal; a "yes" sends vm.prune with the ids of exactly the VMs shown, so nothing else is
// deleted. Prints `deleted <name>` per deleted VM and `kept <name>: <reason>` per VM the daemon
// left alone because it was no longer idle. A "no" deletes nothing and exits 1.
int run_prune(Context& ctx, bool force, std::istream& in, bool stdin_is_tty);

// --- logs ---

// The first read of `vm logs`: the last 64 KiB.
constexpr std::int64_t kLogTailBytes = 65536;

struct LogFollowIo {
  // vm.logs from a byte offset (negative: from the end).
  std::function<Expected<api::VmLogs::Response>(std::int64_t offset)> fetch;
  // Receives the text as it arrives.
  std::function<void(std::string_view)> write;
  // Waits one poll interval; false when the user interrupted (stop following).
  std::function<bool()> wait;
};

// Prints the tail (offset -kLogTailBytes) and, with follow, keeps reading from next_offset:
// at once while text arrives, after io.wait() otherwise, until wait() says stop or the VM is
// stopped or in error and a read brought nothing new. Returns fetch's first error.
Status print_logs(const LogFollowIo& io, bool follow);

// --- vm run ---

// The `vm run` entry of the command table.
CommandEntry vm_run_entry();

}  // namespace banger::cli
