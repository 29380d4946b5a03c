#include "banger/vmm/kernel_cmdline.hpp"

#include <fmt/format.h>

namespace banger::vmm {
namespace {

void append_args(std::string& out, std::span<const std::string> args) {
  for (const auto& arg : args) {
    if (!arg.empty()) {
      out += " ";
      out += arg;
    }
  }
}

}  // namespace

std::string kernel_cmdline(const CmdlineSpec& spec, std::span<const std::string> backend_args) {
  std::string out = "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4";
  if (!spec.guest_ip.empty()) {
    out += fmt::format(" ip={}::{}:{}:{}:eth0:off", spec.guest_ip, spec.gateway_ip, spec.netmask,
                       spec.hostname);
  }
  append_args(out, backend_args);
  append_args(out, spec.extra_args);
  if (!spec.init.empty()) {
    out += " init=" + spec.init;
  }
  return out;
}

}  // namespace banger::vmm
