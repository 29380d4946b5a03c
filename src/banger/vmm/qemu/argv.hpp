// Pure builder for a QEMU microvm: the full argv of qemu-system-x86_64 (SPEC S5). No I/O; host
// facts come in as QemuHostCaps. The kernel command line is vmm/kernel_cmdline.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "banger/vmm/vmm.hpp"

namespace banger::vmm::qemu {

// Host facts the argv depends on (gathered by probe_qemu_host_caps in vmm/host_caps.hpp).
struct QemuHostCaps {
  bool vhost_net = false;     // /dev/vhost-net exists; otherwise vhost=off (QEMU aborts with on)
  bool vhost_vsock = false;   // /dev/vhost-vsock is usable: the guest gets a vhost-vsock-device
  std::int64_t host_khz = 0;  // host TSC kHz for tsc_early_khz= under TCG; 0 = unknown (omitted)
  std::string binary = "qemu-system-x86_64";
};

// The complete argv (argv[0] = caps.binary) booting config under QEMU microvm:
//   -M microvm, -accel kvm -cpu host | -accel tcg,tb-size=32 -cpu max, -m, -smp,
//   -nodefaults -no-user-config -nographic -no-reboot,
//   the serial console on QEMU's stdout (chardev stdio; QemuVmm routes it to the console log),
//   -kernel [-initrd] -append (under TCG with " tsc_early_khz=<kHz> tsc=reliable"),
//   virtio-blk-device drives "root" (and "work"), cache=writeback (see argv.cpp),
//   -netdev tap (vhost on only with vhost_net) + virtio-net-device when tap_name is set,
//   the agent virtio-serial port on a unix socket, one virtio-serial port
//   org.banger.stream.<n> per stream_socket_paths[n] (chardev st<n>), a vhost-vsock-device
//   (guest-cid=vsock_cid) only with vhost_vsock and a vsock_cid, QMP on control_socket_path, always
//   the seccomp sandbox (sandbox_argument), and -runas <uid>:<gid> when config.run_as is set
//   (security review M8; docs/decisions/0013).
// Commas inside paths are doubled, as QEMU's option syntax requires.
std::vector<std::string> qemu_argv(const VmConfig& config, const QemuHostCaps& caps);

// The value of -qmp for a QMP socket at control_socket_path.
std::string qmp_argument(const std::string& control_socket_path);
// True when argv is a QEMU command line (argv[0] is binary or a qemu-system-* program) that
// qemu_argv built for control_socket_path ("-qmp" followed by exactly
// qmp_argument(control_socket_path)).
bool is_qemu_argv_for(const std::vector<std::string>& argv, const std::string& binary,
                      const std::string& control_socket_path);
// The value of -sandbox: seccomp on, obsolete/spawn/resourcecontrol denied; set*uid allowed only
// when QEMU must still drop to run_as (its filter is installed before the switch).
std::string sandbox_argument(bool drops_privileges);

}  // namespace banger::vmm::qemu
