// `vm health`, `vm ports` and `vm stats`: what a running guest says through its agent, and the
// host-side numbers of its VMM (S8, S13).
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>

#include "banger/api/bytes.hpp"
#include "banger/api/json_codec.hpp"
#include "banger/api/vm.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/forward_flags.hpp"
#include "banger/cli/guest_stream.hpp"
#include "banger/cli/printer.hpp"
#include "banger/cli/terminal.hpp"

namespace banger::cli {
namespace {

constexpr int kSomeVmFailed = 1;

// 1536 -> "1.5 KiB"; bytes below 1 KiB as "N B".
std::string human_bytes(std::int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

// 3725 s -> "1h2m"; under a minute "45s".
std::string human_duration(double seconds) {
  auto s = static_cast<std::int64_t>(std::llround(seconds));
  if (s < 60) {
    return fmt::format("{}s", s);
  }
  if (s < 3600) {
    return fmt::format("{}m{}s", s / 60, s % 60);
  }
  if (s < 86400) {
    return fmt::format("{}h{}m", s / 3600, (s % 3600) / 60);
  }
  return fmt::format("{}d{}h", s / 86400, (s % 86400) / 3600);
}

class VmHealthCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", request_.name, "VM name or id")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto health = call_daemon<api::VmHealth>(ctx, request_);
    if (!health) {
      return report_error(ctx, health.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*health));
      return 0;
    }
    // hostname, boot id and agent version come from the guest (L2).
    Table table{{"name:", health->name},
                {{"agent:", green(ctx.printer.out_style(), "answering") + " (banger-agent " +
                                escape_control(health->agent_version) + ")"},
                 {"hostname:", escape_control(health->hostname)},
                 {"uptime:", human_duration(health->uptime_s)},
                 {"boot id:", escape_control(health->boot_id)}}};
    ctx.printer.out(render_table(table));
    return 0;
  }

 private:
  api::VmHealth::Request request_;
  bool json_ = false;
};

class VmPortsCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vms", request_.names, "VM names or ids")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto listed = call_daemon<api::VmPorts>(ctx, request_);
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    bool failed = false;
    for (const auto& vm : listed->vms) {
      failed = failed || !vm.error.empty();
    }
    if (json_) {
      print_json(ctx, api::to_json_value(listed->vms));
      return failed ? kSomeVmFailed : 0;
    }
    Table table{{"VM", "PROTO", "PORT", "PROCESS", "ENDPOINT", "URL"}, {}};
    for (const auto& vm : listed->vms) {
      for (const auto& port : vm.ports) {
        // Every string of a port comes from the guest agent (L2).
        std::string process = port.process.empty()
                                  ? "-"
                                  : fmt::format("{} ({})", escape_control(port.process), port.pid);
        std::string endpoint = port.endpoint.empty() ? dim(ctx.printer.out_style(),
                                                           escape_control(port.address) + " only")
                                                     : escape_control(port.endpoint);
        table.rows.push_back({vm.name,
                              escape_control(port.proto) + (port.family == "ipv6" ? "6" : ""),
                              std::to_string(port.port), process, endpoint,
                              port.url.empty() ? "-" : escape_control(port.url)});
      }
    }
    ctx.printer.out(render_table(table));
    for (const auto& vm : listed->vms) {
      for (const auto& forward : vm.forwards) {
        ctx.printer.out("forwarded: " + forward_line(vm.name, forward) + "\n");
      }
    }
    for (const auto& vm : listed->vms) {
      if (!vm.error.empty()) {
        report_error(ctx, Error{Errc::command_failed, vm.error});
      }
    }
    return failed ? kSomeVmFailed : 0;
  }

 private:
  api::VmNames request_;
  bool json_ = false;
};

class VmStatsCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vms", request_.names, "VM names or ids (default: every running VM)");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto stats = call_daemon<api::VmStatsMethod>(ctx, request_);
    if (!stats) {
      return report_error(ctx, stats.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(stats->vms));
      return 0;
    }
    Table table{{"NAME", "CPU", "MEMORY (RSS/GUEST)", "DISK (USED/SIZE)", "UPTIME"}, {}};
    for (const auto& vm : stats->vms) {
      table.rows.push_back(
          {vm.name, fmt::format("{:.1f}%", vm.cpu_percent),
           fmt::format("{} / {}", human_bytes(vm.rss_bytes), human_bytes(vm.memory_mib << 20)),
           fmt::format("{} / {}", human_bytes(vm.disk_allocated_bytes),
                       human_bytes(vm.disk_apparent_bytes)),
           vm.guest_uptime_s ? human_duration(*vm.guest_uptime_s) : "-"});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }

 private:
  api::VmNames request_;
  bool json_ = false;
};

class VmExecCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", request_.name, "VM name or id")->required();
    app.add_option("command", request_.argv, "command to run in the guest (after --)")->required();
    // One KEY=VALUE per -e (repeat it): a greedy list would swallow the command after --.
    app.add_option("-e,--env", env_, "KEY=VALUE added to the command's environment (repeatable)")
        ->allow_extra_args(false);
    app.add_option("-w,--cwd,--guest-path", request_.cwd,
                   "working directory in the guest (default: /root/repo when the VM has a "
                   "workspace, else /root)");
    app.add_option("--timeout", request_.timeout_s, "seconds before the command is killed");
    app.add_flag("-i,--interactive", interactive_,
                 "pass stdin to the command live and stream its output (default: buffered, piped "
                 "stdin read first)");
    app.add_flag("-t,--tty", tty_,
                 "run the command on a terminal (PTY) in the guest; with -i your keys, Ctrl-C and "
                 "window size changes reach it (works without sshd)");
  }
  int run(Context& ctx) override {
    for (const auto& pair : env_) {
      auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        return report_error(
            ctx, Error{Errc::invalid_argument, "invalid --env \"" + pair + "\": use KEY=VALUE"});
      }
      request_.env[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    // In a VM with a workspace, commands run in it; a host HEAD that moved since the copy is
    // worth a warning (the guest runs the old code).
    auto shown = call_daemon<api::VmShow>(ctx, {.name = request_.name});
    if (!shown) {
      return report_error(ctx, shown.error());
    }
    if (!shown->vm.workspace.path.empty()) {
      if (request_.cwd.empty()) {
        request_.cwd = kGuestWorkspaceDir;
      }
      ctx.printer.err(head_moved_warning(shown->vm.workspace));
    }
    if (interactive_ || tty_) {
      return run_live(ctx);
    }
    // Piped input goes to the command; a terminal is not read (the command gets EOF).
    if (::isatty(STDIN_FILENO) != 1) {
      std::string input((std::istreambuf_iterator<char>(std::cin)),
                        std::istreambuf_iterator<char>());
      request_.stdin_b64 = api::base64_encode(input);
    }
    auto done = call_daemon<api::VmExec>(ctx, request_);
    if (!done) {
      return report_error(ctx, done.error());
    }
    ctx.printer.out(api::base64_decode(done->stdout_b64).value_or(""));
    ctx.printer.err(api::base64_decode(done->stderr_b64).value_or(""));
    if (done->stdout_truncated || done->stderr_truncated) {
      ctx.printer.err("banger: output was cut at 32 MiB per stream\n");
    }
    if (done->timed_out) {
      ctx.printer.err(
          fmt::format("banger: killed after the --timeout of {} s\n", request_.timeout_s));
    }
    return done->exit_code;
  }

 private:
  // -i and/or -t: the command runs on a stream channel (vm.stream), its input and output pumped
  // live; with -t on a PTY, this terminal in raw mode meanwhile (restored on every way out: the
  // signals that would end banger are forwarded to the guest instead).
  int run_live(Context& ctx) {
    const bool stdin_tty = ::isatty(STDIN_FILENO) == 1;
    if (tty_ && interactive_ && !stdin_tty) {
      return report_error(ctx, Error{Errc::invalid_argument,
                                     "vm exec -it needs a terminal on stdin; to pipe input, drop "
                                     "-t (vm exec -i)"});
    }
    GuestRun run{.argv = request_.argv,
                 .cwd = request_.cwd,
                 .env = request_.env,
                 .timeout_s = request_.timeout_s,
                 .pty = std::nullopt};
    auto ran = tty_ ? run_on_terminal(ctx, request_.name, run, interactive_)
                    : run_on_stdio(ctx, request_.name, run);
    if (!ran) {
      return report_error(ctx, ran.error());
    }
    if (ran->timed_out) {
      ctx.printer.err(
          fmt::format("banger: killed after the --timeout of {} s\n", request_.timeout_s));
    }
    return ran->exit_code;
  }

  api::VmExec::Request request_;
  std::vector<std::string> env_;
  bool interactive_ = false;
  bool tty_ = false;
};

}  // namespace

std::vector<CommandEntry> vm_guest_commands() {
  return {{{"vm", "health"},
           "ask a running VM's guest agent whether it is healthy",
           "  banger vm health web\n  banger vm health web --json",
           {},
           factory<VmHealthCommand>()},
          {{"vm", "ports"},
           "list what running VMs listen on, with <name>.vm endpoints and URLs",
           "  banger vm ports web\n  banger vm ports web db --json",
           {},
           factory<VmPortsCommand>()},
          {{"vm", "exec"},
           "run a command in a running VM through its guest agent (no ssh); exits with its code",
           "  banger vm exec web -- uname -a\n  tar c src | banger vm exec web -w /root -- tar x\n"
           "  banger vm exec web -e DEBUG=1 --timeout 60 -- make test\n"
           "  banger vm exec -it web -- sh          # a shell on a terminal, no sshd needed\n"
           "  banger vm exec web -- git status      # in /root/repo when web has a workspace",
           {},
           factory<VmExecCommand>()},
          {{"vm", "stats"},
           "live CPU, memory, disk and uptime of running VMs",
           "  banger vm stats\n  banger vm stats web --json",
           {},
           factory<VmStatsCommand>()}};
}

}  // namespace banger::cli
