// The configuration `kernel build` compiles (SPEC S10): a base (Firecracker's x86_64 guest
// config for Linux 6.1, compiled into banger, or the user's file) with banger's additions
// appended, and the check that the resolved .config builds in everything a banger guest needs.
// Pure functions over text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::kernelcat {

// Firecracker's guest configuration (resources/guest_configs/microvm-kernel-ci-x86_64-6.1.config
// of the Firecracker repository, Apache-2.0), kept in this source tree as
// src/banger/kernelcat/firecracker-guest-x86_64-6.1.config. Generated at build time.
std::string_view firecracker_guest_config();

// The name `--config` takes for firecracker_guest_config().
inline constexpr std::string_view kFirecrackerConfigName = "firecracker";

struct KconfigSymbol {
  std::string_view name;  // without CONFIG_: "NF_TABLES_INET"
  std::string_view why;   // for messages and docs
};

// Set to y after the base (later lines win in kconfig): what Docker's nftables backend and
// tools like a VPN client need that the Firecracker config leaves out.
const std::vector<KconfigSymbol>& banger_config_additions();

// Must be y in the resolved .config (after `make olddefconfig`): without them a banger guest
// does not boot (no initramfs loads modules for a built kernel), has no network, no agent or no
// container runtime.
const std::vector<KconfigSymbol>& required_builtins();

// base, a newline when it lacks one, then "# banger additions (kernel build)" and
// "CONFIG_<name>=y" for every banger_config_additions() entry.
std::string merge_config(std::string_view base);

// A user-supplied base config: at most 1 MiB of text, no NUL bytes, every line empty, a comment
// or `CONFIG_<NAME>=<value>`, and at least one such assignment. invalid_argument naming shown
// and the first offending line number otherwise.
Status check_base_config(std::string_view text, std::string_view shown);

// The value of CONFIG_<name> in a .config: "y", "m", "\"text\"", a number; "" when it is
// unset ("# CONFIG_X is not set" or absent). The last assignment wins, as in kconfig.
std::string config_value(std::string_view config, std::string_view name);

// invalid_argument "the resolved kernel config does not build in CONFIG_A (why), CONFIG_B
// (why): ..." naming every required_builtins() symbol that is not y.
Status check_required_builtins(std::string_view resolved_config);

}  // namespace banger::kernelcat
