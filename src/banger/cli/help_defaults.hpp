// The resolved defaults `--help` shows next to vm create's and vm run's sizing flags (SPEC S16:
// "flag defaults shown as resolved"), worked out in the CLI process from the same functions the
// daemon uses (config::load_config, config::resolve_vm_defaults), without the daemon.
#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "banger/base/error.hpp"
#include "banger/config/config.hpp"
#include "banger/config/vm_defaults.hpp"

namespace banger::cli {

// One note per flag, e.g. "(default 2 from host: 8 cores)".
struct HelpDefaults {
  std::string vcpu;
  std::string memory;
  std::string disk;
  std::string image;
  std::string kernel;
};

// "(default <value> <from>)": from is "from config", "from host: 8 cores", "built-in", ...
std::string default_note(std::string_view value, std::string_view from);

// Pure. config is the user's config as load_config returned it; an error means "config
// unreadable": the built-in defaults (and the host heuristic) are shown, each note saying so.
HelpDefaults resolve_help_defaults(const Expected<config::Config>& config,
                                   const config::HostInfo& host);

// The flags of vm create and vm run whose defaults --help resolves; null for a flag not declared.
struct DefaultedFlags {
  CLI::Option* vcpu = nullptr;
  CLI::Option* memory = nullptr;
  CLI::Option* disk = nullptr;
  CLI::Option* image = nullptr;
  CLI::Option* kernel = nullptr;

  // Appends each flag's note to its description ("virtual CPUs (default 2 from host: 8 cores)").
  void describe(const HelpDefaults& defaults) const;
};

}  // namespace banger::cli
