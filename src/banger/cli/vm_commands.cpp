#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "banger/api/json_codec.hpp"
#include "banger/api/vm.hpp"
#include "banger/cli/command.hpp"
#include "banger/config/size.hpp"
#include "banger/model/vm.hpp"

namespace banger::cli {
namespace {

constexpr int kUsageError = 2;

void print_json(Context& ctx, const nlohmann::json& value) {
  ctx.printer.out(value.dump(2) + "\n");
}

// "2026-11-28T03:48:41Z" -> "2026-11-28 03:48".
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

class VmCreateCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    name_option_ =
        app.add_option("--name", request_.name,
                       "VM name: 1-63 of a-z, 0-9 and '-' (default: a generated adjective-noun)");
    app.add_option("--image", request_.image, "image (default: the config's default_image)");
    app.add_option("--kernel", request_.kernel, "kernel (default: the image's kernel)");
    app.add_option("--vcpu", vcpu_, "virtual CPUs (default: [vm_defaults] or host heuristic)")
        ->check(CLI::Range(1, 64));
    app.add_option("--memory", memory_, "memory, e.g. 512M or 2G (a bare number is MiB)");
    app.add_option("--disk-size", disk_, "work disk size, e.g. 8G");
    app.add_flag("--nat", request_.nat, "give the VM outbound internet access through NAT");
    app.add_flag("--no-start", request_.no_start, "only record the VM; do not boot it");
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    // The wire treats "" as "generate a name", so an explicit empty --name is refused here.
    if (name_option_->count() > 0) {
      if (auto valid = model::validate_vm_name(request_.name); !valid) {
        return report_error(ctx, valid.error());
      }
    }
    if (vcpu_ > 0) {
      request_.vcpu = vcpu_;
    }
    if (!memory_.empty()) {
      auto mib = config::parse_size_mib(memory_);
      if (!mib) {
        ctx.printer.err("banger: --memory: " + mib.error().message + "\n");
        return kUsageError;
      }
      request_.memory_mib = *mib;
    }
    if (!disk_.empty()) {
      auto mib = config::parse_size_mib(disk_);
      if (!mib) {
        ctx.printer.err("banger: --disk-size: " + mib.error().message + "\n");
        return kUsageError;
      }
      request_.disk_size_mib = *mib;
    }
    auto client = ctx.connect(Connect::start_if_needed);
    if (!client) {
      return report_error(ctx, client.error());
    }
    ProgressRenderer progress(ctx.printer);
    auto created = client->call<api::VmCreate>(
        request_, [&](const api::Event& event) { progress.on_event(event); });
    progress.finish();
    if (!created) {
      return report_error(ctx, created.error());
    }
    const auto& vm = created->vm;
    if (json_) {
      print_json(ctx, api::to_json_value(vm));
    } else {
      ctx.printer.out(fmt::format("{} {} ({}, {} vCPU, {} MiB memory, {} MiB disk, image {})\n",
                                  vm.name, vm.state, vm.id.substr(0, 8), vm.vcpu, vm.memory_mib,
                                  vm.disk_size_mib, vm.image));
    }
    return 0;
  }

 private:
  api::VmCreate::Request request_;
  CLI::Option* name_option_ = nullptr;
  int vcpu_ = 0;
  std::string memory_;
  std::string disk_;
  bool json_ = false;
};

class VmListCommand final : public Command {
 public:
  void declare(CLI::App& app) override { app.add_flag("--json", json_, "print JSON"); }
  int run(Context& ctx) override {
    auto client = ctx.connect(Connect::start_if_needed);
    if (!client) {
      return report_error(ctx, client.error());
    }
    auto listed = client->call<api::VmList>({});
    if (!listed) {
      return report_error(ctx, listed.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(listed->vms));
      return 0;
    }
    const Style& style = ctx.printer.out_style();
    Table table{{"NAME", "STATE", "IMAGE", "VCPU", "MEMORY", "IP", "CREATED"}, {}};
    for (const auto& vm : listed->vms) {
      table.rows.push_back({vm.name, colour_state(style, vm.state), vm.image,
                            std::to_string(vm.vcpu), config::format_size_mib(vm.memory_mib),
                            vm.guest_ip.empty() ? "-" : vm.guest_ip, short_time(vm.created_at)});
    }
    ctx.printer.out(render_table(table));
    return 0;
  }

 private:
  bool json_ = false;
};

class VmShowCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", request_.name, "VM name or id")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto client = ctx.connect(Connect::start_if_needed);
    if (!client) {
      return report_error(ctx, client.error());
    }
    auto shown = client->call<api::VmShow>(request_);
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
                 {"kernel:", vm.kernel.empty() ? "(from the image)" : vm.kernel},
                 {"vcpu:", std::to_string(vm.vcpu)},
                 {"memory:", config::format_size_mib(vm.memory_mib)},
                 {"disk:", config::format_size_mib(vm.disk_size_mib)},
                 {"nat:", vm.nat ? "on" : "off"},
                 {"ip:", vm.guest_ip.empty() ? "-" : vm.guest_ip},
                 {"created:", vm.created_at}}};
    if (!vm.last_error.empty()) {
      table.rows.push_back({"last error:", vm.last_error});
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
    auto client = ctx.connect(Connect::start_if_needed);
    if (!client) {
      return report_error(ctx, client.error());
    }
    auto deleted = client->call<api::VmDelete>(request_);
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

template <class C>
std::function<std::unique_ptr<Command>()> factory() {
  return [] { return std::make_unique<C>(); };
}

}  // namespace

std::vector<CommandEntry> vm_commands() {
  return {
      {{"vm", "create"},
       "create a VM",
       "  banger vm create --no-start --name web\n"
       "  banger vm create --no-start --memory 1G --vcpu 2 --json",
       {},
       factory<VmCreateCommand>()},
      {{"vm", "list"},
       "list VMs",
       "  banger vm list\n  banger ps --json",
       {"ps"},
       factory<VmListCommand>()},
      {{"vm", "show"},
       "show one VM",
       "  banger vm show web\n  banger vm show web --json",
       {},
       factory<VmShowCommand>()},
      {{"vm", "delete"},
       "delete VMs and everything they own",
       "  banger vm delete web\n  banger vm delete web db cache",
       {"rm"},
       factory<VmDeleteCommand>()},
      {{"ps"}, "list VMs (same as `banger vm list`)", "  banger ps", {}, factory<VmListCommand>()},
  };
}

}  // namespace banger::cli
