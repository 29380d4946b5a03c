#include "banger/dns/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/random.hpp"
#include "banger/base/strings.hpp"

namespace banger::dns {
namespace {

constexpr std::size_t kMaxPending = 4096;
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

struct Pending {
  sockaddr_in client{};
  std::uint16_t client_id = 0;
  Query query;                          // to build SERVFAIL
  std::vector<std::uint8_t> forwarded;  // the client's bytes with our id
  std::size_t upstream = 0;             // index of the upstream being tried
  std::chrono::steady_clock::time_point deadline;
};

}  // namespace

DnsServer::DnsServer(const RecordTable& records, DnsServerOptions options)
    : records_(records), options_(std::move(options)) {}

DnsServer::~DnsServer() { stop(); }

std::string DnsServer::address() const { return port() == 0 ? "" : bound_.to_string(); }

DnsServerStats DnsServer::stats() const {
  return DnsServerStats{
      .queries = counters_.queries.load(),
      .ignored = counters_.ignored.load(),
      .malformed = counters_.malformed.load(),
      .vm_answers = counters_.vm_answers.load(),
      .refused = counters_.refused.load(),
      .forwarded = counters_.forwarded.load(),
      .relayed = counters_.relayed.load(),
      .forward_timeouts = counters_.forward_timeouts.load(),
      .servfail = counters_.servfail.load(),
  };
}

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
  counters_.queries = counters_.ignored = counters_.malformed = counters_.vm_answers = 0;
  counters_.refused = counters_.forwarded = counters_.relayed = 0;
  counters_.forward_timeouts = counters_.servfail = 0;
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
  std::map<std::uint16_t, Pending> pending;
  base::Mt19937Random random;  // ids of forwarded queries: unpredictable, against spoofing
  std::vector<std::uint8_t> buf(65535);
  const int listen_fd = listen_fd_.get();
  const int upstream_fd = upstream_fd_.get();

  auto forward = [&](Pending& p) {
    sockaddr_in to = to_sockaddr(upstreams_[p.upstream]);
    p.deadline = std::chrono::steady_clock::now() + options_.forward_timeout;
    send_to(upstream_fd, p.forwarded, to);
    ++counters_.forwarded;
  };
  auto servfail = [&](const Pending& p) {
    ++counters_.servfail;
    send_to(listen_fd, build_empty_reply(p.query, Rcode::servfail, false), p.client);
  };

  auto handle_query = [&](std::span<const std::uint8_t> message, const sockaddr_in& from) {
    ++counters_.queries;
    ParsedQuery parsed = parse_query(message);
    switch (parsed.outcome) {
      case ParseOutcome::ignore:
        ++counters_.ignored;
        return;
      case ParseOutcome::format_error:
      case ParseOutcome::not_implemented:
        ++counters_.malformed;
        BANGER_LOG_DEBUG("dns: {} from {}", parsed.reason, from_sockaddr(from).to_string());
        send_to(listen_fd,
                build_header_only_reply(parsed.query, parsed.outcome == ParseOutcome::format_error
                                                          ? Rcode::formerr
                                                          : Rcode::notimp),
                from);
        return;
      case ParseOutcome::ok:
        break;
    }
    const Query& query = parsed.query;
    if (auto vm = vm_name_of(query.question)) {
      std::optional<Ipv4Bytes> address;
      if (!vm->empty()) {
        address = records_.lookup(*vm);
      }
      ++counters_.vm_answers;
      send_to(listen_fd, build_vm_reply(query, *vm, address), from);
      return;
    }
    if (upstreams_.empty()) {
      ++counters_.refused;
      send_to(listen_fd, build_empty_reply(query, Rcode::refused, false), from);
      return;
    }
    if (pending.size() >= kMaxPending) {
      ++counters_.servfail;
      send_to(listen_fd, build_empty_reply(query, Rcode::servfail, false), from);
      return;
    }
    std::uint16_t id = 0;
    do {
      id = static_cast<std::uint16_t>(random.below(65536));
    } while (pending.count(id) != 0);
    Pending p{.client = from,
              .client_id = query.id,
              .query = query,
              .forwarded = std::vector<std::uint8_t>(message.begin(), message.end()),
              .upstream = 0,
              .deadline = {}};
    set_message_id(p.forwarded, id);
    forward(pending.emplace(id, std::move(p)).first->second);
  };

  auto handle_upstream_reply = [&](std::span<std::uint8_t> message, const sockaddr_in& from) {
    auto id = message_id(message);
    if (!id || message.size() < kHeaderSize || (message[2] & 0x80) == 0) {
      return;
    }
    auto it = pending.find(*id);
    if (it == pending.end() || from_sockaddr(from) != upstreams_[it->second.upstream]) {
      return;  // late, duplicate or spoofed
    }
    Pending& p = it->second;
    auto rcode = static_cast<Rcode>(message[3] & 0x0f);
    if (rcode == Rcode::servfail && p.upstream + 1 < upstreams_.size()) {
      ++p.upstream;
      forward(p);
      return;
    }
    set_message_id(message, p.client_id);
    // Counters move before the reply leaves, so a client that got it sees them updated.
    ++counters_.relayed;
    send_to(listen_fd, message, p.client);
    pending.erase(it);
  };

  auto expire = [&] {
    auto now = std::chrono::steady_clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      Pending& p = it->second;
      if (p.deadline > now) {
        ++it;
        continue;
      }
      ++counters_.forward_timeouts;
      if (p.upstream + 1 < upstreams_.size()) {
        ++p.upstream;
        forward(p);
        ++it;
      } else {
        servfail(p);
        it = pending.erase(it);
      }
    }
  };

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
      std::span<std::uint8_t> message(buf.data(), static_cast<std::size_t>(n));
      if (from_clients) {
        handle_query(message, from);
      } else {
        handle_upstream_reply(message, from);
      }
    }
  };

  while (true) {
    int timeout_ms = -1;
    if (!pending.empty()) {
      auto earliest = pending.begin()->second.deadline;
      for (const auto& [id, p] : pending) {
        earliest = std::min(earliest, p.deadline);
      }
      auto left =
          std::chrono::ceil<std::chrono::milliseconds>(earliest - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    epoll_event events[4];
    int n = ::epoll_wait(epoll_fd_.get(), events, 4, timeout_ms);
    if (n < 0 && errno != EINTR) {
      BANGER_LOG_ERROR("dns: epoll_wait: {}", errno_text(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      switch (events[i].data.u64) {
        case kWakeTag:
          return;
        case kListenTag:
          drain(listen_fd, true);
          break;
        case kUpstreamTag:
          drain(upstream_fd, false);
          break;
        default:
          break;
      }
    }
    if (!pending.empty()) {
      expire();
    }
  }
}

}  // namespace banger::dns
