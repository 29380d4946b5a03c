#include "banger/daemon/posix_platform.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/policy/accel.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/host_probe.hpp"
#include "banger/vmm/host_caps.hpp"
#include "banger/vmstorage/strategy.hpp"

namespace banger::daemon {
namespace {

vmm::qemu::QemuVmmOptions qemu_options(const config::Config& config) {
  vmm::qemu::QemuVmmOptions options;
  if (auto caps = vmm::probe_qemu_host_caps(config.qemu_bin)) {
    options.caps = *caps;
  } else {
    BANGER_LOG_WARN("qemu: {}", caps.error().message);
    options.caps.binary = config.qemu_bin.empty() ? "qemu-system-x86_64" : config.qemu_bin;
    options.caps.host_khz = sys::host_cpu_khz();
  }
  // QEMU's output goes through `bangerd --console-log` (this binary), which caps the log.
  if (std::string dir = sys::self_executable_dir(); !dir.empty()) {
    options.console_writer = {dir + "/bangerd", "--console-log"};
  } else {
    BANGER_LOG_WARN("cannot find bangerd's own path: VM console logs are not size-capped");
  }
  return options;
}

// Firecracker's binary (firecracker_bin, else PATH; "" when missing), output writer and jailer
// (jailer_enabled: jailer_bin, else PATH; chroots under <state>/jailer).
vmm::firecracker::FirecrackerVmmOptions firecracker_options(const paths::Paths& paths,
                                                            const config::Config& config,
                                                            const vmm::qemu::QemuVmmOptions& qemu) {
  vmm::firecracker::FirecrackerVmmOptions options;
  options.binary =
      sys::find_executable(config.firecracker_bin.empty() ? "firecracker" : config.firecracker_bin);
  options.console_writer = qemu.console_writer;
  if (config.jailer_enabled) {
    options.jailer.enabled = true;
    options.jailer.binary =
        sys::find_executable(config.jailer_bin.empty() ? "jailer" : config.jailer_bin);
    options.jailer.chroot_base = paths.state_dir + "/jailer";
    // The jailer names the jail after the file name of the resolved binary (a symlink's target).
    std::error_code ec;
    if (auto canonical = std::filesystem::canonical(options.binary, ec); !ec) {
      options.binary = canonical.string();
    }
    if (options.jailer.binary.empty()) {
      BANGER_LOG_WARN(
          "jailer_enabled: no jailer binary (jailer_bin or PATH): firecracker VMs cannot start");
    }
  }
  return options;
}

// Accelerator (policy::decide_kvm unless forced by the config) and rootfs strategy.
vm::MicrovmHostOptions vm_host_options(sys::CommandRunner& runner, const paths::Paths& paths,
                                       const config::Config& config,
                                       const vmm::qemu::QemuHostCaps& caps,
                                       const policy::VmmHost& vmm_host) {
  vm::MicrovmHostOptions host;
  host.vhost_vsock = caps.vhost_vsock;
  bool kvm = policy::decide_kvm(sys::probe_kvm()).usable;
  if (config.accel == config::AccelChoice::kvm) {
    kvm = true;
  } else if (config.accel == config::AccelChoice::tcg) {
    kvm = false;
  }
  host.accel = kvm ? vmm::Accel::kvm : vmm::Accel::tcg;
  // A root daemon never leaves QEMU root: it drops to the VM's own unprivileged id (M8).
  host.drop_vmm_privileges = ::geteuid() == 0;
  // Test-only fault point, read once at start (docs/decisions/0013).
  if (const char* fault = std::getenv("BANGER_TEST_FAULT")) {
    if (std::string_view(fault) == "after-vmm-spawn") {
      host.test_fault_after_vmm_spawn = true;
      BANGER_LOG_WARN(
          "BANGER_TEST_FAULT=after-vmm-spawn: this daemon kills itself after the "
          "next VMM spawn (a test-only fault point)");
    } else {
      BANGER_LOG_WARN("BANGER_TEST_FAULT={}: unknown fault point, ignored", fault);
    }
  }
  auto probe = vmstorage::probe_storage(runner, paths.vms_dir);
  // The backend doctor reports too; its disks decide the strategy (qcow2 is QEMU-only).
  auto backend = policy::decide_vmm(config.vmm, vmm_host).backend;
  host.rootfs_strategy = vmstorage::choose_strategy(probe, model::VmmBackend::qemu);
  host.raw_rootfs_strategy = vmstorage::choose_strategy(probe, model::VmmBackend::firecracker);
  BANGER_LOG_INFO("vms: accel {}, rootfs {}", kvm ? "kvm" : "tcg",
                  vmstorage::explain_strategy(probe, backend));
  return host;
}

}  // namespace

Expected<std::unique_ptr<PosixPlatform>> PosixPlatform::probe(const paths::Paths& paths,
                                                              const config::Config& config) {
  BANGER_TRY(paths::prepare_state_dirs(paths));
  auto qemu = qemu_options(config);
  auto firecracker = firecracker_options(paths, config, qemu);
  policy::VmmHost vmm_host{.firecracker_found = !firecracker.binary.empty(),
                           .kvm_usable = policy::decide_kvm(sys::probe_kvm()).usable};
  std::unique_ptr<PosixPlatform> platform(new PosixPlatform(qemu, firecracker));
  platform->facts_ = {.host = config::probe_host(),
                      .vm_host = vm_host_options(platform->runner_, paths, config,
                                                 platform->qemu_.options().caps, vmm_host),
                      .agent_binary = imagecat::locate_agent_binary(sys::self_executable_dir()),
                      .vmm_host = vmm_host};
  return platform;
}

PosixPlatform::PosixPlatform(vmm::qemu::QemuVmmOptions qemu,
                             vmm::firecracker::FirecrackerVmmOptions firecracker)
    : qemu_({.launcher = launcher_}, std::move(qemu)),
      firecracker_({.launcher = launcher_, .jails = jails_}, std::move(firecracker)) {}

Platform PosixPlatform::platform() {
  return Platform{.runner = runner_,
                  .links = links_,
                  .ip_forwarding = ip_forwarding_,
                  .clock = clock_,
                  .random = random_,
                  .vmms = vmms(),
                  .find_tool = sys::find_executable,
                  .sample_process = sys::sample_process,
                  .facts = facts_};
}

vmm::VmmRegistry PosixPlatform::vmms() {
  vmm::VmmRegistry registry(qemu_);
  // Only a daemon that found a firecracker binary runs the backend (policy::decide_vmm refuses
  // it otherwise, naming what to install).
  if (!firecracker_.options().binary.empty()) {
    registry.add(firecracker_);
  }
  return registry;
}

}  // namespace banger::daemon
