// Probes of guest TCP ports: whether a port serves HTTP or HTTPS, so `vm ports` can print a
// URL (S8), and whether a guest's sshd is up, without a key exchange (readiness, S9).
#pragma once

#include <chrono>
#include <string>

#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::guest {

enum class PortScheme { none, http, https };

// "http", "https" or "" for none.
std::string to_string(PortScheme scheme);

// Probes ip:port (IPv4) within timeout per attempt. Connection errors mean none. The probe
// talks first: a HEAD request, then (if that got no HTTP answer) a TLS ClientHello; servers
// that speak first (ssh, smtp) or stay silent are neither.
PortScheme probe_port_scheme(const std::string& ip, int port,
                             std::chrono::milliseconds timeout = std::chrono::milliseconds(700));

// Whether an sshd answers on ip:port (IPv4): it accepts a connection and sends an SSH
// identification line ("SSH-2.0-...", RFC 4253 4.2; earlier lines are skipped) within timeout.
// No key exchange: a probe costs the guest an accept and a write, nothing of its emulated CPU.
// unavailable with the reason ("connection refused", "no SSH identification within 1000 ms",
// "answered \"HTTP/1.1 400\" instead of an SSH identification") otherwise.
Status probe_sshd(const std::string& ip, int port, std::chrono::milliseconds timeout);

struct WaitForSshdOptions {
  std::string ip;
  int port = 22;
  std::chrono::steady_clock::time_point deadline;  // on clock.steady_now()
  base::CancelFn cancel;                           // may be empty
};

// Probes every 100 ms (sleeping through clock) until probe_sshd succeeds. timeout ("sshd on
// <ip>:<port> did not answer within <n> s: <last reason>") when the deadline passes first;
// cancelled when options.cancel says so.
Status wait_for_sshd(base::Clock& clock, const WaitForSshdOptions& options);

}  // namespace banger::guest
