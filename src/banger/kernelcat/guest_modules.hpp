// The guest module tree of a pulled kernel: the modules a guest loads after boot (Docker's
// overlay2, bridge and netfilter set, kGuestModules) with depmod's index, which the initramfs
// carries and /init installs at /lib/modules/<release> of the guest root (docs/kernels.md).
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/kernelcat/initramfs_plan.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::kernelcat {

// Where and from what stage_guest_modules builds the tree.
struct GuestModuleInputs {
  std::string depmod;       // the depmod executable
  std::string modules_dir;  // the unpacked package's lib/modules/<release>
  std::string release;
  std::string source;     // "<package> <version>", for the stamp
  std::string work_root;  // a fresh directory; the tree goes to <work_root>/lib/modules/<release>
};

// Copies kGuestModules and their dependencies (as modules_dep, the package's depmod output,
// lists them) and the package's modules.builtin, modules.builtin.modinfo and modules.order into
// <work_root>/lib/modules/<release>/, runs `depmod -b <work_root> <release>` there (so the guest's
// modprobe finds aliases and dependencies of exactly this set) and returns every file of the
// tree, sorted. A listed module path that is absolute or has a ".." component is refused
// (invalid_argument); io when a file cannot be copied; the tool's error when depmod fails.
Expected<GuestModuleTree> stage_guest_modules(sys::CommandRunner& runner,
                                              const GuestModuleInputs& in,
                                              std::string_view modules_dep);

}  // namespace banger::kernelcat
