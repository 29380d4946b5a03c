// Pure decision: which VMM backend new VMs get, and whether this build can run it. doctor and
// the daemon both ask here, so they never disagree.
#pragma once

#include <string>

#include "banger/model/vmm_backend.hpp"

namespace banger::policy {

struct VmmVerdict {
  model::VmmBackend backend = model::VmmBackend::qemu;  // what new VMs are recorded with
  bool automatic = false;  // chosen by banger (vmm = "auto"), not named in the config
  // Empty when VMs can start; otherwise why they cannot (the daemon refuses VM start with it
  // as a failed_precondition, doctor fails its vmm row with it).
  std::string refusal;
};

// auto_detect picks qemu (the only backend that exists, whatever is on PATH); qemu is qemu;
// firecracker is recorded as asked but refused: `the firecracker backend is not supported yet;
// set vmm = "qemu" or "auto"`. Whether the chosen binary is installed is doctor's business
// (a missing qemu fails at launch with not_found).
VmmVerdict decide_vmm(model::VmmChoice choice);

}  // namespace banger::policy
