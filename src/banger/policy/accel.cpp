#include "banger/policy/accel.hpp"

#include <cerrno>
#include <cstring>

namespace banger::policy {

KvmVerdict decide_kvm(const sys::KvmFacts& facts) {
  if (!facts.device_exists) {
    return {false, "/dev/kvm does not exist",
            "enable virtualization in the BIOS/hypervisor and load kvm_intel or kvm_amd"};
  }
  if (facts.open_errno == EACCES || facts.open_errno == EPERM) {
    return {false, "no permission to open /dev/kvm", "add your user to the kvm group"};
  }
  if (facts.open_errno != 0) {
    return {false, std::string("cannot open /dev/kvm: ") + std::strerror(facts.open_errno), ""};
  }
  if (facts.pvm_loaded) {
    return {false, "/dev/kvm is KVM-PVM, which cannot boot stock guest kernels",
            "for full speed, run banger on a host with hardware virtualization (vmx/svm)"};
  }
  if (!facts.cpu_has_vmx_or_svm) {
    return {false, "the CPU does not advertise vmx or svm",
            "enable nested virtualization for this machine"};
  }
  return {true, "", ""};
}

}  // namespace banger::policy
