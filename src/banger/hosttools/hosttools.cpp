#include "banger/hosttools/hosttools.hpp"

#include <fmt/format.h>

namespace banger::hosttools {

const std::vector<ToolRequirement>& host_tools() {
  static const std::vector<ToolRequirement> kTools = {
      {"qemu-system-x86_64", "qemu-system-x86", "runs microVMs (QEMU microvm)", true},
      {"qemu-img", "qemu-utils", "creates copy-on-write root disks", true},
      {"mkfs.ext4", "e2fsprogs", "creates work disks and images", true},
      {"debugfs", "e2fsprogs", "writes guest files without mounting", true},
      {"e2fsck", "e2fsprogs", "replays a work disk's journal before banger edits it", true},
      {"ip", "iproute2", "inspects host networking", true},
      {"nft", "nftables", "per-VM NAT rules", true},
      {"ssh", "openssh-client", "connects to guests", true},
      {"ssh-keygen", "openssh-client", "creates banger's ssh key", true},
      {"git", "git", "copies workspaces into guests", false},
      {"apt-get", "apt", "downloads kernels and image packages", false},
      {"dpkg", "dpkg", "unpacks downloaded packages", false},
      {"depmod", "kmod", "orders kernel modules for the initramfs", false},
      {"mmdebstrap", "mmdebstrap", "builds the debian-bookworm image", false},
      {"make", "make", "needed by `kernel build`", false},
      {"gcc", "gcc", "needed by `kernel build`", false},
      {"flex", "flex", "needed by `kernel build`", false},
      {"bison", "bison", "needed by `kernel build`", false},
      {"bc", "bc", "needed by `kernel build`", false},
  };
  return kTools;
}

std::vector<ToolStatus> check_tools(const std::function<std::string(const std::string&)>& find) {
  std::vector<ToolStatus> out;
  for (const auto& requirement : host_tools()) {
    out.push_back({requirement, find(requirement.tool)});
  }
  return out;
}

Status require_tool(const std::string& tool,
                    const std::function<std::string(const std::string&)>& find) {
  if (!find(tool).empty()) {
    return {};
  }
  for (const auto& requirement : host_tools()) {
    if (requirement.tool == tool) {
      return fail(Errc::not_found,
                  fmt::format("{} not found: install the {} package (apt-get install {})", tool,
                              requirement.package, requirement.package));
    }
  }
  return fail(Errc::not_found, fmt::format("{} not found in PATH", tool));
}

}  // namespace banger::hosttools
