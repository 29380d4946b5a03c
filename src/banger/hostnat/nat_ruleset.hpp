// Guest isolation and per-VM outbound NAT (S7) as nftables scripts: `table ip banger` (NAT,
// forwarding and the host's input from guests) and `table bridge banger` (per-TAP anti-spoofing,
// no guest-to-guest frames), both rendered from the set of running VMs and replaced in one nft
// transaction, and their removal. Pure: no I/O; NatService feeds them to `nft -f -`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::hostnat {

// The two nftables tables banger owns: `ip banger` and `bridge banger`. Every rule banger
// installs lives in them.
inline constexpr std::string_view kNatTableFamily = "ip";
inline constexpr std::string_view kBridgeTableFamily = "bridge";
inline constexpr std::string_view kNatTableName = "banger";

// Longest VM id accepted in a rule comment ("vm <id>" must fit nft's 128-byte comment limit).
inline constexpr std::size_t kMaxNatVmIdLength = 64;

// The VM network the rules guard.
struct NatNetwork {
  std::string bridge_name;  // "br-fc"
  // "172.16.0.1/24": the bridge's own address and prefix (a host address of the network: the
  // input chain lets guests reach DNS on exactly that address).
  std::string bridge_cidr;
};

// One running VM on the bridge. Its TAP may only send from its address and from the MAC
// derived from it (mac_for_ip(), the MAC NetworkService::attach() gives the VM); with nat its
// outbound traffic is also masqueraded.
struct NatVm {
  std::string vm_id;  // "0123456789abcdef"
  std::string ip;     // guest address "172.16.0.2"
  std::string tap;    // its TAP "tap-fc-0" (must be tap-fc-<n>: the bridge table matches it)
  bool nat = true;    // outbound NAT on

  friend bool operator==(const NatVm&, const NatVm&) = default;
};

// OK when the network can be put into rules. invalid_argument with validate_link_name's message
// for a bad bridge name, `invalid link name "x": use letters, digits, '.', '-' and '_' (nft rules
// quote it)` for a name nft cannot quote safely, parse_ipv4_cidr's message for a bad CIDR, and
// `invalid prefix length 31 for the vm network: use 8-30`.
Status validate_nat_network(const NatNetwork& network);

// OK when vm (on a valid network) can be put into rules. invalid_argument:
// `invalid vm id "x": use 1-64 letters, digits, '-' or '_'`; parse_ipv4's message for a malformed
// address; `address 10.0.0.2 of vm x is not a host address of the vm network 172.16.0.0/24`;
// `tap "x" of vm y is not a banger tap: names look like tap-fc-<n>`.
Status validate_nat_vm(const NatNetwork& network, const NatVm& vm);

// The `nft -f -` script that atomically replaces both tables with the rules for vms (any
// order; rendered sorted by address, so the same set always gives the same text). It works
// whether or not the tables exist. With no VMs the tables still drop everything a TAP sends,
// everything forwarded from or to the bridge except replies, and everything from the bridge to
// the host but DNS on the bridge address. invalid_argument: the validate_* errors, `vm x is
// listed twice`, `vms x and y both use address 172.16.0.2` and `vms x and y both use tap
// tap-fc-0`.
Expected<std::string> render_nat_ruleset(const NatNetwork& network, const std::vector<NatVm>& vms);

// The `nft -f -` script that deletes both tables; succeeds whether or not they exist.
std::string render_nat_removal();

}  // namespace banger::hostnat
