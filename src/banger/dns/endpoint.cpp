#include "banger/dns/endpoint.hpp"

#include <algorithm>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::dns {
namespace {

// Splits "ip:port" (port optional when allow_bare). false on malformed text.
bool split_endpoint(std::string_view text, bool allow_bare, std::uint16_t default_port,
                    std::uint16_t min_port, Endpoint& out) {
  auto colon = text.find(':');
  std::string_view ip_text = text.substr(0, colon);
  auto ip = parse_ipv4(ip_text);
  if (!ip) {
    return false;
  }
  out.ip = *ip;
  if (colon == std::string_view::npos) {
    out.port = default_port;
    return allow_bare;
  }
  std::string_view port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5) {
    return false;
  }
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') {
      return false;
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535 || port < min_port) {
    return false;
  }
  out.port = static_cast<std::uint16_t>(port);
  return true;
}

}  // namespace

std::string Endpoint::to_string() const { return format_ipv4(ip) + ":" + std::to_string(port); }

Expected<Endpoint> parse_listen_address(std::string_view text) {
  Endpoint out;
  if (!split_endpoint(text, false, 0, 0, out)) {
    return fail(Errc::invalid_argument,
                "invalid dns listen address \"" + std::string(text) +
                    "\": use an IPv4 address and a port 0-65535, such as 127.0.0.1:42069");
  }
  return out;
}

Expected<Endpoint> parse_upstream(std::string_view text) {
  Endpoint out;
  if (!split_endpoint(text, true, kDnsPort, 1, out)) {
    return fail(Errc::invalid_argument,
                "invalid dns upstream \"" + std::string(text) +
                    "\": use an IPv4 address with an optional port, such as 1.1.1.1 or "
                    "127.0.0.1:5353");
  }
  return out;
}

std::vector<std::string> read_upstreams(std::string_view resolv_conf_text) {
  std::vector<std::string> out;
  for (const auto& raw : base::split(resolv_conf_text, '\n')) {
    std::string_view line = raw;
    if (auto hash = line.find_first_of("#;"); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = base::trim(line);
    constexpr std::string_view kKey = "nameserver";
    if (line.substr(0, kKey.size()) != kKey || line.size() == kKey.size() ||
        (line[kKey.size()] != ' ' && line[kKey.size()] != '\t')) {
      continue;
    }
    std::string_view value = base::trim(line.substr(kKey.size()));
    if (auto space = value.find_first_of(" \t"); space != std::string_view::npos) {
      value = value.substr(0, space);
    }
    if (!parse_ipv4(value)) {
      continue;
    }
    std::string entry = std::string(value) + ":53";
    if (std::find(out.begin(), out.end(), entry) == out.end()) {
      out.push_back(std::move(entry));
    }
  }
  return out;
}

std::string upstreams_source(const std::string& resolved_conf, const std::string& etc_conf) {
  return sys::path_exists(resolved_conf) ? resolved_conf : etc_conf;
}

Expected<std::vector<std::string>> discover_upstreams(const std::string& resolved_conf,
                                                      const std::string& etc_conf) {
  BANGER_TRY_ASSIGN(auto text, sys::read_file(upstreams_source(resolved_conf, etc_conf)));
  return read_upstreams(text);
}

std::vector<Endpoint> without_self(const std::vector<Endpoint>& upstreams, const Endpoint& self) {
  std::vector<Endpoint> out;
  bool wildcard = self.ip == Ipv4Bytes{0, 0, 0, 0};
  for (const auto& upstream : upstreams) {
    bool is_self =
        upstream == self || (wildcard && upstream.port == self.port && upstream.ip[0] == 127);
    if (!is_self) {
      out.push_back(upstream);
    }
  }
  return out;
}

}  // namespace banger::dns
