#include "banger/kernelcat/kernel_config.hpp"

#include <fmt/format.h>

#include "banger/base/strings.hpp"

namespace banger::kernelcat {
namespace {

constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;

bool is_symbol_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// "CONFIG_<NAME>=<value>" with a non-empty name of kconfig symbol characters.
bool is_assignment(std::string_view line) {
  constexpr std::string_view kPrefix = "CONFIG_";
  if (!line.starts_with(kPrefix)) {
    return false;
  }
  const auto equals = line.find('=');
  if (equals == std::string_view::npos || equals == kPrefix.size()) {
    return false;
  }
  for (std::size_t i = kPrefix.size(); i < equals; ++i) {
    if (!is_symbol_char(line[i])) {
      return false;
    }
  }
  return true;
}

template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    ++number;
    if (!fn(text.substr(0, end), number)) {
      return;
    }
    if (end == std::string_view::npos) {
      return;
    }
    text.remove_prefix(end + 1);
  }
}

}  // namespace

const std::vector<KconfigSymbol>& banger_config_additions() {
  static const std::vector<KconfigSymbol> kAdditions = {
      {"NF_TABLES_INET", "Docker's nftables rules use the inet family"},
      {"NFT_MASQ", "masquerade for container networks"},
      {"NETFILTER_XT_MARK", "Docker's iptables-nft marks"},
      {"TUN", "TUN/TAP devices (VPN clients, nested networking)"},
  };
  return kAdditions;
}

const std::vector<KconfigSymbol>& required_builtins() {
  static const std::vector<KconfigSymbol> kRequired = {
      {"PVH", "QEMU microvm boots the ELF vmlinux through PVH"},
      {"VIRTIO_MMIO", "the microVM's devices"},
      {"VIRTIO_BLK", "root and work disks"},
      {"VIRTIO_NET", "the guest network"},
      {"VIRTIO_CONSOLE", "the agent channel under QEMU"},
      {"VIRTIO_VSOCKETS", "the agent channel under Firecracker"},
      {"EXT4_FS", "the root and work filesystems"},
      {"IP_PNP", "ip= on the kernel command line configures the network"},
      {"DEVTMPFS", "device nodes without udev"},
      {"UNIX", "local sockets"},
      {"INET", "IPv4"},
      {"OVERLAY_FS", "container image layers"},
      {"BRIDGE", "container networks"},
      {"BRIDGE_NETFILTER", "container network filtering"},
      {"VETH", "container network links"},
      {"NF_TABLES", "nftables"},
      {"NF_NAT", "container NAT"},
      {"NF_TABLES_INET", "Docker's nftables rules use the inet family"},
      {"CGROUPS", "systemd and containers"},
      {"NAMESPACES", "containers"},
  };
  return kRequired;
}

std::string merge_config(std::string_view base) {
  std::string out(base);
  if (!out.empty() && out.back() != '\n') {
    out += '\n';
  }
  out += "# banger additions (kernel build)\n";
  for (const auto& symbol : banger_config_additions()) {
    out += fmt::format("CONFIG_{}=y\n", symbol.name);
  }
  return out;
}

Status check_base_config(std::string_view text, std::string_view shown) {
  if (text.size() > kMaxConfigBytes) {
    return fail(Errc::invalid_argument,
                fmt::format("kernel config {} is larger than 1 MiB: not a kconfig file", shown));
  }
  if (text.find('\0') != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("kernel config {} contains NUL bytes: not a kconfig file", shown));
  }
  std::size_t assignments = 0;
  std::size_t bad_line = 0;
  for_each_line(text, [&](std::string_view line, std::size_t number) {
    const auto trimmed = base::trim(line);
    if (trimmed.empty() || trimmed.front() == '#') {
      return true;
    }
    if (!is_assignment(trimmed)) {
      bad_line = number;
      return false;
    }
    ++assignments;
    return true;
  });
  if (bad_line != 0) {
    return fail(Errc::invalid_argument,
                fmt::format("kernel config {} line {}: expected CONFIG_<NAME>=<value> or a "
                            "comment",
                            shown, bad_line));
  }
  if (assignments == 0) {
    return fail(Errc::invalid_argument,
                fmt::format("kernel config {} sets no CONFIG_ symbol: not a kconfig file", shown));
  }
  return {};
}

std::string config_value(std::string_view config, std::string_view name) {
  const std::string prefix = fmt::format("CONFIG_{}=", name);
  const std::string unset = fmt::format("# CONFIG_{} is not set", name);
  std::string value;
  for_each_line(config, [&](std::string_view line, std::size_t) {
    const auto trimmed = base::trim(line);
    if (trimmed.starts_with(prefix)) {
      value = std::string(trimmed.substr(prefix.size()));
    } else if (trimmed == unset) {
      value.clear();
    }
    return true;
  });
  return value;
}

Status check_required_builtins(std::string_view resolved_config) {
  std::vector<std::string> missing;
  for (const auto& symbol : required_builtins()) {
    if (config_value(resolved_config, symbol.name) != "y") {
      missing.push_back(fmt::format("CONFIG_{} ({})", symbol.name, symbol.why));
    }
  }
  if (missing.empty()) {
    return {};
  }
  return fail(Errc::invalid_argument,
              fmt::format("the resolved kernel config does not build in {}: banger guests need "
                          "them built in (=y; modules are not loaded without an initramfs)",
                          base::join(missing, ", ")));
}

}  // namespace banger::kernelcat
