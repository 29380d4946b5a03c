#include "banger/cli/guest_stream.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/copy_progress.hpp"
#include "banger/cli/printer.hpp"
#include "banger/cli/terminal.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::cli {
namespace {

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};

std::atomic<int> g_signal_pipe{-1};
std::atomic<bool> g_signalled{false};
struct sigaction g_previous[3];

void write_signal(int signo) {
  g_signalled.store(true);
  int fd = g_signal_pipe.load();
  if (fd >= 0) {
    auto byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] auto n = ::write(fd, &byte, 1);  // async-signal-safe; a full pipe drops it
  }
}

// The producer's side of the copy: the upload stream into the pipe's write end, then closes it
// (EOF for the pump). Its status is read after join.
struct Producer {
  std::thread thread;
  Status status;
  std::atomic<bool> stop{false};
};

}  // namespace

SignalPipe::SignalPipe() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) == 0) {
    read_.reset(ends[0]);
    write_.reset(ends[1]);
  }
  g_signalled.store(false);
  g_signal_pipe.store(write_.get());
  struct sigaction forward{};
  forward.sa_handler = write_signal;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  for (std::size_t i = 0; i < std::size(kForwardedSignals); ++i) {
    ::sigaction(kForwardedSignals[i], &forward, &g_previous[i]);
  }
}

SignalPipe::~SignalPipe() {
  for (std::size_t i = 0; i < std::size(kForwardedSignals); ++i) {
    ::sigaction(kForwardedSignals[i], &g_previous[i], nullptr);
  }
  g_signal_pipe.store(-1);
}

bool SignalPipe::signalled() const { return g_signalled.load(); }

Expected<agentproto::StreamOutcome> run_in_guest(Context& ctx, const std::string& vm,
                                                 const GuestRun& run,
                                                 const agentproto::StreamEnds& ends) {
  BANGER_TRY_ASSIGN(auto client, ctx.connect(Connect::start_if_needed));
  BANGER_TRY_ASSIGN(auto opened,
                    client.call_with_fd<api::VmStream>({.name = vm,
                                                        .argv = run.argv,
                                                        .env = run.env,
                                                        .cwd = run.cwd,
                                                        .timeout_s = run.timeout_s,
                                                        .pty = run.pty.has_value(),
                                                        .rows = run.pty ? run.pty->rows : 0,
                                                        .cols = run.pty ? run.pty->cols : 0}));
  agentproto::StreamOutcome outcome = agentproto::pump_host_session(opened.second.get(), ends);
  if (!outcome.error.empty()) {
    return fail(
        Errc::command_failed,
        fmt::format("vm {}: {}: {}", vm, base::join(run.argv, " ").substr(0, 80), outcome.error));
  }
  return outcome;
}

Expected<agentproto::StreamOutcome> run_on_stdio(Context& ctx, const std::string& vm,
                                                 const GuestRun& run) {
  SignalPipe signals;
  return run_in_guest(ctx, vm, run,
                      {.stdin_fd = STDIN_FILENO,
                       .stdout_fd = STDOUT_FILENO,
                       .stderr_fd = STDERR_FILENO,
                       .interrupt_fd = signals.read_fd()});
}

Expected<agentproto::StreamOutcome> run_on_terminal(Context& ctx, const std::string& vm,
                                                    GuestRun run, bool interactive) {
  const bool stdin_tty = ::isatty(STDIN_FILENO) == 1;
  const int tty_fd = stdin_tty ? STDIN_FILENO : STDOUT_FILENO;
  run.pty = terminal_size(tty_fd);
  if (!run.env.contains("TERM")) {
    const char* term = std::getenv("TERM");
    run.env["TERM"] = term != nullptr && *term != '\0' ? term : "xterm";
  }
  SignalPipe signals;
  WindowChanges window_changes;
  agentproto::StreamEnds ends{.stdin_fd = interactive ? STDIN_FILENO : -1,
                              .stdout_fd = STDOUT_FILENO,
                              .stderr_fd = STDERR_FILENO,
                              .interrupt_fd = signals.read_fd()};
  ends.resize_fd = window_changes.read_fd();
  ends.tty_fd = tty_fd;
  std::optional<RawTerminal> raw;
  if (interactive) {
    raw.emplace(STDIN_FILENO);
  }
  return run_in_guest(ctx, vm, run, ends);  // raw is restored before the caller prints
}

