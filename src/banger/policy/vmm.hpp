// Pure decision: which VMM backend new VMs get, and whether this host can run it. doctor and
// the daemon both ask here, so they never disagree.
#pragma once

#include <string>

#include "banger/model/vmm_backend.hpp"

namespace banger::policy {

// What the decision depends on, probed once by the daemon (and by doctor).
struct VmmHost {
  bool firecracker_found = false;  // a firecracker binary (firecracker_bin or PATH)
  bool kvm_usable = false;         // policy::decide_kvm(...).usable: Firecracker needs KVM
};

struct VmmVerdict {
  model::VmmBackend backend = model::VmmBackend::qemu;  // what new VMs are recorded with
  bool automatic = false;  // chosen by banger (vmm = "auto"), not named in the config
  // Empty when VMs can start; otherwise why they cannot (the daemon refuses VM start with it
  // as a failed_precondition, doctor fails its vmm row with it).
  std::string refusal;
};

// auto_detect picks firecracker when it is found and KVM is usable (the reason to use it),
// QEMU otherwise; qemu is qemu; firecracker is firecracker when found, and refused without a
// binary: `vmm firecracker: no firecracker binary was found (firecracker_bin or PATH): install
// it (docs/firecracker.md) or set vmm = "qemu"`. Whether qemu is installed is doctor's
// business (a missing qemu fails at launch with not_found).
VmmVerdict decide_vmm(model::VmmChoice choice, const VmmHost& host);

}  // namespace banger::policy
