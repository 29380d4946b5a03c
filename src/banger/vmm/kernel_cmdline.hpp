// The guest kernel command line shared by every backend (SPEC S5); each backend adds what its
// devices need through Vmm::kernel_cmdline(). Pure.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace banger::vmm {

// Inputs of the guest kernel command line.
struct CmdlineSpec {
  std::string guest_ip;  // empty: no ip= argument (no network)
  std::string gateway_ip;
  std::string netmask;  // dotted quad ("255.255.255.0")
  std::string hostname;
  std::vector<std::string> extra_args;  // the image's extra arguments, in order
  std::string init;                     // empty: no init= (the image's own /sbin/init)
};

// "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4
//  ip=<guest>::<gateway>:<mask>:<hostname>:eth0:off" + backend_args + the image's extra args +
// " init=<init>" when set. Empty arguments are skipped.
std::string kernel_cmdline(const CmdlineSpec& spec, std::span<const std::string> backend_args = {});

}  // namespace banger::vmm
