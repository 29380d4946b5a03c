// ClientPolicy: whom the guest resolver serves (SPEC S7, security review M7 item 4 and L8):
// only sources inside the VM network, names outside .vm only for VMs with NAT, and a bounded
// number of forwards in flight per client. ForwardingClients is the NAT set it consults.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/guarded.hpp"
#include "banger/dns/codec.hpp"

namespace banger::dns {

// Most forwards one client address may have in flight by default: a guest resolver retries a
// handful of names at once; a guest that keeps more pending (a black-holed domain) must not
// fill the table every other guest shares.
inline constexpr std::size_t kDefaultMaxPendingPerClient = 32;

// An IPv4 network, "172.16.0.0/24" (host bits of the given address are ignored).
struct ClientNetwork {
  Ipv4Bytes address{};
  int prefix = 32;

  // Whether ip lies inside the network.
  bool contains(const Ipv4Bytes& ip) const;
};

// Parses "a.b.c.d/p" (p 0-32). invalid_argument `invalid client network "x": use an IPv4
// address and a prefix length 0-32, such as 172.16.0.1/24` otherwise.
Expected<ClientNetwork> parse_client_network(std::string_view text);

// The addresses whose names outside .vm are forwarded (the VMs with NAT: the others have no
// way out, and the resolver must not be theirs, or DNS becomes a tunnel out of the host).
// Owns: the set. Thread-safety: every method may be called concurrently (one mutex); the
// resolver thread reads while VMs start and stop.
class ForwardingClients {
 public:
  // Allows (or stops) forwarding for ip ("172.16.0.2"). invalid_argument `invalid ipv4
  // address "x" for dns forwarding: use four numbers 0-255 separated by dots` otherwise.
  Status set(std::string_view ip, bool allowed);
  // Replaces the whole set (daemon start); validates everything first, unchanged on error.
  Status replace_all(const std::vector<std::string>& ips);
  bool contains(const Ipv4Bytes& ip) const;
  // The allowed addresses as text, sorted by address.
  std::vector<std::string> snapshot() const;

 private:
  base::Guarded<std::set<Ipv4Bytes>> allowed_;
};

struct ClientPolicy {
  // Queries from sources outside this network are ignored (no reply); nullopt: any source.
  std::optional<ClientNetwork> network;
  // Names outside .vm are forwarded only for these sources (others get REFUSED); nullptr:
  // for every source. Must outlive the server using it.
  const ForwardingClients* forwarding = nullptr;
  // Forwards one source address may have in flight; more get SERVFAIL at once.
  std::size_t max_pending_per_client = kDefaultMaxPendingPerClient;
};

}  // namespace banger::dns
