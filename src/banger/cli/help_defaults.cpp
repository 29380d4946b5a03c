#include "banger/cli/help_defaults.hpp"

#include <fmt/format.h>

#include <utility>

#include "banger/config/size.hpp"

namespace banger::cli {
namespace {

// Where a sizing default came from, in words: "from config", "from host: 8 cores", "built-in".
std::string sizing_source(const config::ResolvedValue& value, const std::string& host_fact) {
  if (value.source == config::kSourceConfig) {
    return "from config";
  }
  if (value.source == config::kSourceHostHeuristic) {
    return "from host: " + host_fact;
  }
  return "built-in";
}

}  // namespace

std::string default_note(std::string_view value, std::string_view from) {
  return fmt::format("(default {} {})", value, from);
}

HelpDefaults resolve_help_defaults(const Expected<config::Config>& config,
                                   const config::HostInfo& host) {
  const config::Config built_in;
  const config::Config& used = config ? *config : built_in;
  const std::string unreadable = config ? "" : "; config unreadable";
  const auto sizes = config::resolve_vm_defaults(used, host);
  const std::string cores = fmt::format("{} cores", host.cpus);
  const std::string ram =
      fmt::format("{:.1f} GiB RAM", static_cast<double>(host.memory_mib) / 1024);

  HelpDefaults out;
  out.vcpu =
      default_note(std::to_string(sizes.vcpu.value), sizing_source(sizes.vcpu, cores) + unreadable);
  out.memory = default_note(config::format_size_mib(sizes.memory_mib.value),
                            sizing_source(sizes.memory_mib, ram) + unreadable);
  out.disk = default_note(config::format_size_mib(sizes.disk_size_mib.value),
                          sizing_source(sizes.disk_size_mib, "") + unreadable);
  const bool own_image = used.default_image != built_in.default_image;
  out.image =
      default_note(used.default_image, (own_image ? "from config" : "built-in") + unreadable);
  out.kernel = used.default_kernel.empty()
                   ? "(default: the image's kernel, a `kernel build` one in place of debian-cloud" +
                         unreadable + ")"
                   : default_note(used.default_kernel, "from config" + unreadable);
  return out;
}

void DefaultedFlags::describe(const HelpDefaults& defaults) const {
  for (auto [option, note] : {std::pair{vcpu, &defaults.vcpu}, std::pair{memory, &defaults.memory},
                              std::pair{disk, &defaults.disk}, std::pair{image, &defaults.image},
                              std::pair{kernel, &defaults.kernel}}) {
    if (option != nullptr) {
      option->description(option->get_description() + " " + *note);
    }
  }
}

}  // namespace banger::cli
