// IPv4 UDP endpoints ("127.0.0.1:42069") for the DNS server and client, and the upstream
// list read from resolv.conf.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/dns/codec.hpp"

namespace banger::dns {

inline constexpr std::uint16_t kDnsPort = 53;
inline constexpr char kResolvedResolvConf[] = "/run/systemd/resolve/resolv.conf";
inline constexpr char kEtcResolvConf[] = "/etc/resolv.conf";

struct Endpoint {
  Ipv4Bytes ip{};
  std::uint16_t port = 0;

  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
  // "127.0.0.1:42069".
  std::string to_string() const;
};

// Parses "ip:port" (port 0-65535; 0 asks the kernel for a free port). invalid_argument
// `invalid dns listen address "x": use an IPv4 address and a port 0-65535, such as
// 127.0.0.1:42069` otherwise.
Expected<Endpoint> parse_listen_address(std::string_view text);

// Parses "ip" (port 53) or "ip:port" (port 1-65535). invalid_argument `invalid dns upstream
// "x": use an IPv4 address with an optional port, such as 1.1.1.1 or 127.0.0.1:5353` otherwise.
Expected<Endpoint> parse_upstream(std::string_view text);

// The IPv4 `nameserver` entries of resolv.conf text as "ip:53", in file order, without
// duplicates. IPv6 entries and anything unparsable are skipped (the forwarder is IPv4 only);
// comments (# and ;) are ignored.
std::vector<std::string> read_upstreams(std::string_view resolv_conf_text);

// The resolv.conf to take upstreams from: kResolvedResolvConf when it exists (systemd-resolved's
// real upstreams, not its 127.0.0.53 stub), else kEtcResolvConf. `resolved_conf` and
// `etc_conf` are seams for tests.
std::string upstreams_source(const std::string& resolved_conf = kResolvedResolvConf,
                             const std::string& etc_conf = kEtcResolvConf);

// read_upstreams() of upstreams_source(). not_found / io when the file cannot be read
// (`reading /etc/resolv.conf: ...`).
Expected<std::vector<std::string>> discover_upstreams(
    const std::string& resolved_conf = kResolvedResolvConf,
    const std::string& etc_conf = kEtcResolvConf);

// The upstreams without the server's own address, so the resolver never forwards to itself.
// When the server listens on 0.0.0.0, every loopback upstream on its port is dropped too.
std::vector<Endpoint> without_self(const std::vector<Endpoint>& upstreams, const Endpoint& self);

}  // namespace banger::dns
