#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "banger/api/daemon.hpp"
#include "banger/api/json_codec.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/cli/command.hpp"

namespace banger::cli {
namespace {

constexpr int kDaemonUnreachable = 3;

class VersionCommand final : public Command {
 public:
  void declare(CLI::App& app) override { app.add_flag("--json", json_, "print JSON"); }
  int run(Context& ctx) override {
    nlohmann::json out = {
        {"client", {{"version", buildinfo::version()}, {"commit", buildinfo::commit()}}}};
    std::string daemon_line = "not running";
    if (auto client = ctx.connect(Connect::existing_only)) {
      if (auto v = client->call<api::Version>({})) {
        out["daemon"] = api::to_json_value(*v);
        daemon_line = fmt::format("{} ({}), protocol {}", v->version, v->commit, v->protocol);
      }
    }
    if (json_) {
      print_json(ctx, out);
    } else {
      ctx.printer.out(fmt::format("client: {} ({})\ndaemon: {}\n", buildinfo::version(),
                                  buildinfo::commit(), daemon_line));
    }
    return 0;
  }

 private:
  bool json_ = false;
};

class DaemonStatusCommand final : public Command {
 public:
  void declare(CLI::App& app) override { app.add_flag("--json", json_, "print JSON"); }
  int run(Context& ctx) override {
    auto client = ctx.connect(Connect::existing_only);
    if (!client) {
      if (client.error().code != Errc::unavailable) {
        return report_error(ctx, client.error());
      }
      if (json_) {
        print_json(ctx, {{"running", false}});
      } else {
        ctx.printer.out("bangerd is not running (it starts on the next banger command)\n");
      }
      return kDaemonUnreachable;
    }
    auto ping = client->call<api::Ping>({});
    if (!ping) {
      return report_error(ctx, ping.error());
    }
    auto version = client->call<api::Version>({});
    if (!version) {
      return report_error(ctx, version.error());
    }
    if (json_) {
      print_json(ctx, {{"running", true},
                       {"pid", ping->pid},
                       {"socket", client->socket_path()},
                       {"version", version->version},
                       {"commit", version->commit}});
    } else {
      ctx.printer.out(fmt::format("bangerd is running (pid {}, version {}, socket {})\n", ping->pid,
                                  version->version, client->socket_path()));
    }
    return 0;
  }

 private:
  bool json_ = false;
};

class DaemonStartCommand final : public Command {
 public:
  void declare(CLI::App&) override {}
  int run(Context& ctx) override {
    auto ping = call_daemon<api::Ping>(ctx, {});
    if (!ping) {
      return report_error(ctx, ping.error());
    }
    ctx.printer.out(fmt::format("bangerd is running (pid {})\n", ping->pid));
    return 0;
  }
};

class DaemonStopCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("--timeout", timeout_seconds_, "seconds to wait for the daemon to exit")
        ->capture_default_str();
  }
  int run(Context& ctx) override {
    auto client = ctx.connect(Connect::existing_only);
    if (!client) {
      if (client.error().code != Errc::unavailable) {
        return report_error(ctx, client.error());
      }
      ctx.printer.out("bangerd is not running\n");
      return 0;
    }
    auto ping = client->call<api::Ping>({});
    auto stopped = client->call<api::Shutdown>({});
    if (!stopped) {
      return report_error(ctx, stopped.error());
    }
    // The daemon replies before it exits: wait until its socket stops answering.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds_);
    while (std::chrono::steady_clock::now() < deadline) {
      auto probe = ctx.connect(Connect::existing_only);
      // Done when the socket is gone and the process has exited (it holds the instance lock
      // until then, so a new daemon could not start earlier).
      bool exited = !ping || ping->pid <= 0 || ::kill(static_cast<pid_t>(ping->pid), 0) != 0;
      if (!probe && exited) {
        ctx.printer.out(ping ? fmt::format("bangerd stopped (pid {})\n", ping->pid)
                             : std::string("bangerd stopped\n"));
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return report_error(ctx, Error{Errc::timeout, fmt::format("bangerd did not exit within {} s",
                                                              timeout_seconds_)});
  }

 private:
  int timeout_seconds_ = 15;
};

class DoctorCommand final : public Command {
 public:
  void declare(CLI::App& app) override { app.add_flag("--json", json_, "print JSON"); }
  int run(Context& ctx) override {
    // The daemon's view when it runs (or starts); when it cannot, the same checks run here,
    // so a config that keeps the daemon from starting is diagnosed rather than just reported.
    std::string ran_in = "daemon";
    Expected<api::Doctor::Response> report = call_daemon<api::Doctor>(ctx, {});
    if (!report && report.error().op_id.empty() && ctx.doctor_without_daemon) {
      ctx.printer.err("banger: bangerd is not running (" +
                      escape_control(report.error().message, /*keep_newlines=*/false) +
                      "); running the checks in the CLI\n");
      auto rows = ctx.doctor_without_daemon(report.error());
      if (!rows) {
        return report_error(ctx, rows.error());
      }
      report = api::Doctor::Response{.checks = std::move(*rows)};
      ran_in = "cli";
    }
    if (!report) {
      return report_error(ctx, report.error());
    }
    bool failed = false;
    for (const auto& check : report->checks) {
      failed = failed || check.status == "fail";
    }
    if (json_) {
      auto out = api::to_json_value(*report);
      out["ran_in"] = ran_in;
      print_json(ctx, out);
      return failed ? 1 : 0;
    }
    const Style& style = ctx.printer.out_style();
    Table table{{"STATUS", "CHECK", "DETAIL"}, {}};
    std::string hints;
    for (const auto& check : report->checks) {
      std::string status = check.status == "pass"   ? green(style, "PASS")
                           : check.status == "warn" ? yellow(style, "WARN")
                                                    : red(style, "FAIL");
      table.rows.push_back({status, check.name, check.detail});
      if (!check.hint.empty()) {
        hints += fmt::format("  {}: {}\n", check.name, check.hint);
      }
    }
    // Colour codes have no width; align on the plain words, then colour.
    std::string out = render_table(table);
    ctx.printer.out(out);
    if (!hints.empty()) {
      ctx.printer.out("\nHints:\n" + hints);
    }
    return failed ? 1 : 0;
  }

 private:
  bool json_ = false;
};

}  // namespace

std::vector<CommandEntry> daemon_commands() {
  return {
      {{"doctor"},
       "check what this host can do, with fixes for what it cannot",
       "  banger doctor\n  banger doctor --json",
       {},
       factory<DoctorCommand>()},
      {{"version"},
       "print the client and daemon builds",
       "  banger version\n  banger version --json",
       {},
       factory<VersionCommand>()},
      {{"daemon", "status"},
       "show whether bangerd runs (exit 3 when it does not)",
       "  banger daemon status\n  banger daemon status --json",
       {},
       factory<DaemonStatusCommand>()},
      {{"daemon", "start"},
       "start bangerd now (commands also start it on first use)",
       "  banger daemon start",
       {},
       factory<DaemonStartCommand>()},
      {{"daemon", "stop"},
       "stop bangerd; running VMs keep running",
       "  banger daemon stop",
       {},
       factory<DaemonStopCommand>()},
  };
}

}  // namespace banger::cli
