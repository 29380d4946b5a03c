// Platform: everything the daemon takes from the host, handed to Daemon::start. bangerd's main
// builds the POSIX one once (PosixPlatform); DaemonTest builds one from fakes. The Daemon
// itself never probes the host or names a concrete system type.
#pragma once

#include <functional>
#include <string>

#include "banger/base/clock.hpp"
#include "banger/base/random.hpp"
#include "banger/config/vm_defaults.hpp"
#include "banger/hostnat/link_ops.hpp"
#include "banger/hostnat/nat_ip_forward.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/proc_stats.hpp"
#include "banger/vm/microvm_host.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::daemon {

// What the host is, probed once before the daemon starts.
struct HostFacts {
  config::HostInfo host;           // CPUs and RAM: the vm sizing heuristics (S3)
  vm::MicrovmHostOptions vm_host;  // accelerator, rootfs strategy, vhost-vsock
  std::string agent_binary;        // the static banger-agent built images get ("" = none found)
  policy::VmmHost vmm_host;        // firecracker found, KVM usable: policy::decide_vmm's input
};

// Not owned: every reference must outlive the Daemon started with it.
struct Platform {
  sys::CommandRunner& runner;  // every external tool (ip, nft, mkfs.ext4, ssh-keygen, ...)
  hostnat::LinkOps& links;     // bridge and TAP devices
  hostnat::IpForwarding& ip_forwarding;
  base::Clock& clock;
  base::Random& random;
  vmm::VmmRegistry vmms;  // the Vmm of each backend VMs may run on; must hold qemu
  // PATH lookup for host tools (sys::find_executable on the real host).
  std::function<std::string(const std::string&)> find_tool;
  // CPU ticks and RSS of a VMM process, for `vm stats` (sys::sample_process on the real host).
  std::function<Expected<sys::ProcessSample>(pid_t)> sample_process;
  HostFacts facts;
};

}  // namespace banger::daemon