Status copy_workspace(Context& ctx, const std::string& vm, const WorkspaceCopy& copy) {
  const workspace::Plan& plan = copy.plan;
  auto command = workspace::guest_prepare_command(plan, kGuestWorkspaceDir);
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    return fail_errno("creating the workspace pipe", errno);
  }
  posix::Fd upload_read(ends[0]);
  std::atomic<std::uint64_t> sent{0};
  CopyProgress progress(ctx, fmt::format("copying {} into {}", plan.repo_name, vm),
                        plan.total_bytes, sent);
  if (auto started = progress.start(); !started) {
    ::close(ends[1]);
    return started;
  }
  Producer producer;
  producer.thread = std::thread([&producer, &plan, &sent, write_end = ends[1]] {
    posix::Fd upload_write(write_end);
    producer.status = workspace::write_upload_stream(
        plan, upload_write.get(), [&producer] { return producer.stop.load(); }, &sent);
  });
  // The script's notes are for the user: through the progress thread, above its live line.
  auto outcome = run_in_guest(ctx, vm, {.argv = command.argv, .cwd = command.cwd},
                              {.stdin_fd = upload_read.get(),
                               .stdout_fd = progress.output_fd(),
                               .stderr_fd = progress.output_fd(),
                               .interrupt_fd = copy.signals ? copy.signals->read_fd() : -1});
  // The guest side is done (or broke): whatever the producer still writes goes nowhere.
  producer.stop.store(true);
  upload_read.reset();
  producer.thread.join();
  progress.stop();

  if (copy.signals != nullptr && copy.signals->signalled()) {
    return fail(Errc::cancelled, fmt::format("copying the workspace into {} was interrupted", vm));
  }
  BANGER_TRY(outcome);
  if (outcome->exit_code == workspace::kDirtyExitCode) {
    return fail(Errc::failed_precondition,
                fmt::format("{}:{} has changes that were not exported: export them with banger vm "
                            "workspace export {}, or replace them with --force",
                            vm, kGuestWorkspaceDir, vm));
  }
  if (outcome->exit_code != 0) {
    // A producer error (a file changed while read) explains a guest that saw a cut stream.
    if (!producer.status && producer.status.error().code != Errc::io) {
      return tl::unexpected(producer.status.error());
    }
    return fail(Errc::command_failed,
                fmt::format("copying the workspace into {} failed in the guest (exit {}{})", vm,
                            outcome->exit_code, outcome->timed_out ? ", timed out" : ""));
  }
  BANGER_TRY(producer.status);
  BANGER_TRY(call_daemon<api::VmWorkspaceRecord>(
      ctx, {.name = vm,
            .path = plan.root,
            .repo = plan.repo_name,
            .head = plan.head,
            .branch = plan.options.branch.empty() ? plan.branch : plan.options.branch}));
  return {};
}

std::string head_moved_warning(const api::VmWorkspace& workspace) {
  if (workspace.path.empty() || workspace.head.empty()) {
    return "";
  }
  sys::PosixCommandRunner runner;
  auto head =
      runner.run({.argv = {"git", "-C", workspace.path, "rev-parse", "--verify", "-q", "HEAD"},
                  .timeout = std::chrono::seconds(10)});
  if (!head || head->exit_code != 0) {
    return "";  // the host repository is gone or unreadable: nothing to compare
  }
  std::string now(base::trim(head->out));
  if (now == workspace.head) {
    return "";
  }
  return fmt::format(
      "banger: warning: {} is at {} on the host, the VM's copy was made at {}: banger vm "
      "workspace prepare to copy it again\n",
      escape_control(workspace.path), now.substr(0, 7), workspace.head.substr(0, 7));
}

}  // namespace banger::cli
