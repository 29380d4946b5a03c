// `banger vm ...` (except `vm run`, in vm_run_command.cpp): create, list, show, delete, the
// lifecycle verbs, prune, set, logs and ssh (RPC vm.*).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "banger/api/json_codec.hpp"
#include "banger/api/signal.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/expected.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/forward_flags.hpp"
#include "banger/cli/vm_support.hpp"
#include "banger/config/size.hpp"
#include "banger/model/vm.hpp"

namespace banger::cli {
namespace {

constexpr int kUsageError = 2;
constexpr auto kLogPollInterval = std::chrono::milliseconds(300);

// "web running (3f9a1c2e, 2 vCPU, 1G memory, 8G disk, image debian-bookworm, ip 172.16.0.2)".
std::string describe_vm(const api::VmInfo& vm) {
  std::string line =
      fmt::format("{} {} ({}, {} vCPU, {} memory, {} disk, image {}", vm.name, vm.state,
                  vm.id.substr(0, 8), vm.vcpu, config::format_size_mib(vm.memory_mib),
                  config::format_size_mib(vm.disk_size_mib), vm.image);
  if (!vm.guest_ip.empty()) {
    line += ", ip " + vm.guest_ip;
  }
  return line + ")";
}

// Parses a size flag into `out`; false (after printing the usage error) when it is bad.
bool parse_size_flag(Context& ctx, std::string_view flag, const std::string& text,
                     std::optional<std::int64_t>& out) {
  if (text.empty()) {
    return true;
  }
  auto mib = config::parse_size_mib(text);
  if (!mib) {
    ctx.printer.err(fmt::format("banger: {}: {}\n", flag, mib.error().message));
    return false;
  }
  out = *mib;
  return true;
}

// The VMs a lifecycle command acted on: the JSON array, or "<name> <state><note>" per VM
// (note: what else to say about that VM, "" for nothing).
void print_vm_states(Context& ctx, const std::vector<api::VmInfo>& vms, bool json,
                     const std::function<std::string(const api::VmInfo&)>& note = {}) {
  if (json) {
    print_json(ctx, api::to_json_value(vms));
    return;
  }
  const Style& style = ctx.printer.out_style();
  for (const auto& vm : vms) {
    ctx.printer.out(vm.name + " " + colour_state(style, vm.state) + (note ? note(vm) : "") + "\n");
  }
}

class VmCreateCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("names", names_,
                   "names of the VMs to create; several names create several VMs at once");
    name_option_ = app.add_option(
        "--name", name_, "VM name: 1-63 of a-z, 0-9 and '-' (default: a generated adjective-noun)");
    // Their defaults are filled in by describe_defaults() for --help.
    defaulted_.image = app.add_option("--image", base_.image, "image");
    defaulted_.kernel = app.add_option("--kernel", base_.kernel, "kernel");
    defaulted_.vcpu = app.add_option("--vcpu", vcpu_, "virtual CPUs")->check(CLI::Range(1, 64));
    defaulted_.memory =
        app.add_option("--memory", memory_, "memory, e.g. 512M or 2G (a bare number is MiB)");
    defaulted_.disk = app.add_option("--disk-size", disk_, "work disk size, e.g. 8G");
    app.add_flag("--nat", base_.nat, "give the VM outbound internet access through NAT");
    app.add_option("--vmm", base_.vmm,
                   "backend for this VM: auto, qemu or firecracker (default: the config's vmm)")
        ->check(CLI::IsMember({"auto", "qemu", "firecracker"}));
    app.add_flag("--no-start", base_.no_start, "only record the VM; do not boot it");
    app.add_option("-p,--publish", publish_,
                   "[[ADDRESS:]HOST_PORT:]GUEST_PORT forwarded at every start (repeatable)");
    app.add_flag("--json", json_, "print JSON (an array when several names are given)");
  }

  void describe_defaults(const HelpDefaults& defaults) override { defaulted_.describe(defaults); }

