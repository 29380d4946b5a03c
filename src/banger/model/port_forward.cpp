#include "banger/model/port_forward.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include "banger/base/expected.hpp"

namespace banger::model {
namespace {

constexpr int kMaxPort = 65535;
// Longest dotted quad: "255.255.255.255".
constexpr std::size_t kMaxIpv4Length = 15;

bool is_ipv4_literal(std::string_view text) {
  if (text.empty() || text.size() > kMaxIpv4Length) {
    return false;
  }
  in_addr addr{};
  return ::inet_pton(AF_INET, std::string(text).c_str(), &addr) == 1;
}

// A decimal port 0..65535 (digits only, at most 5 of them); -1 otherwise.
int parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return -1;
  }
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > kMaxPort) {
    return -1;
  }
  return value;
}

// The spec as quoted in errors: at most 64 bytes, printable ASCII only.
std::string quoted(std::string_view spec) {
  std::string out;
  for (char c : spec.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return fmt::format("\"{}\"{}", out, spec.size() > 64 ? "..." : "");
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    auto at = text.find(sep);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      return parts;
    }
    text.remove_prefix(at + 1);
  }
}

}  // namespace

Status validate_port_forward(const PortForward& forward) {
  if (!is_ipv4_literal(forward.host_address)) {
    return fail(Errc::invalid_argument,
                fmt::format("host_address {} is not an IPv4 address such as 127.0.0.1",
                            quoted(forward.host_address)));
  }
  if (forward.host_port < 0 || forward.host_port > kMaxPort) {
    return fail(
        Errc::invalid_argument,
        fmt::format("host_port {} is not 0..65535 (0 picks a free port)", forward.host_port));
  }
  if (forward.guest_port < 1 || forward.guest_port > kMaxPort) {
    return fail(Errc::invalid_argument,
                fmt::format("guest_port {} is not 1..65535", forward.guest_port));
  }
  return {};
}

Status validate_port_forwards(const std::vector<PortForward>& forwards) {
  if (forwards.size() > kMaxForwardsPerVm) {
    return fail(Errc::invalid_argument, fmt::format("{} port forwards: a vm may have at most {}",
                                                    forwards.size(), kMaxForwardsPerVm));
  }
  std::set<std::pair<std::string, int>> seen;
  for (const auto& forward : forwards) {
    BANGER_TRY(validate_port_forward(forward));
    if (forward.host_port != 0 && !seen.emplace(forward.host_address, forward.host_port).second) {
      return fail(Errc::invalid_argument, fmt::format("host port {}:{} is given twice",
                                                      forward.host_address, forward.host_port));
    }
  }
  return {};
}

Expected<PortForward> parse_port_forward(std::string_view spec, std::string_view default_address) {
  auto invalid = [&](std::string_view why) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid port forward {}: {}", quoted(spec), why));
  };
  auto parts = split(spec, ':');
  if (parts.size() > 3) {
    return invalid("use [[ADDRESS:]HOST_PORT:]GUEST_PORT, e.g. 8080:80");
  }
  PortForward forward{.host_address = std::string(default_address)};
  forward.guest_port = parse_port(parts.back());
  forward.host_port = parts.size() >= 2 ? parse_port(parts[parts.size() - 2]) : forward.guest_port;
  if (parts.size() == 3) {
    forward.host_address = std::string(parts[0]);
  }
  if (forward.guest_port < 0 || forward.host_port < 0) {
    return invalid("ports are numbers 1..65535 (HOST_PORT 0 picks a free port)");
  }
  if (auto valid = validate_port_forward(forward); !valid) {
    return invalid(valid.error().message);
  }
  return forward;
}

std::string to_string(const PortForward& forward) {
  return fmt::format("{}:{}:{}", forward.host_address, forward.host_port, forward.guest_port);
}

std::string join_port_forwards(const std::vector<PortForward>& forwards) {
  std::string out;
  for (const auto& forward : forwards) {
    out += (out.empty() ? "" : ",") + to_string(forward);
  }
  return out;
}

Expected<std::vector<PortForward>> split_port_forwards(std::string_view text) {
  std::vector<PortForward> forwards;
  if (text.empty()) {
    return forwards;
  }
  for (auto part : split(text, ',')) {
    if (std::count(part.begin(), part.end(), ':') != 2) {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid stored port forward {}", quoted(part)));
    }
    BANGER_TRY_ASSIGN(auto forward, parse_port_forward(part));
    forwards.push_back(std::move(forward));
  }
  return forwards;
}

}  // namespace banger::model
