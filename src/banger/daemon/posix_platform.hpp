// PosixPlatform: the real Platform (POSIX runner and launcher, netlink, /proc/sys, the system
// clock, QEMU), with the host facts probed once: QEMU's capabilities, whether KVM is usable,
// the rootfs strategy the state dir's filesystem allows, CPUs and RAM.
#pragma once

#include <memory>

#include "banger/base/clock.hpp"
#include "banger/base/random.hpp"
#include "banger/config/config.hpp"
#include "banger/daemon/platform.hpp"
#include "banger/hostnat/nat_ip_forward.hpp"
#include "banger/hostnat/netlink_link_ops.hpp"
#include "banger/paths/paths.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/vmm/firecracker/firecracker_vmm.hpp"
#include "banger/vmm/qemu/qemu_vmm.hpp"

namespace banger::daemon {

// Owns: the concrete leaves the Platform refers to.
// Thread-safety: platform() from one thread; the leaves are as thread-safe as their types.
class PosixPlatform {
 public:
  // Probes the host (a missing qemu leaves default capabilities: launch then fails with a clear
  // error and doctor says why). Creates the state directories first: the rootfs strategy is
  // probed inside paths.vms_dir. Their errors are returned.
  static Expected<std::unique_ptr<PosixPlatform>> probe(const paths::Paths& paths,
                                                        const config::Config& config);

  PosixPlatform(const PosixPlatform&) = delete;
  PosixPlatform& operator=(const PosixPlatform&) = delete;

  Platform platform();

 private:
  PosixPlatform(vmm::qemu::QemuVmmOptions qemu,
                vmm::firecracker::FirecrackerVmmOptions firecracker);
  // QEMU, and Firecracker when its binary was found.
  vmm::VmmRegistry vmms();

  base::SystemClock clock_;
  base::Mt19937Random random_;
  sys::PosixCommandRunner runner_;
  sys::PosixProcessLauncher launcher_;
  vmm::firecracker::PosixJailStager jails_;
  hostnat::NetlinkLinkOps links_;
  hostnat::ProcSysIpForwarding ip_forwarding_;
  vmm::qemu::QemuVmm qemu_;
  vmm::firecracker::FirecrackerVmm firecracker_;
  HostFacts facts_;  // filled by probe()
};

}  // namespace banger::daemon
