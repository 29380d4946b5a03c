#include "banger/hostnat/ip_allocator.hpp"

#include <fmt/format.h>

namespace banger::hostnat {

Expected<Ipv4> IpAllocator::allocate(const std::string& owner) {
  // Walk candidates and the (sorted) leases together: at most leases + 2 steps.
  auto it = leases_.begin();
  std::uint64_t last = subnet_.last_host().bits;
  for (std::uint64_t bits = subnet_.first_host().bits; bits <= last; ++bits) {
    Ipv4 candidate{static_cast<std::uint32_t>(bits)};
    if (candidate == subnet_.gateway()) {
      continue;
    }
    while (it != leases_.end() && it->first < candidate) {
      ++it;
    }
    if (it != leases_.end() && it->first == candidate) {
      continue;
    }
    leases_.emplace(candidate, owner);
    return candidate;
  }
  return fail(Errc::unavailable, fmt::format("no free guest address in {}: all {} are leased",
                                             subnet_.network_cidr(), capacity()));
}

Status IpAllocator::allocate_specific(Ipv4 ip, const std::string& owner) {
  if (!subnet_.contains(ip)) {
    return fail(Errc::invalid_argument, fmt::format("guest address {} is outside {}",
                                                    format_ipv4(ip), subnet_.network_cidr()));
  }
  const char* reserved = ip == subnet_.gateway()     ? "the bridge address"
                         : ip == subnet_.network()   ? "the network address"
                         : ip == subnet_.broadcast() ? "the broadcast address"
                                                     : nullptr;
  if (reserved != nullptr) {
    return fail(Errc::invalid_argument,
                fmt::format("guest address {} is reserved in {}: it is {}", format_ipv4(ip),
                            subnet_.network_cidr(), reserved));
  }
  auto [it, inserted] = leases_.emplace(ip, owner);
  if (!inserted && it->second != owner) {
    return fail(Errc::already_exists, fmt::format("guest address {} is already leased to vm {}",
                                                  format_ipv4(ip), it->second));
  }
  return {};
}

bool IpAllocator::release(Ipv4 ip) { return leases_.erase(ip) > 0; }

std::optional<std::string> IpAllocator::owner_of(Ipv4 ip) const {
  auto it = leases_.find(ip);
  if (it == leases_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<Ipv4> IpAllocator::find_by_owner(const std::string& owner) const {
  for (const auto& [ip, holder] : leases_) {
    if (holder == owner) {
      return ip;
    }
  }
  return std::nullopt;
}

std::vector<std::pair<Ipv4, std::string>> IpAllocator::leases() const {
  return {leases_.begin(), leases_.end()};
}

std::uint64_t IpAllocator::capacity() const {
  return std::uint64_t{subnet_.last_host().bits} - subnet_.first_host().bits;  // + 1 - gateway
}

}  // namespace banger::hostnat
