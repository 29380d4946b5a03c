// Host facts for the QEMU backend: the binary to run, its version, vhost-net and the host TSC
// frequency. Gathering only; what to do with them is decided by the caller and qemu_argv().
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/vmm/qemu/argv.hpp"

namespace banger::vmm {

inline constexpr const char* kQemuBinaryName = "qemu-system-x86_64";
inline constexpr const char* kVhostNetDevice = "/dev/vhost-net";

struct QemuVersion {
  int major = 0;
  int minor = 0;
  int micro = 0;
  std::string text;  // the first line of --version, as printed

  bool operator==(const QemuVersion&) const = default;
};

// Parses "QEMU emulator version 7.2.22 (Debian ...)" (the first line of --version).
// invalid_argument when there is no "version X.Y[.Z]".
Expected<QemuVersion> parse_qemu_version(std::string_view version_output);

// The QEMU binary: configured (config qemu_bin; a name is searched in PATH, a path must be
// executable) or qemu-system-x86_64 from PATH. not_found with an install hint otherwise.
Expected<std::string> find_qemu_binary(const std::string& configured);

// Runs `<binary> --version`. command_failed when it exits non-zero; invalid_argument when the
// output cannot be parsed; not_found when the binary is missing.
Expected<QemuVersion> qemu_version(sys::CommandRunner& runner, const std::string& binary);

// True when /dev/vhost-net exists (QEMU's vhost=on needs it).
bool vhost_net_available();

// find_qemu_binary + vhost_net_available + agentclient::vhost_vsock_available +
// sys::host_cpu_khz(). not_found as find_qemu_binary.
Expected<qemu::QemuHostCaps> probe_qemu_host_caps(const std::string& configured_binary);

}  // namespace banger::vmm
