// `vm forward`: host TCP ports forwarded to a running VM through the daemon
// (docs/forwarding.md); `--publish` parsing for vm create / vm run.
#include <fmt/format.h>

#include <charconv>

#include "banger/api/forward.hpp"
#include "banger/api/json_codec.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/expected.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/forward_flags.hpp"
#include "banger/cli/printer.hpp"
#include "banger/model/port_forward.hpp"

namespace banger::cli {

Expected<std::vector<api::PortForwardSpec>> parse_forward_specs(
    const std::vector<std::string>& specs, std::string_view address) {
  std::vector<api::PortForwardSpec> out;
  for (const auto& spec : specs) {
    BANGER_TRY_ASSIGN(auto forward, model::parse_port_forward(spec, address));
    out.push_back({.host_address = forward.host_address,
                   .host_port = forward.host_port,
                   .guest_port = forward.guest_port});
  }
  return out;
}

std::string forward_line(std::string_view vm_name, const api::ForwardInfo& forward) {
  return fmt::format("{}:{} -> {}:{}{}", escape_control(forward.host_address), forward.host_port,
                     escape_control(vm_name), forward.guest_port,
                     forward.published ? " (published)" : "");
}

namespace {

constexpr int kUsageError = 2;

// "[ADDRESS:]HOST_PORT" of `vm forward --remove`: invalid_argument naming it otherwise.
Expected<api::PortForwardSpec> parse_host_port(const std::string& spec, std::string_view address) {
  auto colon = spec.rfind(':');
  std::string host = colon == std::string::npos ? std::string(address) : spec.substr(0, colon);
  std::string port = colon == std::string::npos ? spec : spec.substr(colon + 1);
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  model::PortForward forward{.host_address = host, .host_port = value, .guest_port = 1};
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      !model::validate_port_forward(forward)) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid host port \"{}\": use [ADDRESS:]HOST_PORT, e.g. 8080",
                            escape_control(spec)));
  }
  return api::PortForwardSpec{.host_address = host, .host_port = value, .guest_port = 0};
}

class VmForwardCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", name_, "VM name or id")->required();
    app.add_option("ports", specs_,
                   "[HOST_PORT:]GUEST_PORT to forward (HOST_PORT omitted = the guest port, 0 = a "
                   "free one); with --remove: [ADDRESS:]HOST_PORT to stop forwarding; none: list");
    app.add_option("--address", address_,
                   "host IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 exposes the "
                   "ports to the network)");
    app.add_flag("--remove", remove_, "stop forwarding the given host ports");
    app.add_flag("--json", json_, "print JSON");
  }

  int run(Context& ctx) override {
    if (specs_.empty()) {
      return remove_ ? usage(ctx, "--remove needs the host ports to stop forwarding") : list(ctx);
    }
    return remove_ ? remove(ctx) : add(ctx);
  }

 private:
  int usage(Context& ctx, const std::string& message) {
    ctx.printer.err("banger: " + message + "\n");
    return kUsageError;
  }

  int add(Context& ctx) {
    auto specs = parse_forward_specs(specs_, address_);
    if (!specs) {
      return usage(ctx, specs.error().message);
    }
    auto done = call_daemon<api::VmForwardMethod>(ctx, {.name = name_, .ports = *specs});
    if (!done) {
      return report_error(ctx, done.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*done));
      return 0;
    }
    for (const auto& forward : done->bound) {
      ctx.printer.out(forward_line(done->name, forward) + "\n");
    }
    return 0;
  }

  int remove(Context& ctx) {
    api::VmUnforwardMethod::Request request{.name = name_, .ports = {}};
    for (const auto& spec : specs_) {
      auto port = parse_host_port(spec, address_);
      if (!port) {
        return usage(ctx, port.error().message);
      }
      request.ports.push_back(*port);
    }
    auto done = call_daemon<api::VmUnforwardMethod>(ctx, request);
    if (!done) {
      return report_error(ctx, done.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(*done));
    }
    return 0;
  }

  int list(Context& ctx) {
    auto shown = call_daemon<api::VmShow>(ctx, {.name = name_});
    if (!shown) {
      return report_error(ctx, shown.error());
    }
    if (json_) {
      print_json(ctx, api::to_json_value(shown->vm.forwards));
      return 0;
    }
    for (const auto& forward : shown->vm.forwards) {
      ctx.printer.out(forward_line(shown->vm.name, forward) + "\n");
    }
    return 0;
  }

  std::string name_;
  std::vector<std::string> specs_;
  std::string address_{model::kDefaultForwardAddress};
  bool remove_ = false;
  bool json_ = false;
};

}  // namespace

std::vector<CommandEntry> vm_forward_commands() {
  return {{{"vm", "forward"},
           "forward host TCP ports to a running VM (until it stops), list or remove them",
           "  banger vm forward web 8080:80        # 127.0.0.1:8080 -> web:80\n"
           "  banger vm forward web 0:80           # a free host port, printed\n"
           "  banger vm forward web 5432 --address 0.0.0.0\n"
           "  banger vm forward web                # list\n"
           "  banger vm forward web --remove 8080\n",
           {},
           factory<VmForwardCommand>()}};
}

}  // namespace banger::cli
