#include "banger/hostnat/nat_ruleset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "banger/base/expected.hpp"
#include "banger/hostnat/ipv4.hpp"
#include "banger/hostnat/link_ops.hpp"

// Shape of the table, and why:
//
// chain postrouting: `type nat hook postrouting priority srcnat` (100), the standard place for
//   source NAT, after routing has chosen the output interface. One rule per NAT VM:
//   `ip saddr <vm> oifname != "<bridge>" masquerade`. Traffic that goes back out of the bridge
//   (to another guest through the host) keeps its address; everything leaving by any other
//   interface takes that interface's address, so the upstream never needs a route to the VM
//   network.
//
// chain forward: `type filter hook forward priority filter` (0), policy accept, because the
//   chain only judges packets forwarded from the bridge and must leave the host's other
//   forwarding (docker, libvirt, a router setup) alone. In nftables a drop in any base chain is
//   final while an accept only ends this chain, so the priority relative to other tables does
//   not change the outcome: our drop always wins, and a host firewall that drops forwarding
//   (docker's FORWARD policy DROP, for instance) still wins over our accepts (doctor's
//   business, not ours). The standard priority keeps `nft list ruleset` conventional.
//   Rules, first match wins:
//   1. replies (established/related) going out to the bridge: accept;
//   2. per NAT VM, anything from the bridge with its source address: accept (no ct state, so
//      its connections keep flowing; once NAT is disabled even established flows are cut);
//   3. anything else forwarded from the bridge: drop. Without NAT a guest then reaches only
//      the host itself (its bridge address), even when ip_forward is on because another VM
//      (or something else on the host) needed it.
//
// chain input: `type filter hook input priority filter`, policy accept. One rule, when the
//   bridge address is known: packets from the bridge to a local address of the host other than
//   the bridge address are dropped (`fib daddr type local` matches only the host's unicast
//   addresses, so broadcasts and the bridge address itself, where DNS and the host's services
//   for guests listen, pass). Without it a guest could reach services the host binds on other
//   interfaces (its LAN or upstream address), which S7 rules out.
//
// The TAP is not matched: in an ip-family table a packet from a bridge port has the bridge as
// its input interface (the port is only visible in the bridge family or with br_netfilter), so
// the rules key on the guest's address. A guest that forges another NAT VM's address would
// share its NAT; stopping that needs an anti-spoofing table in the bridge family.
//
// Replacement is atomic: `table ip banger {}` creates the table when missing (a no-op when it
// exists), so the following `delete table` cannot fail, and nft applies the whole script as one
// transaction: either the new table is in place or the old one is untouched.

namespace banger::hostnat {
namespace {

bool is_nft_safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// A link name that is valid for the kernel and can sit inside nft's double quotes as is.
Status validate_nft_link_name(const std::string& name) {
  BANGER_TRY(validate_link_name(name));
  if (!std::all_of(name.begin(), name.end(), is_nft_safe_char)) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid link name \"{}\": use letters, digits, '.', '-' and '_' (nft "
                            "rules quote it)",
                            name));
  }
  return {};
}

struct ParsedNetwork {
  std::optional<Ipv4> bridge;  // the bridge's address, when bridge_cidr names a host address
  Ipv4 network;
  Ipv4 broadcast;
  int prefix = 0;
  std::string cidr;  // "172.16.0.0/24"
};

Expected<ParsedNetwork> parse_network(const NatNetwork& network) {
  BANGER_TRY(validate_nft_link_name(network.bridge_name));
  BANGER_TRY_ASSIGN(auto cidr, parse_ipv4_cidr(network.bridge_cidr));
  if (cidr.prefix < kMinPrefixLength || cidr.prefix > kMaxPrefixLength) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid prefix length {} for the vm network: use {}-{}", cidr.prefix,
                            kMinPrefixLength, kMaxPrefixLength));
  }
  BANGER_TRY_ASSIGN(auto mask, netmask_from_prefix(cidr.prefix));
  ParsedNetwork parsed;
  parsed.network = Ipv4{cidr.address.bits & mask.bits};
  parsed.broadcast = Ipv4{parsed.network.bits | ~mask.bits};
  parsed.prefix = cidr.prefix;
  parsed.cidr = fmt::format("{}/{}", format_ipv4(parsed.network), cidr.prefix);
  if (cidr.address.bits != parsed.network.bits && cidr.address.bits != parsed.broadcast.bits) {
    parsed.bridge = cidr.address;
  }
  return parsed;
}

