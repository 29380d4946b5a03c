#include "banger/guest/port_probe.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/unix_socket.hpp"

namespace banger::guest {
namespace {

using Clock = std::chrono::steady_clock;

// A connected non-blocking socket, or an invalid fd (errno says why).
base::UniqueFd connect_to(const std::string& ip, int port, Clock::time_point deadline) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    errno = EINVAL;
    return base::UniqueFd();
  }
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return base::UniqueFd();
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr API
  auto connected = posix::connect_socket(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                                         sizeof addr, deadline);
  if (!connected) {
    errno = connected.error().sys_errno;
    return base::UniqueFd();
  }
  return fd;
}

// Sends request and returns the first bytes of the answer ("" on silence or error).
std::string exchange(const std::string& ip, int port, std::string_view request,
                     std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto fd = connect_to(ip, port, deadline);
  if (!fd || !posix::write_all(fd.get(), request, deadline)) {
    return {};
  }
  std::array<char, 16> buf{};
  std::string got;
  while (got.size() < 5) {
    auto n = posix::read_some(fd.get(), buf.data(), buf.size(), deadline);
    if (!n || *n == 0) {
      break;
    }
    got.append(buf.data(), *n);
  }
  return got;
}

// A minimal TLS 1.2 ClientHello (no SNI, four common suites). Any TLS server answers it with
// a handshake record (0x16) or an alert (0x15), both starting with version byte 0x03.
std::string client_hello() {
  std::string body;
  body += std::string("\x03\x03", 2);                                   // client_version TLS 1.2
  body += std::string(32, '\x42');                                      // random
  body += '\x00';                                                       // session id length
  body += std::string("\x00\x08\xc0\x2f\xc0\x2b\x00\x9c\x00\x2f", 10);  // cipher suites
  body += std::string("\x01\x00", 2);                                   // null compression
  std::string handshake = "\x01";                                       // ClientHello
  handshake += static_cast<char>(0);
  handshake += static_cast<char>((body.size() >> 8) & 0xff);
  handshake += static_cast<char>(body.size() & 0xff);
  handshake += body;
  std::string record = std::string("\x16\x03\x01", 3);
  record += static_cast<char>((handshake.size() >> 8) & 0xff);
  record += static_cast<char>(handshake.size() & 0xff);
  return record + handshake;
}

bool looks_like_tls(const std::string& answer) {
  return answer.size() >= 2 && (answer[0] == '\x16' || answer[0] == '\x15') && answer[1] == '\x03';
}

// The longest identification exchange read (RFC 4253 caps a line at 255 bytes; a few lines
// before it are allowed).
constexpr std::size_t kMaxSshGreetingBytes = 1024;

}  // namespace

Status probe_sshd(const std::string& ip, int port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto fd = connect_to(ip, port, deadline);
  if (!fd) {
    return fail(Errc::unavailable, std::strerror(errno));
  }
  std::string got;
  std::array<char, 256> buf{};
  while (got.size() < kMaxSshGreetingBytes) {
    for (const auto& line : base::split(got, '\n')) {
      if (line.starts_with("SSH-")) {
        return {};
      }
    }
    auto n = posix::read_some(fd.get(), buf.data(), buf.size(), deadline);
    if (!n || *n == 0) {
      break;
    }
    got.append(buf.data(), *n);
  }
  if (got.empty()) {
    return fail(Errc::unavailable,
                fmt::format("no SSH identification within {} ms", timeout.count()));
  }
  const std::string first_line = got.substr(0, got.find('\n'));
  return fail(Errc::unavailable, fmt::format("answered \"{}\" instead of an SSH identification",
                                             base::printable(base::trim(first_line), 40)));
}

Status wait_for_sshd(base::Clock& clock, const WaitForSshdOptions& options) {
  constexpr std::chrono::milliseconds kInterval{100};
  constexpr std::chrono::milliseconds kAttempt{1000};
  const auto start = clock.steady_now();
  while (true) {
    if (base::is_cancelled(options.cancel)) {
      return fail(Errc::cancelled,
                  fmt::format("waiting for sshd on {}:{}: cancelled", options.ip, options.port));
    }
    auto answered = probe_sshd(options.ip, options.port, kAttempt);
    if (answered) {
      return {};
    }
    auto now = clock.steady_now();
    if (now >= options.deadline) {
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(options.deadline - start);
      return fail(Errc::timeout,
                  fmt::format("sshd on {}:{} did not answer within {} s: {}", options.ip,
                              options.port, waited.count(), answered.error().message));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(options.deadline - now);
    clock.sleep_for(std::min(kInterval, left));
  }
}

std::string to_string(PortScheme scheme) {
  switch (scheme) {
    case PortScheme::http:
      return "http";
    case PortScheme::https:
      return "https";
    case PortScheme::none:
      break;
  }
  return "";
}

PortScheme probe_port_scheme(const std::string& ip, int port, std::chrono::milliseconds timeout) {
  std::string http = exchange(ip, port, "HEAD / HTTP/1.0\r\nHost: banger-probe\r\n\r\n", timeout);
  if (http.starts_with("HTTP/")) {
    return PortScheme::http;
  }
  if (looks_like_tls(http)) {
    return PortScheme::https;  // a TLS server alerting about the plaintext request
  }
  if (!http.empty()) {
    return PortScheme::none;  // it answered, but neither HTTP nor TLS
  }
  return looks_like_tls(exchange(ip, port, client_hello(), timeout)) ? PortScheme::https
                                                                     : PortScheme::none;
}

}  // namespace banger::guest
