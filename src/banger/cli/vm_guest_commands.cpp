// `vm health`, `vm ports` and `vm stats`: what a running guest says through its agent, and the
// host-side numbers of its VMM (S8, S13).
#include <fmt/format.h>

#include <cmath>

#include "banger/api/json_codec.hpp"
#include "banger/api/vm.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/printer.hpp"

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
    Table table{{"name:", health->name},
                {{"agent:", green(ctx.printer.out_style(), "answering") + " (banger-agent " +
                                health->agent_version + ")"},
                 {"hostname:", health->hostname},
                 {"uptime:", human_duration(health->uptime_s)},
                 {"boot id:", health->boot_id}}};
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
        std::string process =
            port.process.empty() ? "-" : fmt::format("{} ({})", port.process, port.pid);
        std::string endpoint = port.endpoint.empty()
                                   ? dim(ctx.printer.out_style(), port.address + " only")
                                   : port.endpoint;
        table.rows.push_back({vm.name, port.proto + (port.family == "ipv6" ? "6" : ""),
                              std::to_string(port.port), process, endpoint,
                              port.url.empty() ? "-" : port.url});
      }
    }
    ctx.printer.out(render_table(table));
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
          {{"vm", "stats"},
           "live CPU, memory, disk and uptime of running VMs",
           "  banger vm stats\n  banger vm stats web --json",
           {},
           factory<VmStatsCommand>()}};
}

}  // namespace banger::cli