Status validate_vm_id(const std::string& vm_id) {
  bool ok = !vm_id.empty() && vm_id.size() <= kMaxNatVmIdLength &&
            std::all_of(vm_id.begin(), vm_id.end(),
                        [](char c) { return is_nft_safe_char(c) && c != '.'; });
  if (!ok) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid vm id \"{}\": use 1-{} letters, digits, '-' or '_'", vm_id,
                            kMaxNatVmIdLength));
  }
  return {};
}

Expected<Ipv4> validate_vm(const ParsedNetwork& network, const NatVm& vm) {
  BANGER_TRY(validate_vm_id(vm.vm_id));
  BANGER_TRY_ASSIGN(auto ip, parse_ipv4(vm.ip));
  if (ip.bits <= network.network.bits || ip.bits >= network.broadcast.bits) {
    return fail(Errc::invalid_argument,
                fmt::format("address {} of vm {} is not a host address of the vm network {}", vm.ip,
                            vm.vm_id, network.cidr));
  }
  BANGER_TRY(validate_nft_link_name(vm.tap));
  return ip;
}

}  // namespace

Status validate_nat_network(const NatNetwork& network) {
  BANGER_TRY(parse_network(network));
  return {};
}

Status validate_nat_vm(const NatNetwork& network, const NatVm& vm) {
  BANGER_TRY_ASSIGN(auto parsed, parse_network(network));
  BANGER_TRY(validate_vm(parsed, vm));
  return {};
}

Expected<std::string> render_nat_ruleset(const NatNetwork& network, const std::vector<NatVm>& vms) {
  BANGER_TRY_ASSIGN(auto parsed, parse_network(network));
  std::map<Ipv4, const NatVm*> by_ip;
  std::map<std::string, const NatVm*> by_id;
  for (const auto& vm : vms) {
    BANGER_TRY_ASSIGN(auto ip, validate_vm(parsed, vm));
    if (!by_id.emplace(vm.vm_id, &vm).second) {
      return fail(Errc::invalid_argument, fmt::format("vm {} is listed twice", vm.vm_id));
    }
    auto [it, inserted] = by_ip.emplace(ip, &vm);
    if (!inserted) {
      return fail(Errc::invalid_argument, fmt::format("vms {} and {} both use address {}",
                                                      it->second->vm_id, vm.vm_id, vm.ip));
    }
  }

  const std::string& bridge = network.bridge_name;
  std::string masquerade;
  std::string accept;
  for (const auto& [ip, vm] : by_ip) {
    std::string address = format_ipv4(ip);
    masquerade += fmt::format("    ip saddr {} oifname != \"{}\" masquerade comment \"vm {}\"\n",
                              address, bridge, vm->vm_id);
    accept += fmt::format("    iifname \"{}\" ip saddr {} accept comment \"vm {}\"\n", bridge,
                          address, vm->vm_id);
  }

  std::string table = fmt::format("{} {}", kNatTableFamily, kNatTableName);
  std::string script;
  script += "# generated by bangerd: the whole table is replaced on every change\n";
  script += fmt::format("table {} {{}}\n", table);
  script += fmt::format("delete table {}\n", table);
  script += fmt::format("table {} {{\n", table);
  script += "  chain postrouting {\n";
  script += "    type nat hook postrouting priority srcnat; policy accept;\n";
  script += masquerade;
  script += "  }\n";
  script += "  chain forward {\n";
  script += "    type filter hook forward priority filter; policy accept;\n";
  script += fmt::format(
      "    oifname \"{}\" ct state established,related accept comment \"replies to vms\"\n",
      bridge);
  script += accept;
  script += fmt::format("    iifname \"{}\" drop comment \"vms without nat\"\n", bridge);
  script += "  }\n";
  if (parsed.bridge) {
    script += "  chain input {\n";
    script += "    type filter hook input priority filter; policy accept;\n";
    script += fmt::format(
        "    iifname \"{}\" fib daddr type local ip daddr != {} drop comment \"vms reach only the "
        "bridge address\"\n",
        bridge, format_ipv4(*parsed.bridge));
    script += "  }\n";
  }
  script += "}\n";
  return script;
}

std::string render_nat_removal() {
  // Declaring the (empty) table first makes the delete succeed when it does not exist.
  return fmt::format("table {0} {1} {{}}\ndelete table {0} {1}\n", kNatTableFamily, kNatTableName);
}

}  // namespace banger::hostnat
