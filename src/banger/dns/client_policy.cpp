#include "banger/dns/client_policy.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

#include "banger/base/expected.hpp"

namespace banger::dns {
namespace {

std::uint32_t bits_of(const Ipv4Bytes& ip) {
  return (std::uint32_t(ip[0]) << 24) | (std::uint32_t(ip[1]) << 16) | (std::uint32_t(ip[2]) << 8) |
         std::uint32_t(ip[3]);
}

Expected<Ipv4Bytes> parse_forwarding_ip(std::string_view text) {
  auto ip = parse_ipv4(text);
  if (!ip) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid ipv4 address \"{}\" for dns forwarding: use four numbers "
                            "0-255 separated by dots",
                            text));
  }
  return *ip;
}

}  // namespace

bool ClientNetwork::contains(const Ipv4Bytes& ip) const {
  std::uint32_t mask = prefix <= 0 ? 0 : (prefix >= 32 ? ~0U : ~0U << (32 - prefix));
  return (bits_of(ip) & mask) == (bits_of(address) & mask);
}

Expected<ClientNetwork> parse_client_network(std::string_view text) {
  auto bad = [&] {
    return fail(Errc::invalid_argument,
                fmt::format("invalid client network \"{}\": use an IPv4 address and a prefix "
                            "length 0-32, such as 172.16.0.1/24",
                            text));
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return bad();
  }
  auto ip = parse_ipv4(text.substr(0, slash));
  std::string_view digits = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
  if (!ip || digits.empty() || digits.size() > 2 || ec != std::errc() ||
      end != digits.data() + digits.size() || prefix < 0 || prefix > 32) {
    return bad();
  }
  return ClientNetwork{.address = *ip, .prefix = prefix};
}

Status ForwardingClients::set(std::string_view ip, bool allowed) {
  BANGER_TRY_ASSIGN(auto address, parse_forwarding_ip(ip));
  allowed_.with_lock([&](std::set<Ipv4Bytes>& set) {
    if (allowed) {
      set.insert(address);
    } else {
      set.erase(address);
    }
  });
  return {};
}

Status ForwardingClients::replace_all(const std::vector<std::string>& ips) {
  std::set<Ipv4Bytes> next;
  for (const auto& ip : ips) {
    BANGER_TRY_ASSIGN(auto address, parse_forwarding_ip(ip));
    next.insert(address);
  }
  allowed_.with_lock([&](std::set<Ipv4Bytes>& set) { set = std::move(next); });
  return {};
}

bool ForwardingClients::contains(const Ipv4Bytes& ip) const {
  return allowed_.with_lock([&](const std::set<Ipv4Bytes>& set) { return set.contains(ip); });
}

std::vector<std::string> ForwardingClients::snapshot() const {
  return allowed_.with_lock([](const std::set<Ipv4Bytes>& set) {
    std::vector<std::string> out;
    for (const auto& ip : set) {
      out.push_back(format_ipv4(ip));
    }
    return out;
  });
}

}  // namespace banger::dns
