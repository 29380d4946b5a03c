// PortForward: one host TCP port forwarded to a guest port (`vm forward`, `--publish`;
// docs/forwarding.md). Plain data, its validation, the `[[ADDRESS:]HOST_PORT:]GUEST_PORT` spec
// the CLI takes and the one-line text the store keeps. No I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::model {

// Where a forward listens unless an address is given: loopback only.
inline constexpr std::string_view kDefaultForwardAddress = "127.0.0.1";
// The most forwards one VM may have (published and runtime ones together).
inline constexpr std::size_t kMaxForwardsPerVm = 64;

struct PortForward {
  std::string host_address{kDefaultForwardAddress};  // an IPv4 literal ("0.0.0.0" = all)
  int host_port = 0;   // 0 = the host picks a free port (the bound port is reported)
  int guest_port = 0;  // 1..65535

  friend bool operator==(const PortForward&, const PortForward&) = default;
};

// OK when host_address is an IPv4 literal (dotted quad), host_port is 0..65535 and guest_port
// 1..65535; otherwise invalid_argument naming the field and the value.
Status validate_port_forward(const PortForward& forward);

// validate_port_forward for each, at most kMaxForwardsPerVm of them, and no host
// address:port twice (port 0 may repeat): invalid_argument naming the first problem.
Status validate_port_forwards(const std::vector<PortForward>& forwards);

// Parses "GUEST", "HOST:GUEST" or "ADDRESS:HOST:GUEST" ("8080", "0:80", "0.0.0.0:8080:80");
// a spec without an address gets default_address. HOST omitted = the guest port. Validated as
// validate_port_forward; invalid_argument `invalid port forward "x": ...` otherwise.
Expected<PortForward> parse_port_forward(std::string_view spec,
                                         std::string_view default_address = kDefaultForwardAddress);

// "127.0.0.1:8080:80": the spec parse_port_forward reads back.
std::string to_string(const PortForward& forward);

// The store's encoding of a list: to_string() of each, joined by ','; "" for none.
std::string join_port_forwards(const std::vector<PortForward>& forwards);
// Reads join_port_forwards' text back (each validated); invalid_argument on anything else.
Expected<std::vector<PortForward>> split_port_forwards(std::string_view text);

}  // namespace banger::model
