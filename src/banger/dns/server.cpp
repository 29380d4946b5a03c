#include "banger/dns/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"

namespace banger::dns {
namespace {

constexpr int kMaxDatagramsPerWakeup = 64;
constexpr std::uint64_t kWakeTag = 0;
constexpr std::uint64_t kListenTag = 1;
constexpr std::uint64_t kUpstreamTag = 2;

sockaddr_in to_sockaddr(const Endpoint& e) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(e.port);
  std::memcpy(&sa.sin_addr, e.ip.data(), 4);
  return sa;
}

Endpoint from_sockaddr(const sockaddr_in& sa) {
  Endpoint e;
  std::memcpy(e.ip.data(), &sa.sin_addr, 4);
  e.port = ntohs(sa.sin_port);
  return e;
}

// "address already in use": strerror, lower-cased to fit our message style.
std::string errno_text(int err) { return base::to_lower(std::strerror(err)); }

Error socket_error(const std::string& doing, int err) {
  Errc code = Errc::io;
  if (err == EADDRINUSE || err == EADDRNOTAVAIL) {
    code = Errc::unavailable;
  } else if (err == EACCES || err == EPERM) {
    code = Errc::permission_denied;
  }
  return Error{code, doing + ": " + errno_text(err), err, {}};
}

Expected<base::UniqueFd> udp_socket(const std::string& doing, const Endpoint& bind_to) {
  base::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return tl::unexpected(socket_error(doing, errno));
  }
  sockaddr_in sa = to_sockaddr(bind_to);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    return tl::unexpected(socket_error(doing, errno));
  }
  return fd;
}

void send_to(int fd, std::span<const std::uint8_t> bytes, const sockaddr_in& to) {
  // UDP: a failed send (full buffer, unreachable client) is a lost datagram; clients retry.
  ssize_t sent = ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                          sizeof to);
  if (sent < 0) {
    BANGER_LOG_DEBUG("dns: sendto {}: {}", from_sockaddr(to).to_string(), errno_text(errno));
  }
}

}  // namespace

DnsServer::DnsServer(const RecordTable& records, DnsServerOptions options)
    : records_(records), options_(std::move(options)) {}

DnsServer::~DnsServer() { stop(); }

std::string DnsServer::address() const { return port() == 0 ? "" : bound_.to_string(); }

DnsServerStats DnsServer::stats() const { return counters_.snapshot(); }

Status DnsServer::start() {
  if (thread_.joinable()) {
    return fail(Errc::failed_precondition, "dns server already started");
  }
  BANGER_TRY_ASSIGN(Endpoint listen, parse_listen_address(options_.listen));
  std::vector<Endpoint> upstreams;
  if (options_.mode == Mode::resolver) {
    for (const auto& text : options_.upstreams) {
      BANGER_TRY_ASSIGN(Endpoint upstream, parse_upstream(text));
      upstreams.push_back(upstream);
    }
  }
  std::string doing = "dns listen " + listen.to_string();
  BANGER_TRY_ASSIGN(auto listen_fd, udp_socket(doing, listen));
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(listen_fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return tl::unexpected(socket_error(doing, errno));
  }
  Endpoint self = from_sockaddr(bound);
  upstreams = without_self(upstreams, self);
  base::UniqueFd upstream_fd;
  if (!upstreams.empty()) {
    // Loopback-only upstreams get a loopback source, so nothing binds a wider address for them.
    bool all_loopback = true;
    for (const auto& u : upstreams) {
      all_loopback = all_loopback && u.ip[0] == 127;
    }
    Endpoint source{all_loopback ? Ipv4Bytes{127, 0, 0, 1} : Ipv4Bytes{0, 0, 0, 0}, 0};
    BANGER_TRY_ASSIGN(upstream_fd, udp_socket("dns forwarding socket", source));
  }
  base::UniqueFd wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  base::UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!wake_fd || !epoll_fd) {
    return tl::unexpected(socket_error("dns server setup", errno));
  }
  auto watch = [&](int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  if (!watch(wake_fd.get(), kWakeTag) || !watch(listen_fd.get(), kListenTag) ||
      (upstream_fd && !watch(upstream_fd.get(), kUpstreamTag))) {
    return tl::unexpected(socket_error("dns server setup", errno));
  }
  listen_fd_ = std::move(listen_fd);
  upstream_fd_ = std::move(upstream_fd);
  wake_fd_ = std::move(wake_fd);
  epoll_fd_ = std::move(epoll_fd);
  upstreams_ = std::move(upstreams);
  bound_ = self;
  counters_.reset();
  port_ = self.port;
  thread_ = std::thread([this] { run(); });
  BANGER_LOG_INFO("dns: {} server on {} ({} upstreams)",
                  options_.mode == Mode::resolver ? "resolver" : "authoritative", self.to_string(),
                  upstreams_.size());
  return {};
}

void DnsServer::stop() {
  if (!thread_.joinable()) {
    return;
  }
  std::uint64_t one = 1;
  // eventfd writes of 8 bytes only fail when the counter would overflow; it cannot here.
  [[maybe_unused]] ssize_t written = ::write(wake_fd_.get(), &one, sizeof one);
  thread_.join();
  listen_fd_.reset();
  upstream_fd_.reset();
  wake_fd_.reset();
  epoll_fd_.reset();
  port_ = 0;
}

void DnsServer::run() {
  Forwarder forwarder(records_, upstreams_, options_.forward_timeout, clock_, random_, counters_,
                      options_.clients);
  std::vector<std::uint8_t> buf(65535);
  auto send_all = [&](const std::vector<Datagram>& datagrams) {
    for (const auto& d : datagrams) {
      send_to(d.to_upstream ? upstream_fd_.get() : listen_fd_.get(), d.bytes, to_sockaddr(d.to));
    }
  };
  // Reads up to kMaxDatagramsPerWakeup datagrams from fd and hands each to the forwarder.
  auto drain = [&](int fd, bool from_clients) {
    for (int i = 0; i < kMaxDatagramsPerWakeup; ++i) {
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      ssize_t n =
          ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) {
        // EAGAIN: drained. ECONNREFUSED and friends: ICMP errors from earlier sends; skip.
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return;
        }
        continue;
      }
      std::span<const std::uint8_t> message(buf.data(), static_cast<std::size_t>(n));
      send_all(from_clients ? forwarder.on_query(message, from_sockaddr(from))
                            : forwarder.on_reply(message, from_sockaddr(from)));
    }
  };
  while (true) {
    int timeout_ms = -1;
    if (auto deadline = forwarder.next_deadline()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - clock_.steady_now());
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    epoll_event events[4];
    int n = ::epoll_wait(epoll_fd_.get(), events, 4, timeout_ms);
    if (n < 0 && errno != EINTR) {
      BANGER_LOG_ERROR("dns: epoll_wait: {}", errno_text(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) {
        return;
      }
      drain(events[i].data.u64 == kListenTag ? listen_fd_.get() : upstream_fd_.get(),
            events[i].data.u64 == kListenTag);
    }
    send_all(forwarder.on_tick());
  }
}

}  // namespace banger::dns
