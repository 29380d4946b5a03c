// Running a command in a VM on an agent stream channel (ADR 0009, docs/agent.md "Stream
// channels"), and the workspace copy built on it (docs/workspaces.md). The daemon opens and
// authenticates the channel and passes it over (vm.stream); the CLI then pumps the frames
// itself, reading the user's files with the user's own permissions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "banger/agentproto/stream.hpp"
#include "banger/agentproto/stream_pump.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/error.hpp"
#include "banger/cli/context.hpp"
#include "banger/posix/fd.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::cli {

// The workspace directory in the guest (SPEC S12).
inline constexpr const char* kGuestWorkspaceDir = "/root/repo";

// While alive, SIGINT, SIGTERM and SIGHUP write their number into a pipe instead of ending
// banger: read_fd() is StreamEnds::interrupt_fd, so a Ctrl-C reaches the guest command as a
// `signal` frame and banger can clean up after it ended. Not nestable.
class SignalPipe {
 public:
  SignalPipe();
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;
  ~SignalPipe();
  int read_fd() const { return read_.get(); }
  // True once one of the signals arrived (whether or not it was read from the pipe yet).
  bool signalled() const;

 private:
  posix::Fd read_;
  posix::Fd write_;
};

struct GuestRun {
  std::vector<std::string> argv;
  std::string cwd;  // "" = the agent's default
  std::map<std::string, std::string> env;
  double timeout_s = 0;
  std::optional<agentproto::StreamPty> pty;  // a PTY session of this initial size
};

// Starts run in the VM on a stream channel (vm.stream) and pumps it with ends. The outcome's
// error (the session broke) becomes Errc::command_failed naming the VM; the command's own exit
// code is the caller's to judge.
Expected<agentproto::StreamOutcome> run_in_guest(Context& ctx, const std::string& vm,
                                                 const GuestRun& run,
                                                 const agentproto::StreamEnds& ends);

// run with this process's stdin, stdout and stderr as its streams (no PTY), Ctrl-C forwarded
// to the guest command. Errors as for run_in_guest.
Expected<agentproto::StreamOutcome> run_on_stdio(Context& ctx, const std::string& vm,
                                                 const GuestRun& run);

// run on this terminal through an agent PTY (vm exec -t/-it, and vm run's shell and commands
// on images without sshd): the terminal's size, TERM passed on (xterm when unset), window size
// changes forwarded, Ctrl-C delivered to the guest; with interactive, stdin is read and put in
// raw mode meanwhile (restored on every way out). The terminal is stdin when it is one, else
// stdout. Errors as for run_in_guest.
Expected<agentproto::StreamOutcome> run_on_terminal(Context& ctx, const std::string& vm,
                                                    GuestRun run, bool interactive);

// What `vm run <path>` and `vm workspace prepare` share.
struct WorkspaceCopy {
  workspace::Plan plan;
  const SignalPipe* signals = nullptr;  // forwards Ctrl-C to the guest side of the copy
};

// Copies plan into the VM's /root/repo (guest_prepare_command fed by write_upload_stream on a
// producer thread, through a pipe into the stream: one pass, nothing staged on disk), then
// records it with vm.workspace.record. Errors: failed_precondition when the guest refuses to
// replace a /root/repo with unexported changes ("... use --force"); command_failed when the
// guest command fails (its stderr has reached the user's stderr) or the stream breaks;
// cancelled when a signal arrived; the producer's error (a file that changed while it was
// read) when the guest side did not fail first.
Status copy_workspace(Context& ctx, const std::string& vm, const WorkspaceCopy& copy);

// The host HEAD of a recorded workspace now, when it differs from the one copied: a warning
// line for stderr (vm exec), else "".
std::string head_moved_warning(const api::VmWorkspace& workspace);

}  // namespace banger::cli
