#include "banger/hostnat/ipv4.hpp"

#include <fmt/format.h>

#include <charconv>

#include "banger/base/expected.hpp"

namespace banger::hostnat {
namespace {

Error bad_ipv4(std::string_view text) {
  return Error{Errc::invalid_argument,
               fmt::format("invalid ipv4 address \"{}\": use four numbers 0-255 separated by "
                           "dots, such as 172.16.0.1",
                           text),
               0,
               {}};
}

// Parses 1-3 decimal digits without a superfluous leading zero; false otherwise.
bool parse_octet(std::string_view part, std::uint32_t& out) {
  if (part.empty() || part.size() > 3 || (part.size() > 1 && part.front() == '0')) {
    return false;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
  if (ec != std::errc() || end != part.data() + part.size() || value > 255) {
    return false;
  }
  out = value;
  return true;
}

std::uint32_t mask_bits(int prefix) { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }

}  // namespace

Expected<Ipv4> parse_ipv4(std::string_view text) {
  std::uint32_t bits = 0;
  std::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    std::size_t dot = rest.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) {
      return tl::unexpected(bad_ipv4(text));
    }
    std::string_view part = rest.substr(0, dot);
    std::uint32_t octet = 0;
    if (!parse_octet(part, octet)) {
      return tl::unexpected(bad_ipv4(text));
    }
    bits = (bits << 8) | octet;
    rest = i < 3 ? rest.substr(dot + 1) : std::string_view{};
  }
  return Ipv4{bits};
}

std::string format_ipv4(Ipv4 ip) {
  return fmt::format("{}.{}.{}.{}", (ip.bits >> 24) & 0xff, (ip.bits >> 16) & 0xff,
                     (ip.bits >> 8) & 0xff, ip.bits & 0xff);
}

Expected<Ipv4> netmask_from_prefix(int prefix) {
  if (prefix < 0 || prefix > 32) {
    return fail(Errc::invalid_argument, fmt::format("invalid prefix length {}: use 0-32", prefix));
  }
  return Ipv4{mask_bits(prefix)};
}

std::string mac_for_ip(Ipv4 ip) {
  return fmt::format("02:fc:{:02x}:{:02x}:{:02x}:{:02x}", (ip.bits >> 24) & 0xff,
                     (ip.bits >> 16) & 0xff, (ip.bits >> 8) & 0xff, ip.bits & 0xff);
}

Expected<Subnet> Subnet::create(Ipv4 gateway, int prefix) {
  if (prefix < kMinPrefixLength || prefix > kMaxPrefixLength) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid prefix length {} for the vm network: use {}-{}", prefix,
                            kMinPrefixLength, kMaxPrefixLength));
  }
  Subnet subnet(gateway, prefix);
  if (gateway == subnet.network() || gateway == subnet.broadcast()) {
    return fail(
        Errc::invalid_argument,
        fmt::format("bridge address {} is the {} address of {}: use a host address "
                    "inside the network, such as {}",
                    format_ipv4(gateway), gateway == subnet.network() ? "network" : "broadcast",
                    subnet.network_cidr(), format_ipv4(subnet.first_host())));
  }
  return subnet;
}

Expected<Subnet> Subnet::parse(std::string_view gateway, int prefix) {
  BANGER_TRY_ASSIGN(Ipv4 ip, parse_ipv4(gateway));
  return create(ip, prefix);
}

Ipv4 Subnet::netmask() const { return Ipv4{mask_bits(prefix_)}; }
Ipv4 Subnet::network() const { return Ipv4{gateway_.bits & mask_bits(prefix_)}; }
Ipv4 Subnet::broadcast() const { return Ipv4{gateway_.bits | ~mask_bits(prefix_)}; }
Ipv4 Subnet::first_host() const { return Ipv4{network().bits + 1}; }
Ipv4 Subnet::last_host() const { return Ipv4{broadcast().bits - 1}; }

bool Subnet::contains(Ipv4 ip) const { return (ip.bits & mask_bits(prefix_)) == network().bits; }

std::string Subnet::gateway_cidr() const {
  return fmt::format("{}/{}", format_ipv4(gateway_), prefix_);
}

std::string Subnet::network_cidr() const {
  return fmt::format("{}/{}", format_ipv4(network()), prefix_);
}

Expected<Ipv4Cidr> parse_ipv4_cidr(std::string_view text) {
  auto bad = [&] {
    return fail(Errc::invalid_argument,
                fmt::format("invalid ipv4 cidr \"{}\": use an address with a prefix length, "
                            "such as 172.16.0.1/24",
                            text));
  };
  std::size_t slash = text.find('/');
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
  return Ipv4Cidr{*ip, prefix};
}

}  // namespace banger::hostnat
