#include "banger/cli/vm_support.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "banger/base/assert.hpp"
#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/subprocess.hpp"

namespace banger::cli {
namespace {

// --- signal plumbing (async-signal-safe: lock-free atomics and kill() only) ---

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};

std::atomic<int> g_child_pid{0};         // the child run_child waits for; 0 = none yet
std::atomic<int> g_pending_signal{0};    // arrived before the child's pid was known
std::atomic<bool> g_interrupted{false};  // InterruptCatcher's flag

void forward_signal(int signo) {
  int pid = g_child_pid.load();
  if (pid > 0) {
    ::kill(pid, signo);
  } else {
    g_pending_signal.store(signo);
  }
}

void note_interrupt(int /*signo*/) { g_interrupted.store(true); }

Error exec_error(const std::string& program, int err) {
  if (err == ENOENT) {
    return Error{Errc::not_found, program + " not found on PATH", err};
  }
  return fail_errno("running " + program, err).value();
}

}  // namespace

std::string short_time(const std::string& rfc3339) {
  if (rfc3339.size() < 16) {
    return rfc3339;
  }
  return rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 5);
}

std::string colour_state(const Style& style, const std::string& state) {
  if (state == "running") {
    return green(style, state);
  }
  if (state == "error") {
    return red(style, state);
  }
  if (state == "starting" || state == "stopping") {
    return yellow(style, state);
  }
  return state;
}

Expected<SshSpec> ssh_spec_for(const api::VmSshInfo::Response& info,
                               std::vector<std::string> command, bool stdin_is_tty) {
  SshSpec spec;
  spec.ssh_program = ssh_program();
  spec.key_path = info.key_path;
  spec.known_hosts_path = info.known_hosts_path;
  spec.user = info.user.empty() ? "root" : info.user;
  spec.ip = info.ip;
  spec.force_tty = stdin_is_tty && command.empty();
  spec.command = std::move(command);
  if (auto checked = sys::check_ssh_target(spec); !checked) {
    return tl::unexpected(with_context(checked.error(), "the daemon's ssh_info for " + info.name));
  }
  return spec;
}

std::string ssh_program() {
  const char* override_bin = std::getenv("BANGER_SSH_BIN");
  if (override_bin != nullptr && *override_bin != '\0') {
    return override_bin;
  }
  return "ssh";
}

Error with_ssh_hint(Error error) {
  if (error.code == Errc::not_found) {
    error.message += ": install the OpenSSH client (apt install openssh-client)";
  }
  return error;
}

Status exec_replacing(const std::vector<std::string>& argv) {
  BANGER_ASSERT(!argv.empty(), "exec needs a program");
  auto args = posix::c_strings(argv);
  // banger ignores SIGPIPE; an ignored disposition survives exec, and ssh should not inherit it.
  ::signal(SIGPIPE, SIG_DFL);
  ::execvp(args[0], args.data());
  int err = errno;
  ::signal(SIGPIPE, SIG_IGN);
  return tl::unexpected(exec_error(argv[0], err));
}

Expected<int> run_child(const std::vector<std::string>& argv) {
  BANGER_ASSERT(!argv.empty(), "run_child needs a program");
  // Forward before spawning, so a signal in between is remembered (g_pending_signal).
  g_child_pid.store(0);
  g_pending_signal.store(0);
  struct sigaction forward{};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  struct sigaction old[std::size(kForwardedSignals)]{};
  for (std::size_t i = 0; i < std::size(kForwardedSignals); ++i) {
    ::sigaction(kForwardedSignals[i], &forward, &old[i]);
  }
  base::Defer restore([&] {
    for (std::size_t i = 0; i < std::size(kForwardedSignals); ++i) {
      ::sigaction(kForwardedSignals[i], &old[i], nullptr);
    }
    g_child_pid.store(0);
  });
  // The child starts with default signal dispositions (ssh handles its own) and our stdio.
  auto child = posix::Subprocess::spawn(
      {.argv = argv, .env = posix::current_env(), .stdio = posix::Stdio::inherit});
  if (!child) {
    return tl::unexpected(exec_error(argv[0], child.error().sys_errno));
  }
  g_child_pid.store(child->pid());
  if (int pending = g_pending_signal.exchange(0); pending != 0) {
    child->kill(pending);
  }
  auto status = child->wait();
  if (!status) {
    return tl::unexpected(from_sys(status.error(), "waiting for " + argv[0]));
  }
  return status->code;
}

InterruptCatcher::InterruptCatcher() {
  g_interrupted.store(false);
  struct sigaction catcher{};
  catcher.sa_handler = note_interrupt;
  sigemptyset(&catcher.sa_mask);
  catcher.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &catcher, &old_);
}

InterruptCatcher::~InterruptCatcher() { ::sigaction(SIGINT, &old_, nullptr); }

