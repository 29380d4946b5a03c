// Per-VM outbound NAT (S7) as nftables scripts: the whole `table ip banger` rendered from the
// set of NAT-enabled VMs, and its removal. Pure: no I/O; NatService feeds them to `nft -f -`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::hostnat {

// The one nftables table banger owns (family ip). Every rule banger installs lives in it.
inline constexpr std::string_view kNatTableFamily = "ip";
inline constexpr std::string_view kNatTableName = "banger";

// Longest VM id accepted in a rule comment ("vm <id>" must fit nft's 128-byte comment limit).
inline constexpr std::size_t kMaxNatVmIdLength = 64;

// The VM network the rules guard.
struct NatNetwork {
  std::string bridge_name;  // "br-fc"
  // "172.16.0.1/24": the bridge's own address and prefix. With a host address the table also
  // keeps guests from reaching the host's other addresses (S7: only the bridge address); the
  // network form ("172.16.0.0/24") names no bridge address and leaves that rule out.
  std::string bridge_cidr;
};

// One VM whose outbound traffic is masqueraded.
struct NatVm {
  std::string vm_id;  // "0123456789abcdef"
  std::string ip;     // guest address "172.16.0.2"
  std::string tap;    // its TAP "tap-fc-0" (recorded for reconcile and logs; see the .cpp on why
                      // the ip-family rules cannot match it)

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
// the link name messages of validate_nat_network() for the tap.
Status validate_nat_vm(const NatNetwork& network, const NatVm& vm);

// The `nft -f -` script that atomically replaces table ip banger with the rules for vms (any
// order; rendered sorted by address, so the same set always gives the same text). It works
// whether or not the table exists. With no VMs the table still drops everything forwarded
// from the bridge, and (bridge address known) everything from the bridge to the host's other
// local addresses. invalid_argument: the validate_* errors, `vm x is listed twice` and
// `vms x and y both use address 172.16.0.2`.
Expected<std::string> render_nat_ruleset(const NatNetwork& network, const std::vector<NatVm>& vms);

// The `nft -f -` script that deletes table ip banger; succeeds whether or not it exists.
std::string render_nat_removal();

}  // namespace banger::hostnat
