// Tells whether a TCP port in a guest serves HTTP or HTTPS, so `vm ports` can print a URL
// (S8). The probe talks first: a HEAD request, then (if that got no HTTP answer) a TLS
// ClientHello; servers that speak first (ssh, smtp) or stay silent are neither.
#pragma once

#include <chrono>
#include <string>

namespace banger::guest {

enum class PortScheme { none, http, https };

// "http", "https" or "" for none.
std::string to_string(PortScheme scheme);

// Probes ip:port (IPv4) within timeout per attempt. Connection errors mean none.
PortScheme probe_port_scheme(const std::string& ip, int port,
                             std::chrono::milliseconds timeout = std::chrono::milliseconds(700));

}  // namespace banger::guest
