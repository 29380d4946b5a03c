#include "banger/policy/vmm.hpp"

namespace banger::policy {

VmmVerdict decide_vmm(model::VmmChoice choice, const VmmHost& host) {
  switch (choice) {
    case model::VmmChoice::firecracker:
      if (!host.firecracker_found) {
        return {model::VmmBackend::firecracker, false,
                "vmm firecracker: no firecracker binary was found (firecracker_bin or PATH): "
                "install it (docs/firecracker.md) or set vmm = \"qemu\""};
      }
      return {model::VmmBackend::firecracker, false, ""};
    case model::VmmChoice::qemu:
      return {model::VmmBackend::qemu, false, ""};
    case model::VmmChoice::auto_detect:
      break;
  }
  if (host.firecracker_found && host.kvm_usable) {
    return {model::VmmBackend::firecracker, true, ""};
  }
  return {model::VmmBackend::qemu, true, ""};
}

}  // namespace banger::policy