  int run(Context& ctx) override {
    std::vector<std::string> names;
    if (int refused = collect_names(ctx, names); refused != 0) {
      return refused;
    }
    const bool several = names.size() > 1;
    if (names.empty()) {
      names.emplace_back();  // one VM with a generated name
    }
    if (vcpu_ > 0) {
      base_.vcpu = vcpu_;
    }
    if (!parse_size_flag(ctx, "--memory", memory_, base_.memory_mib) ||
        !parse_size_flag(ctx, "--disk-size", disk_, base_.disk_size_mib)) {
      return kUsageError;
    }
    auto publish = parse_forward_specs(publish_);
    if (!publish) {
      ctx.printer.err(fmt::format("banger: --publish: {}\n", publish.error().message));
      return kUsageError;
    }
    base_.publish = std::move(*publish);

    // One request per VM, each on its own connection and thread, so the VMs boot concurrently.
    std::vector<Expected<api::VmCreate::Response>> results(
        names.size(), tl::unexpected(Error{Errc::internal, "not run"}));
    std::mutex output_mutex;  // the printer and the progress line are shared by the threads
    ProgressRenderer progress(ctx);
    auto create_one = [&](std::size_t i) {
      api::VmCreate::Request request = base_;
      request.name = names[i];
      auto client = ctx.connect(Connect::start_if_needed);
      if (!client) {
        results[i] = tl::unexpected(client.error());
        return;
      }
      results[i] = client->call<api::VmCreate>(request, [&](const api::Event& event) {
        std::lock_guard lock(output_mutex);
        if (several) {
          api::Event labelled = event;
          labelled.task = names[i];  // one live line per VM
          progress.on_event(labelled);
        } else {
          progress.on_event(event);
        }
      });
      if (several) {
        std::lock_guard lock(output_mutex);
        progress.end_task(names[i]);
      }
    };
    if (names.size() == 1) {
      create_one(0);
    } else {
      std::vector<std::thread> threads;
      for (std::size_t i = 0; i < names.size(); ++i) {
        threads.emplace_back(create_one, i);
      }
      for (auto& thread : threads) {
        thread.join();
      }
    }
    progress.finish();

    int exit_code = 0;
    nlohmann::json created = nlohmann::json::array();
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!results[i]) {
        Error error = results[i].error();
        if (several) {
          error = with_context(error, "creating " + names[i]);
        }
        int code = report_error(ctx, error);
        if (exit_code == 0) {
          exit_code = code;
        }
        continue;
      }
      const auto& vm = results[i]->vm;
      if (json_) {
        created.push_back(api::to_json_value(vm));
      } else {
        ctx.printer.out(describe_vm(vm) + "\n");
      }
    }
    if (json_ && (several ? !created.empty() : exit_code == 0)) {
      print_json(ctx, several ? created : created[0]);
    }
    return exit_code;
  }

 private:
  // The positional names and --name, each valid and given once, into names; 0, or the exit code
  // after reporting what is wrong.
  int collect_names(Context& ctx, std::vector<std::string>& names) const {
    names = names_;
    // The wire treats "" as "generate a name", so an explicit empty --name is refused here.
    if (name_option_->count() > 0) {
      names.push_back(name_);
    }
    std::set<std::string> seen;
    for (const auto& name : names) {
      if (auto valid = model::validate_vm_name(name); !valid) {
        return report_error(ctx, valid.error());
      }
      if (!seen.insert(name).second) {
        ctx.printer.err(fmt::format("banger: vm name \"{}\" is given twice\n", name));
        return kUsageError;
      }
    }
    return 0;
  }

  DefaultedFlags defaulted_;
  std::vector<std::string> publish_;
  std::vector<std::string> names_;
  std::string name_;
  CLI::Option* name_option_ = nullptr;
  api::VmCreate::Request base_;
  int vcpu_ = 0;
  std::string memory_;
  std::string disk_;
  bool json_ = false;
};

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

