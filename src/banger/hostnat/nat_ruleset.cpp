#include "banger/hostnat/nat_ruleset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "banger/base/expected.hpp"
#include "banger/hostnat/ipv4.hpp"
#include "banger/hostnat/link_ops.hpp"
#include "banger/hostnat/tap_pool.hpp"

// Shape of the tables, and why (SPEC S7; security review M7):
//
// table bridge banger: what a guest may put on the bridge at all. Frames are judged per bridge
//   port (the TAP), which only the bridge family (or br_netfilter, not present everywhere)
//   can see, so this is what makes guest addresses trustworthy for the ip-family rules.
//   chain prerouting (`type filter hook prerouting priority filter`): every frame that enters
//     from a TAP, whether the bridge forwards it or delivers it to the host. Per running VM,
//     IPv4 with its MAC and address, and ARP whose sender MAC and address are its own: accept.
//     Anything else from a tap-fc-* port: drop. That covers spoofed MAC/IP/ARP (a guest cannot
//     claim another guest's or the gateway's address, so it cannot steal their traffic, answer
//     their DNS or pass for a NAT VM), all IPv6 (guests have none; the bridge's link-local
//     address would otherwise expose every host service listening on ::), other ethertypes,
//     and idle TAPs no VM is admitted on.
//   chain forward (`... hook forward ...`): frames the bridge would forward from one TAP to
//     another: drop. Guests cannot reach each other at L2 (TCP, ICMP, ARP, broadcasts). The
//     TAPs are also isolated bridge ports (NetworkService, IFLA_BRPORT_ISOLATED) where the
//     kernel supports it; this rule holds where it does not, and the other way round without
//     nft.
//
// table ip banger:
// chain postrouting: `type nat hook postrouting priority srcnat` (100), the standard place for
//   source NAT, after routing has chosen the output interface. One rule per NAT VM:
//   `ip saddr <vm> oifname != "<bridge>" masquerade`. Traffic that goes back out of the bridge
//   keeps its address (and is dropped in forward anyway); everything leaving by any other
//   interface takes that interface's address, so the upstream never needs a route to the VM
//   network.
//
// chain forward: `type filter hook forward priority filter` (0), policy accept, because the
//   chain only judges packets forwarded from or to the bridge and must leave the host's other
//   forwarding (docker, libvirt, a router setup) alone. In nftables a drop in any base chain is
//   final while an accept only ends this chain, so the priority relative to other tables does
//   not change the outcome: our drop always wins, and a host firewall that drops forwarding
//   (docker's FORWARD policy DROP, for instance) still wins over our accepts (doctor's
//   business, not ours). Rules, first match wins:
//   1. from the bridge back to the bridge: drop (guest to guest routed through the host, e.g.
//      sent to the gateway's MAC; also bridged IPv4 where br_netfilter passes it here);
//   2. replies (established/related) going out to the bridge: accept;
//   3. anything else going out to the bridge: drop. Hosts on the LAN (or containers, other
//      namespaces) with a route to the VM network cannot open connections to guests; only the
//      host itself can (its own traffic is output, not forward);
//   4. per NAT VM, anything from the bridge with its source address: accept (no ct state, so
//      its connections keep flowing; once NAT is disabled even established flows are cut);
//   5. anything else forwarded from the bridge: drop. Without NAT a guest reaches only the
//      host, even when ip_forward is on because another VM (or something else) needed it.
//
// chain input: `type filter hook input priority filter`, policy accept (only the bridge is
//   judged). From the bridge: replies to the host's own connections (ssh, port probes),
//   and DNS (udp 53) to the bridge address, where banger's guest resolver listens: accept;
//   everything else: drop. Services the host binds on 0.0.0.0 (sshd, databases, dev servers)
//   or on its other addresses are out of reach for guests. TCP 53 is not opened: banger's
//   resolver is UDP only, and a host DNS server on tcp 53 is not banger's to expose.
//
// Rules key on validated values only: link names made of [A-Za-z0-9._-], canonical IPv4
// text, MACs derived from those addresses, vm ids made of [A-Za-z0-9_-].
//
// Replacement is atomic: `table <family> banger {}` creates a table when missing (a no-op when
// it exists), so the following `delete table` cannot fail, and nft applies the whole script as
// one transaction: either both new tables are in place or the old ones are untouched.

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
  Ipv4 bridge;  // the bridge's address
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
  if (cidr.address.bits == parsed.network.bits || cidr.address.bits == parsed.broadcast.bits) {
    return fail(
        Errc::invalid_argument,
        fmt::format("vm network {} names no bridge address: give the bridge's own "
                    "address, as {}/{}",
                    network.bridge_cidr, format_ipv4(Ipv4{parsed.network.bits + 1}), cidr.prefix));
  }
  parsed.bridge = cidr.address;
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
  if (!parse_tap_name(vm.tap)) {
    return fail(Errc::invalid_argument,
                fmt::format("tap \"{}\" of vm {} is not a banger tap: names look like {}<n>",
                            vm.tap, vm.vm_id, kTapPrefix));
  }
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
  std::map<std::string, const NatVm*> by_tap;
  for (const auto& vm : vms) {
    BANGER_TRY_ASSIGN(auto ip, validate_vm(parsed, vm));
    if (!by_id.emplace(vm.vm_id, &vm).second) {
      return fail(Errc::invalid_argument, fmt::format("vm {} is listed twice", vm.vm_id));
    }
    if (auto [it, inserted] = by_ip.emplace(ip, &vm); !inserted) {
      return fail(Errc::invalid_argument, fmt::format("vms {} and {} both use address {}",
                                                      it->second->vm_id, vm.vm_id, vm.ip));
    }
    if (auto [it, inserted] = by_tap.emplace(vm.tap, &vm); !inserted) {
      return fail(Errc::invalid_argument, fmt::format("vms {} and {} both use tap {}",
                                                      it->second->vm_id, vm.vm_id, vm.tap));
    }
  }

  const std::string& bridge = network.bridge_name;
  std::string masquerade;
  std::string accept;
  std::string pinned;
  for (const auto& [ip, vm] : by_ip) {
    std::string address = format_ipv4(ip);
    std::string mac = mac_for_ip(ip);
    pinned +=
        fmt::format("    iifname \"{}\" ether saddr {} ip saddr {} accept comment \"vm {}\"\n",
                    vm->tap, mac, address, vm->vm_id);
    pinned += fmt::format(
        "    iifname \"{}\" ether saddr {} arp saddr ether {} arp saddr ip {} accept comment "
        "\"vm {}\"\n",
        vm->tap, mac, mac, address, vm->vm_id);
    if (!vm->nat) {
      continue;
    }
    masquerade += fmt::format("    ip saddr {} oifname != \"{}\" masquerade comment \"vm {}\"\n",
                              address, bridge, vm->vm_id);
    accept += fmt::format("    iifname \"{}\" ip saddr {} accept comment \"vm {}\"\n", bridge,
                          address, vm->vm_id);
  }

  std::string table = fmt::format("{} {}", kNatTableFamily, kNatTableName);
  std::string bridge_table = fmt::format("{} {}", kBridgeTableFamily, kNatTableName);
  std::string taps = fmt::format("{}*", kTapPrefix);
  std::string script;
  script += "# generated by bangerd: both tables are replaced on every change\n";
  script += fmt::format("table {} {{}}\n", table);
  script += fmt::format("delete table {}\n", table);
  script += fmt::format("table {} {{}}\n", bridge_table);
  script += fmt::format("delete table {}\n", bridge_table);
  script += fmt::format("table {} {{\n", table);
  script += "  chain postrouting {\n";
  script += "    type nat hook postrouting priority srcnat; policy accept;\n";
  script += masquerade;
  script += "  }\n";
  script += "  chain forward {\n";
  script += "    type filter hook forward priority filter; policy accept;\n";
  script += fmt::format(
      "    iifname \"{0}\" oifname \"{0}\" drop comment \"no traffic between vms\"\n", bridge);
  script += fmt::format(
      "    oifname \"{}\" ct state established,related accept comment \"replies to vms\"\n",
      bridge);
  script += fmt::format(
      "    oifname \"{}\" drop comment \"no connections into vms from other networks\"\n", bridge);
  script += accept;
  script += fmt::format("    iifname \"{}\" drop comment \"vms without nat\"\n", bridge);
  script += "  }\n";
  script += "  chain input {\n";
  script += "    type filter hook input priority filter; policy accept;\n";
  script += fmt::format(
      "    iifname \"{}\" ct state established,related accept comment \"replies to the "
      "host\"\n",
      bridge);
  script += fmt::format(
      "    iifname \"{}\" ip daddr {} udp dport 53 accept comment \"guest dns resolver\"\n", bridge,
      format_ipv4(parsed.bridge));
  script += fmt::format(
      "    iifname \"{}\" drop comment \"vms reach only dns on the bridge address\"\n", bridge);
  script += "  }\n";
  script += "}\n";
  script += fmt::format("table {} {{\n", bridge_table);
  script += "  chain prerouting {\n";
  script += "    type filter hook prerouting priority filter; policy accept;\n";
  script += pinned;
  script += fmt::format(
      "    iifname \"{}\" drop comment \"spoofed, ipv6 or other traffic from vms\"\n", taps);
  script += "  }\n";
  script += "  chain forward {\n";
  script += "    type filter hook forward priority filter; policy accept;\n";
  script += fmt::format("    iifname \"{}\" drop comment \"no traffic between vms\"\n", taps);
  script += "  }\n";
  script += "}\n";
  return script;
}

std::string render_nat_removal() {
  // Declaring the (empty) tables first makes the deletes succeed when they do not exist.
  return fmt::format(
      "table {0} {2} {{}}\ndelete table {0} {2}\ntable {1} {2} {{}}\ndelete table {1} {2}\n",
      kNatTableFamily, kBridgeTableFamily, kNatTableName);
}

}  // namespace banger::hostnat
