#include "banger/policy/vmm.hpp"

namespace banger::policy {

VmmVerdict decide_vmm(model::VmmChoice choice) {
  switch (choice) {
    case model::VmmChoice::firecracker:
      return {model::VmmBackend::firecracker, false,
              "the firecracker backend is not supported yet; set vmm = \"qemu\" or \"auto\""};
    case model::VmmChoice::qemu:
      return {model::VmmBackend::qemu, false, ""};
    case model::VmmChoice::auto_detect:
      break;
  }
  return {model::VmmBackend::qemu, true, ""};
}

}  // namespace banger::policy
