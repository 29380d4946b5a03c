// IpAllocator: guest address leases inside one VM network (S7). Pure, no I/O.
// The lowest free host address is handed out; the network, broadcast and bridge addresses are
// never leased; a released address is free again at once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/hostnat/ipv4.hpp"

namespace banger::hostnat {

// Thread-safety: none; callers serialize (NetworkService holds it under its lock).
class IpAllocator {
 public:
  explicit IpAllocator(Subnet subnet) : subnet_(subnet) {}

  const Subnet& subnet() const { return subnet_; }

  // Leases the lowest free host address to owner (an opaque id, the VM id in banger).
  // unavailable `no free guest address in 172.16.0.0/24: all 253 are leased` when full.
  Expected<Ipv4> allocate(const std::string& owner);

  // Leases exactly ip to owner; OK when owner already holds it. invalid_argument
  // `guest address 10.0.0.5 is outside 172.16.0.0/24` or `guest address 172.16.0.1 is
  // reserved in 172.16.0.0/24: it is the bridge address` (or "network address",
  // "broadcast address"); already_exists `guest address 172.16.0.5 is already leased to vm
  // <owner>` when someone else holds it.
  Status allocate_specific(Ipv4 ip, const std::string& owner);

  // Frees ip; true when it was leased.
  bool release(Ipv4 ip);

  // Who holds ip, if anyone.
  std::optional<std::string> owner_of(Ipv4 ip) const;
  // The lowest address held by owner, if any.
  std::optional<Ipv4> find_by_owner(const std::string& owner) const;
  // All leases in address order.
  std::vector<std::pair<Ipv4, std::string>> leases() const;
  // Drops every lease.
  void clear() { leases_.clear(); }
  // How many addresses can be leased in total (hosts minus the bridge address).
  std::uint64_t capacity() const;

 private:
  Subnet subnet_;
  std::map<Ipv4, std::string> leases_;
};

}  // namespace banger::hostnat