bool InterruptCatcher::interrupted() const { return g_interrupted.load(); }

bool InterruptCatcher::sleep_for(std::chrono::milliseconds duration) const {
  // nanosleep returns early with EINTR when the signal arrives, whatever SA_RESTART says.
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (!interrupted()) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      return true;
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    ::nanosleep(&ts, nullptr);
  }
  return false;
}

bool wants_still_running_reminder(const SessionEnd& end) {
  return end.shell && !end.rm && end.stdin_is_tty && end.stderr_is_tty;
}

std::string still_running_reminder(const std::string& name) {
  return fmt::format("{0} is still running: banger vm stop {0} (or banger vm delete {0})\n", name);
}

void remind_if_still_running(Context& ctx, const std::string& name) {
  auto shown = [&]() -> Expected<api::VmShow::Response> {
    BANGER_TRY_ASSIGN(auto client, ctx.connect(Connect::start_if_needed));
    return client.call<api::VmShow>({.name = name});
  }();
  if (shown && shown->vm.state == "running") {
    ctx.printer.err(still_running_reminder(name));
  }
}

PruneGate prune_gate(bool force, bool stdin_is_tty) {
  if (force) {
    return PruneGate::delete_now;
  }
  return stdin_is_tty ? PruneGate::ask : PruneGate::refuse;
}

bool read_yes(std::istream& in) {
  std::string line;
  if (!std::getline(in, line)) {
    return false;
  }
  std::string answer = base::to_lower(base::trim(line));
  return answer == "y" || answer == "yes";
}

int run_prune(Context& ctx, bool force, std::istream& in, bool stdin_is_tty) {
  auto client = ctx.connect(Connect::start_if_needed);
  if (!client) {
    return report_error(ctx, client.error());
  }
  PruneGate gate = prune_gate(force, stdin_is_tty);
  // Without -f only the VMs shown and confirmed may go: their ids travel with the request.
  api::VmPrune::Request request{.dry_run = false, .ids = std::nullopt};
  if (gate != PruneGate::delete_now) {
    auto planned = client->call<api::VmPrune>({.dry_run = true, .ids = std::nullopt});
    if (!planned) {
      return report_error(ctx, planned.error());
    }
    if (planned->deleted.empty()) {
      ctx.printer.out("nothing to prune: every VM is running\n");
      return 0;
    }
    auto listed = client->call<api::VmList>({});
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    std::set<std::string> names(planned->deleted.begin(), planned->deleted.end());
    const Style& style = ctx.printer.out_style();
    Table table{{"NAME", "STATE", "IMAGE", "CREATED"}, {}};
    for (const auto& vm : listed->vms) {
      if (names.count(vm.name) > 0) {
        table.rows.push_back(
            {vm.name, colour_state(style, vm.state), vm.image, short_time(vm.created_at)});
      }
    }
    ctx.printer.out(render_table(table));
    std::size_t count = planned->deleted.size();
    if (gate == PruneGate::refuse) {
      return report_error(
          ctx, Error{Errc::failed_precondition,
                     fmt::format("refusing to delete {} without confirmation: stdin is not a "
                                 "terminal (pass -f to delete without asking)",
                                 count == 1 ? "1 VM" : fmt::format("{} VMs", count))});
    }
    ctx.printer.err(count == 1 ? std::string("Delete this VM? [y/N] ")
                               : fmt::format("Delete these {} VMs? [y/N] ", count));
    if (!read_yes(in)) {
      return report_error(ctx,
                          Error{Errc::failed_precondition, "prune cancelled: nothing deleted"});
    }
    request.ids = planned->ids;
  }
  auto pruned = client->call<api::VmPrune>(request);
  if (!pruned) {
    return report_error(ctx, pruned.error());
  }
  if (pruned->deleted.empty() && pruned->skipped.empty()) {
    ctx.printer.out("nothing to prune: every VM is running\n");
  }
  for (const auto& name : pruned->deleted) {
    ctx.printer.out("deleted " + name + "\n");
  }
  for (const auto& skipped : pruned->skipped) {
    ctx.printer.out(fmt::format("kept {}: {}\n", skipped.name, skipped.reason));
  }
  return 0;
}

Status print_logs(const LogFollowIo& io, bool follow) {
  std::int64_t offset = -kLogTailBytes;
  while (true) {
    BANGER_TRY_ASSIGN(auto page, io.fetch(offset));
    if (!page.text.empty()) {
      io.write(page.text);
    }
    offset = page.next_offset;
    if (!follow) {
      return {};
    }
    if (!page.text.empty()) {
      continue;  // more may be waiting: read again before sleeping
    }
    if (page.state == "stopped" || page.state == "error") {
      return {};
    }
    if (!io.wait()) {
      return {};
    }
  }
}

}  // namespace banger::cli