// `vm show`'s rootfs row: how the writable root is layered, and its size when the VM was
// created with [vm_defaults] rootfs_overlay_size ("qcow2_overlay, size 8G").
std::string rootfs_cell(const api::VmInfo& vm) {
  if (vm.rootfs_size_mib <= 0) {
    return or_dash(vm.rootfs_strategy);
  }
  std::string size = "size " + config::format_size_mib(vm.rootfs_size_mib);
  return vm.rootfs_strategy.empty() ? size : vm.rootfs_strategy + ", " + size;
}

// "app@1a2b3c4" (repo and the host HEAD it was copied at), "app" without git, "-" for none.
std::string workspace_cell(const api::VmWorkspace& workspace) {
  if (workspace.path.empty()) {
    return "-";
  }
  std::string cell = escape_control(workspace.repo);
  if (!workspace.head.empty()) {
    cell += "@" + escape_control(workspace.head.substr(0, 7));
  }
  return cell;
}

// What `banger ps` shows without -a: VMs whose VMM is up (starting, running, stopping).
bool vm_is_active(const std::string& state) {
  return state == "running" || state == "starting" || state == "stopping";
}

// `vm list` (every VM) and `ps` (docker ps habits: only VMs whose VMM is up unless -a).
// -q prints one name per line (docker ps -q prints ids; VMs are addressed by name).
class VmListCommand final : public Command {
 public:
  explicit VmListCommand(bool running_only_by_default)
      : running_only_by_default_(running_only_by_default) {}
  void declare(CLI::App& app) override {
    app.add_flag("-a,--all", all_,
                 running_only_by_default_ ? "show every VM (default: only running ones)"
                                          : "show every VM (the default; for `ps -a` habits)");
    app.add_flag("-q,--quiet", quiet_, "print only the names, one per line");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto listed = call_daemon<api::VmList>(ctx, {});
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    std::vector<api::VmInfo> vms = std::move(listed->vms);
    if (running_only_by_default_ && !all_) {
      std::erase_if(vms, [](const api::VmInfo& vm) { return !vm_is_active(vm.state); });
    }
    if (json_) {
      print_json(ctx, api::to_json_value(vms));
      return 0;
    }
    if (quiet_) {
      for (const auto& vm : vms) {
        ctx.printer.out(vm.name + "\n");
      }
      return 0;
    }
    const Style& style = ctx.printer.out_style();
    Table table{{"NAME", "STATE", "IMAGE", "VMM", "VCPU", "MEMORY", "IP", "WORKSPACE", "CREATED"},
                {}};
    for (const auto& vm : vms) {
      table.rows.push_back({vm.name, colour_state(style, vm.state), vm.image, or_dash(vm.vmm),
                            std::to_string(vm.vcpu), config::format_size_mib(vm.memory_mib),
                            vm.guest_ip.empty() ? "-" : vm.guest_ip, workspace_cell(vm.workspace),
                            short_time(vm.created_at)});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }

 private:
  bool running_only_by_default_;
  bool all_ = false;
  bool quiet_ = false;
  bool json_ = false;
};

class VmShowCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", request_.name, "VM name or id")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto shown = call_daemon<api::VmShow>(ctx, request_);
    if (!shown) {
      return report_error(ctx, shown.error());
    }
    const auto& vm = shown->vm;
    if (json_) {
      print_json(ctx, api::to_json_value(vm));
      return 0;
    }
    const Style& style = ctx.printer.out_style();
    Table table{{"name:", vm.name},
                {{"id:", vm.id},
                 {"state:", colour_state(style, vm.state)},
                 {"image:", vm.image},
                 {"kernel:", vm.kernel.empty() ? "(the image's or the default)" : vm.kernel},
                 {"vcpu:", std::to_string(vm.vcpu)},
                 {"memory:", config::format_size_mib(vm.memory_mib)},
                 {"disk:", config::format_size_mib(vm.disk_size_mib)},
                 {"nat:", vm.nat ? "on" : "off"},
                 {"ip:", or_dash(vm.guest_ip)},
                 {"mac:", or_dash(vm.mac)},
                 {"vmm:", or_dash(vm.vmm)},
                 {"pid:", vm.pid > 0 ? std::to_string(vm.pid) : "-"},
                 {"tap:", or_dash(vm.tap)},
                 {"rootfs:", rootfs_cell(vm)},
                 {"created:", vm.created_at},
                 {"touched:", or_dash(vm.touched_at)}}};
    for (const auto& forward : vm.forwards) {
      table.rows.push_back({"forward:", forward_line(vm.name, forward)});
    }
    if (!vm.workspace.path.empty()) {
      table.rows.push_back({"workspace:", escape_control(vm.workspace.path) + " -> /root/repo"});
      table.rows.push_back({"copied:", workspace_cell(vm.workspace) + " at " +
                                           escape_control(vm.workspace.prepared_at)});
    }
    if (!vm.last_error.empty()) {
      // May quote the guest's console (L2).
      table.rows.push_back({"last error:", escape_control(vm.last_error)});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }

 private:
  api::VmShow::Request request_;
  bool json_ = false;
};

class VmDeleteCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vms", request_.names, "VM names or ids")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto deleted = call_daemon<api::VmDelete>(ctx, request_);
    if (!deleted) {
      return report_error(ctx, deleted.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*deleted));
      return 0;
    }
    for (const auto& name : deleted->deleted) {
      ctx.printer.out("deleted " + name + "\n");
    }
    return 0;
  }

 private:
  api::VmDelete::Request request_;
  bool json_ = false;
};

// start, stop, restart, kill: one request naming every VM; the daemon runs them in parallel.
template <class M>
class VmNamesCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vms", request_.names, "VM names or ids")->required();
    app.add_flag("--json", json_, "print JSON (an array of the VMs)");
  }
  int run(Context& ctx) override {
    auto client = ctx.connect(Connect::start_if_needed);
    if (!client) {
      return report_error(ctx, client.error());
    }
    ProgressRenderer progress(ctx);
    auto done = client->template call<M>(
        request_, [&](const api::Event& event) { progress.on_event(event); });
    progress.finish();
    if (!done) {
      return report_error(ctx, done.error());
    }
    print_vm_states(ctx, done->vms, json_);
    return 0;
  }

 private:
  api::VmNames request_;
  bool json_ = false;
};

// `vm kill [-s SIG]`: SIGKILL by default; another signal of api::signal_names() is checked
// here (usage error) and sent by its canonical name. A VMM that survives it (QEMU handles
// SIGUSR1) leaves its VM running: said per VM, exit 0 (the signal was delivered).
class VmKillCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vms", request_.names, "VM names or ids")->required();
    app.add_option("-s,--signal", signal_,
                   "signal for the VMM process, e.g. SIGTERM, TERM or 15 (default: SIGKILL)");
    app.add_flag("--json", json_, "print JSON (an array of the VMs)");
  }
  int run(Context& ctx) override {
    std::string sent = "SIGKILL";
    if (!signal_.empty()) {
      auto parsed = api::parse_signal(signal_);
      if (!parsed) {
        ctx.printer.err("banger: --signal: " + parsed.error().message + "\n");
        return kUsageError;
      }
      sent = std::string(parsed->name);
      request_.signal = sent;
    }
    auto done = call_daemon<api::VmKill>(ctx, request_);
    if (!done) {
      return report_error(ctx, done.error());
    }
    print_vm_states(ctx, done->vms, json_, [&](const api::VmInfo& vm) {
      return vm.state == "running"
                 ? fmt::format(" (its VMM survived {}; banger vm kill {} ends it)", sent, vm.name)
                 : std::string();
    });
    return 0;
  }

 private:
  api::VmKill::Request request_;
  std::string signal_;
  bool json_ = false;
};

class VmPruneCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_flag("-f,--force", force_, "delete without asking (required without a terminal)");
  }
  int run(Context& ctx) override {
    return run_prune(ctx, force_, std::cin, ::isatty(STDIN_FILENO) == 1);
  }

 private:
  bool force_ = false;
};

class VmSetCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", request_.name, "VM name or id")->required();
    app.add_option("--vcpu", vcpu_, "virtual CPUs (applies at the next start)")
        ->check(CLI::Range(1, 64));
    app.add_option("--memory", memory_, "memory, e.g. 2G (applies at the next start)");
    auto* nat = app.add_flag("--nat", nat_, "turn outbound NAT on");
    auto* no_nat = app.add_flag("--no-nat", no_nat_, "turn outbound NAT off");
    nat->excludes(no_nat);
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    if (vcpu_ > 0) {
      request_.vcpu = vcpu_;
    }
    if (!parse_size_flag(ctx, "--memory", memory_, request_.memory_mib)) {
      return kUsageError;
    }
    if (nat_ || no_nat_) {
      request_.nat = nat_;
    }
    if (!request_.vcpu && !request_.memory_mib && !request_.nat) {
      ctx.printer.err("banger: nothing to change: pass --vcpu, --memory, --nat or --no-nat\n");
      return kUsageError;
    }
    auto set = call_daemon<api::VmSet>(ctx, request_);
    if (!set) {
      return report_error(ctx, set.error());
    }
    const auto& vm = set->vm;
    if (json_) {
      print_json(ctx, api::to_json_value(vm));
      return 0;
    }
    std::string line = fmt::format("{}: {} vCPU, {} memory, nat {}", vm.name, vm.vcpu,
                                   config::format_size_mib(vm.memory_mib), vm.nat ? "on" : "off");
    if (vm.state == "running" && (request_.vcpu || request_.memory_mib)) {
      line += " (vCPU and memory apply at the next start)";
    }
    ctx.printer.out(line + "\n");
    return 0;
  }

 private:
  api::VmSet::Request request_;
  int vcpu_ = 0;
  std::string memory_;
  bool nat_ = false;
  bool no_nat_ = false;
  bool json_ = false;
};

class VmLogsCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", name_, "VM name or id")->required();
    app.add_flag("-f,--follow", follow_,
                 "keep printing new output until Ctrl-C or until the VM stops");
  }
  int run(Context& ctx) override {
    auto client = ctx.connect(Connect::start_if_needed);
    if (!client) {
      return report_error(ctx, client.error());
    }
    InterruptCatcher interrupts;
    LogFollowIo io{
        .fetch =
            [&](std::int64_t offset) {
              return client->call<api::VmLogs>({.name = name_, .offset = offset});
            },
        .write = [&](std::string_view text) { ctx.printer.out(text); },
        .wait = [&] { return interrupts.sleep_for(kLogPollInterval); },
    };
    if (auto printed = print_logs(io, follow_); !printed) {
      return report_error(ctx, printed.error());
    }
    return 0;
  }

 private:
  std::string name_;
  bool follow_ = false;
};

class VmSshCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", name_, "VM name or id")->required();
    app.add_option("command", command_, "command to run in the guest (after --)");
  }
  int run(Context& ctx) override {
    Expected<api::VmSshInfo::Response> info = [&]() -> Expected<api::VmSshInfo::Response> {
      // The connection closes here, before ssh replaces this process.
      BANGER_TRY_ASSIGN(auto client, ctx.connect(Connect::start_if_needed));
      return client.call<api::VmSshInfo>({.name = name_});
    }();
    if (!info) {
      return report_error(ctx, info.error());
    }
    const bool stdin_tty = ::isatty(STDIN_FILENO) == 1;
    auto spec = ssh_spec_for(*info, command_, stdin_tty);
    if (!spec) {
      return report_error(ctx, spec.error());
    }
    if (wants_still_running_reminder({.shell = command_.empty(),
                                      .rm = false,
                                      .stdin_is_tty = stdin_tty,
                                      .stderr_is_tty = ctx.printer.err_is_tty()})) {
      // A person's shell: ssh runs as a child, so the reminder can follow it.
      auto ran = run_child(build_ssh_argv(*spec));
      if (!ran) {
        return report_error(ctx, with_ssh_hint(ran.error()));
      }
      remind_if_still_running(ctx, name_);
      return *ran;
    }
    auto exec = exec_replacing(build_ssh_argv(*spec));
    // Only reached when exec failed.
    return report_error(ctx, with_ssh_hint(exec.error()));
  }

 private:
  std::string name_;
  std::vector<std::string> command_;
};

}  // namespace

std::vector<CommandEntry> vm_commands() {
  return {
      vm_run_entry(),
      {{"vm", "create"},
       "create and boot VMs (several names: several VMs, booting concurrently)",
       "  banger vm create --name web\n"
       "  banger vm create a b c --image tiny\n"
       "  banger vm create --no-start --memory 1G --vcpu 2 --json",
       {},
       factory<VmCreateCommand>()},
      {{"vm", "start"},
       "boot stopped VMs and wait until ssh answers",
       "  banger vm start web\n  banger vm start web db",
       {},
       factory<VmNamesCommand<api::VmStart>>()},
      {{"vm", "stop"},
       "power VMs off (guest sync + poweroff, killed after 10 s)",
       "  banger vm stop web\n  banger vm stop web db",
       {},
       factory<VmNamesCommand<api::VmStop>>()},
      {{"vm", "restart"},
       "stop then start VMs",
       "  banger vm restart web",
       {},
       factory<VmNamesCommand<api::VmRestart>>()},
      {{"vm", "kill"},
       "kill VMs at once, without a guest sync (or send their VMM another signal)",
       "  banger vm kill web\n  banger vm kill -s SIGTERM web db   # QEMU exits cleanly",
       {},
       factory<VmKillCommand>()},
      {{"vm", "list"},
       "list every VM (`banger ps` lists the running ones)",
       "  banger vm list\n  banger vm list --json\n  banger vm list -q   # names only",
       {"ls"},
       [] { return std::make_unique<VmListCommand>(false); }},
      {{"vm", "show"},
       "show one VM",
       "  banger vm show web\n  banger vm show web --json",
       {},
       factory<VmShowCommand>()},
      {{"vm", "set"},
       "change a VM's vCPUs, memory (at the next start) or NAT",
       "  banger vm set web --vcpu 4 --memory 4G\n  banger vm set web --no-nat",
       {},
       factory<VmSetCommand>()},
      {{"vm", "logs"},
       "print a VM's console log (the last 64 KiB; -f to follow)",
       "  banger vm logs web\n  banger vm logs -f web",
       {},
       factory<VmLogsCommand>()},
      {{"vm", "ssh"},
       "open a shell in a running VM, or run a command there",
       "  banger vm ssh web\n  banger vm ssh web -- uname -r",
       {},
       factory<VmSshCommand>()},
      {{"vm", "delete"},
       "delete VMs and everything they own",
       "  banger vm delete web\n  banger vm delete web db cache",
       {"rm"},
       factory<VmDeleteCommand>()},
      {{"vm", "prune"},
       "delete every VM that is not running, after a confirmation",
       "  banger vm prune\n  banger vm prune -f",
       {},
       factory<VmPruneCommand>()},
      {{"ps"},
       "list running VMs, like docker ps (-a: every VM, -q: names only)",
       "  banger ps\n  banger ps -a\n  banger ps -q | xargs banger vm stop\n  banger ps --json",
       {},
       [] { return std::make_unique<VmListCommand>(true); }},
  };
}

}  // namespace banger::cli
