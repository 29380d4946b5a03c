// IPv4 value type, parsing/formatting, subnets and the guest MAC derived from an address (S7).
// Pure: no I/O.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::hostnat {

// Shortest and longest prefix lengths a VM network may use (a /30 leaves one guest address).
inline constexpr int kMinPrefixLength = 8;
inline constexpr int kMaxPrefixLength = 30;

// An IPv4 address in host byte order ("172.16.0.1" is 0xac100001).
struct Ipv4 {
  std::uint32_t bits = 0;

  friend auto operator<=>(const Ipv4&, const Ipv4&) = default;
};

// Parses dotted-quad text ("172.16.0.1"; exactly four decimal parts 0-255, no leading zeros
// beyond a single "0"). invalid_argument `invalid ipv4 address "x": use four numbers 0-255
// separated by dots, such as 172.16.0.1`.
Expected<Ipv4> parse_ipv4(std::string_view text);

// "172.16.0.1".
std::string format_ipv4(Ipv4 ip);

// The netmask of a prefix length 0-32 (24 -> 255.255.255.0). invalid_argument
// `invalid prefix length 33: use 0-32` otherwise.
Expected<Ipv4> netmask_from_prefix(int prefix);

// The guest MAC for an address: the locally administered, unicast prefix 02:fc followed by the
// four address bytes (172.16.0.2 -> "02:fc:ac:10:00:02"). 02 sets the "locally administered"
// bit and clears the multicast bit, so it never collides with a vendor OUI (QEMU's 52:54:00 is
// avoided on purpose); fc marks banger guests; deriving the rest from the IP keeps the MAC
// stable for as long as the VM keeps its address, and unique on the bridge.
std::string mac_for_ip(Ipv4 ip);

// A VM network: the bridge (gateway) address and the prefix length, e.g. 172.16.0.1/24.
class Subnet {
 public:
  // Validates gateway/prefix: prefix kMinPrefixLength-kMaxPrefixLength, invalid_argument
  // `invalid prefix length 31 for the vm network: use 8-30`; the gateway must be a host
  // address, invalid_argument `bridge address 172.16.0.0 is the network address of
  // 172.16.0.0/24: use a host address inside the network, such as 172.16.0.1` (or
  // "broadcast address").
  static Expected<Subnet> create(Ipv4 gateway, int prefix);
  // Like create(), parsing the gateway text first (parse_ipv4's errors).
  static Expected<Subnet> parse(std::string_view gateway, int prefix);

  Ipv4 gateway() const { return gateway_; }
  int prefix() const { return prefix_; }
  Ipv4 netmask() const;
  Ipv4 network() const;
  Ipv4 broadcast() const;
  // First and last host addresses (network + 1, broadcast - 1), the gateway included.
  Ipv4 first_host() const;
  Ipv4 last_host() const;
  // True when ip lies inside the network (network and broadcast addresses included).
  bool contains(Ipv4 ip) const;
  // "172.16.0.1/24": the gateway with its prefix, as the bridge's address.
  std::string gateway_cidr() const;
  // "172.16.0.0/24".
  std::string network_cidr() const;

 private:
  Subnet(Ipv4 gateway, int prefix) : gateway_(gateway), prefix_(prefix) {}

  Ipv4 gateway_;
  int prefix_ = 0;
};

// Parses "a.b.c.d/p" (prefix 0-32) into address and prefix length. invalid_argument
// `invalid ipv4 cidr "x": use an address with a prefix length, such as 172.16.0.1/24`.
struct Ipv4Cidr {
  Ipv4 address;
  int prefix = 0;
};
Expected<Ipv4Cidr> parse_ipv4_cidr(std::string_view text);

}  // namespace banger::hostnat
