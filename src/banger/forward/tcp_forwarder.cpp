#include "banger/forward/tcp_forwarder.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <tuple>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/posix/tcp.hpp"

namespace banger::forward {
namespace {

using SteadyClock = std::chrono::steady_clock;

// epoll tokens: (id << 2) | kind.
constexpr std::uint64_t kListenerKind = 0;
constexpr std::uint64_t kWakeToken = 3;
constexpr int kMaxEvents = 64;
constexpr int kAcceptsPerWakeup = 64;
constexpr std::chrono::milliseconds kSweepInterval{250};
constexpr std::chrono::milliseconds kAcceptPause{100};

std::uint64_t listener_token(std::uint64_t id) { return (id << 2) | kListenerKind; }
std::uint64_t side_token(std::uint64_t id, int side) {
  return (id << 2) | static_cast<std::uint64_t>(side + 1);
}

bool epoll_set(int epoll, int op, int fd, std::uint32_t events, std::uint64_t token) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = token;
  return ::epoll_ctl(epoll, op, fd, &event) == 0;
}

// The error for a listener that could not be bound, naming address:port.
Error bind_error(const model::PortForward& forward, const posix::SysError& error) {
  const auto where = fmt::format("{}:{}", forward.host_address, forward.host_port);
  switch (error.sys_errno) {
    case EADDRINUSE:
      return Error{Errc::already_exists, fmt::format("host port {} is already in use", where),
                   error.sys_errno};
    case EACCES:
      return Error{Errc::permission_denied,
                   fmt::format("host port {} is privileged: the daemon may not bind it", where),
                   error.sys_errno};
    case EADDRNOTAVAIL:
      return Error{Errc::invalid_argument,
                   fmt::format("{} is not an address of this host", forward.host_address),
                   error.sys_errno};
    default:
      return from_sys(error, "forwarding host port " + where);
  }
}

bool same_host_port(const model::PortForward& a, const model::PortForward& b) {
  return a.host_address == b.host_address && a.host_port == b.host_port;
}

}  // namespace

TcpForwarder::TcpForwarder(ForwarderOptions options) : options_(options) {}

TcpForwarder::~TcpForwarder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
  connections_.clear();
  listeners_.clear();
}

Status TcpForwarder::ensure_started() {
  if (thread_.joinable()) {
    return {};
  }
  posix::Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) {
    return fail_errno("creating the port forwarder's epoll", errno);
  }
  posix::Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) {
    return fail_errno("creating the port forwarder's eventfd", errno);
  }
  if (!epoll_set(epoll.get(), EPOLL_CTL_ADD, wake.get(), EPOLLIN, kWakeToken)) {
    return fail_errno("watching the port forwarder's eventfd", errno);
  }
  epoll_ = std::move(epoll);
  wake_ = std::move(wake);
  thread_ = std::thread([this] { loop(); });
  return {};
}

Expected<std::vector<model::PortForward>> TcpForwarder::add(
    const std::string& owner, const std::string& guest_ip,
    const std::vector<model::PortForward>& forwards) {
  BANGER_TRY(model::validate_port_forwards(forwards));
  std::lock_guard lock(mutex_);
  BANGER_TRY(ensure_started());
  std::vector<std::uint64_t> added;
  auto undo = [&] {
    for (auto id : added) {
      close_listener(id);
    }
  };
  std::vector<model::PortForward> bound;
  for (const auto& forward : forwards) {
    auto fd = posix::listen_tcp4(forward.host_address, forward.host_port);
    if (!fd) {
      undo();
      return tl::unexpected(bind_error(forward, fd.error()));
    }
    auto port = posix::local_port(fd->get());
    const auto id = next_id_++;
    if (!port || !epoll_set(epoll_.get(), EPOLL_CTL_ADD, fd->get(), EPOLLIN, listener_token(id))) {
      const int err = port ? errno : port.error().sys_errno;
      undo();
      return fail_errno(
          fmt::format("forwarding host port {}:{}", forward.host_address, forward.host_port), err);
    }
    auto as_bound = forward;
    as_bound.host_port = *port;
    listeners_.emplace(id, Listener{.id = id,
                                    .owner = owner,
                                    .guest_ip = guest_ip,
                                    .forward = as_bound,
                                    .fd = std::move(*fd)});
    added.push_back(id);
    bound.push_back(as_bound);
  }
  return bound;
}

Status TcpForwarder::remove(const std::string& owner,
                            const std::vector<model::PortForward>& forwards) {
  std::lock_guard lock(mutex_);
  std::vector<std::uint64_t> ids;
  for (const auto& forward : forwards) {
    auto found = std::find_if(listeners_.begin(), listeners_.end(), [&](const auto& entry) {
      return entry.second.owner == owner && same_host_port(entry.second.forward, forward);
    });
    if (found == listeners_.end()) {
      return fail(Errc::not_found,
                  fmt::format("no forward on {}:{}", forward.host_address, forward.host_port));
    }
    ids.push_back(found->first);
  }
  for (auto id : ids) {
    close_listener(id);
  }
  return {};
}

void TcpForwarder::remove_all(const std::string& owner) {
  std::lock_guard lock(mutex_);
  std::vector<std::uint64_t> ids;
  for (const auto& [id, listener] : listeners_) {
    if (listener.owner == owner) {
      ids.push_back(id);
    }
  }
  for (auto id : ids) {
    close_listener(id);
  }
}

std::vector<model::PortForward> TcpForwarder::list(const std::string& owner) const {
  std::lock_guard lock(mutex_);
  std::vector<model::PortForward> out;
  for (const auto& [id, listener] : listeners_) {
    if (listener.owner == owner) {
      out.push_back(listener.forward);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.host_address, a.host_port) < std::tie(b.host_address, b.host_port);
  });
  return out;
}

std::size_t TcpForwarder::connections(const std::string& owner) const {
  std::lock_guard lock(mutex_);
  std::size_t count = 0;
  for (const auto& [id, listener] : listeners_) {
    if (listener.owner == owner) {
      count += listener.connections;
    }
  }
  return count;
}

void TcpForwarder::close_listener(std::uint64_t id) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    it = it->second.listener == id ? connections_.erase(it) : std::next(it);
  }
  // Closing a descriptor drops it from the epoll set; events already fetched for its token find
  // no entry and are ignored.
  listeners_.erase(id);
}

void TcpForwarder::close_connection(std::uint64_t id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) {
    return;
  }
  if (auto listener = listeners_.find(found->second.listener); listener != listeners_.end()) {
    --listener->second.connections;
  }
  connections_.erase(found);
}

void TcpForwarder::loop() {
  std::array<epoll_event, kMaxEvents> events{};
  auto next_sweep = SteadyClock::now() + kSweepInterval;
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents,
                               static_cast<int>(kSweepInterval.count()));
    if (n < 0 && errno != EINTR) {
      BANGER_LOG_ERROR("port forwarder: epoll_wait: errno {}", errno);
      return;
    }
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    for (int i = 0; i < n; ++i) {
      dispatch(events[static_cast<std::size_t>(i)].data.u64,
               events[static_cast<std::size_t>(i)].events);
    }
    if (SteadyClock::now() >= next_sweep) {
      sweep();
      next_sweep = SteadyClock::now() + kSweepInterval;
    }
  }
}

void TcpForwarder::dispatch(std::uint64_t token, std::uint32_t events) {
  if (token == kWakeToken) {
    std::uint64_t value = 0;
    (void)!::read(wake_.get(), &value, sizeof value);
    return;
  }
  const std::uint64_t id = token >> 2;
  const auto kind = token & 3;
  if (kind == kListenerKind) {
    if (auto found = listeners_.find(id); found != listeners_.end()) {
      accept_on(found->second);
    }
    return;
  }
  on_connection(id, static_cast<int>(kind) - 1, events);
}

void TcpForwarder::accept_on(Listener& listener) {
  const std::uint64_t listener_id = listener.id;
  for (int i = 0; i < kAcceptsPerWakeup; ++i) {
    posix::Fd client(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Level-triggered: without a pause the loop would spin on the pending connection.
        BANGER_LOG_WARN("port forwarder: accept on {}:{}: errno {}; pausing it",
                        listener.forward.host_address, listener.forward.host_port, errno);
        (void)epoll_set(epoll_.get(), EPOLL_CTL_MOD, listener.fd.get(), 0,
                        listener_token(listener_id));
        listener.paused = true;
        listener.paused_until = SteadyClock::now() + kAcceptPause;
      }
      return;  // EAGAIN, or a connection that went away before it was accepted
    }
    if (listener.connections >= options_.max_connections) {
      BANGER_LOG_WARN("port forwarder: {}:{} already carries {} connections; refusing one",
                      listener.forward.host_address, listener.forward.host_port,
                      listener.connections);
      continue;  // closed by client's destructor
    }
    auto guest = posix::start_connect_tcp4(listener.guest_ip, listener.forward.guest_port);
    if (!guest) {
      BANGER_LOG_WARN("port forwarder: {}", guest.error().message());
      continue;
    }
    const auto id = next_id_++;
    Connection c{.id = id, .listener = listener_id, .started = SteadyClock::now()};
    c.fd[0] = std::move(client);
    c.fd[1] = std::move(guest->fd);
    c.connecting = guest->in_progress;
    // Registered with no interest; update_interest() asks for what the state needs.
    if (!epoll_set(epoll_.get(), EPOLL_CTL_ADD, c.fd[0].get(), 0, side_token(id, 0)) ||
        !epoll_set(epoll_.get(), EPOLL_CTL_ADD, c.fd[1].get(), 0, side_token(id, 1))) {
      BANGER_LOG_WARN("port forwarder: epoll_ctl: errno {}", errno);
      continue;
    }
    ++listener.connections;
    auto& added = connections_.emplace(id, std::move(c)).first->second;
    update_interest(added);
  }
}

void TcpForwarder::on_connection(std::uint64_t id, int side, std::uint32_t events) {
  auto found = connections_.find(id);
  if (found == connections_.end()) {
    return;
  }
  Connection& c = found->second;
  bool ok = true;
  if (c.connecting) {
    // Only the guest side is watched (for POLLOUT) until the connect completes; a client that
    // hangs up meanwhile shows as EPOLLHUP on side 0.
    if (side == 0 || posix::socket_error(c.fd[1].get()) != 0) {
      close_connection(id);
      return;
    }
    c.connecting = false;
  } else if ((events & EPOLLERR) != 0) {
    // A reset (or other error) on this side: what it sent before still goes on, as far as the
    // buffer holds it, then the connection closes (a server that closes with unread request
    // bytes resets right after its reply).
    (void)read_side(c, side);
    (void)write_side(c, 1 - side);
    ok = false;
  } else {
    if ((events & (EPOLLIN | EPOLLHUP)) != 0 && !c.half[side].eof) {
      ok = read_side(c, side) && write_side(c, 1 - side);
    }
    if (ok && (events & EPOLLOUT) != 0) {
      ok = write_side(c, side);
    }
    // A hang-up on a side whose stream ended. When its write side was shut by us (all the
    // other side sent was delivered), the side is done: it leaves the epoll set, or its
    // level-triggered hang-up would spin the loop while its last bytes drain to the other
    // side. Otherwise the peer reset the connection.
    if (ok && (events & EPOLLHUP) != 0 && c.half[side].eof) {
      if (c.half[1 - side].shut) {
        (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd[side].get(), nullptr);
        c.parked[side] = true;
      } else {
        ok = false;
      }
    }
  }
  const bool done = c.half[0].shut && c.half[1].shut;
  if (!ok || done) {
    close_connection(id);
    return;
  }
  update_interest(c);
}

bool TcpForwarder::read_side(Connection& c, int side) {
  Half& h = c.half[side];
  if (h.buffer.empty()) {
    h.buffer.resize(options_.buffer_bytes);
  }
  if (h.start == h.end) {
    h.start = h.end = 0;
  }
  if (h.end == h.buffer.size()) {
    return true;  // full: the other side must drain it first
  }
  const ssize_t n = ::recv(c.fd[side].get(), h.buffer.data() + h.end, h.buffer.size() - h.end, 0);
  if (n > 0) {
    h.end += static_cast<std::size_t>(n);
    return true;
  }
  if (n == 0) {
    h.eof = true;
    return true;  // write_side() passes the end on once the buffer is empty
  }
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

bool TcpForwarder::write_side(Connection& c, int side) {
  Half& h = c.half[1 - side];
  if (h.end > h.start) {
    const ssize_t n =
        ::send(c.fd[side].get(), h.buffer.data() + h.start, h.end - h.start, MSG_NOSIGNAL);
    if (n < 0) {
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    h.start += static_cast<std::size_t>(n);
  }
  if (h.start == h.end && h.eof && !h.shut) {
    // Everything the other side sent was delivered: pass its end of stream on.
    (void)::shutdown(c.fd[side].get(), SHUT_WR);
    h.shut = true;
  }
  return true;
}

void TcpForwarder::update_interest(Connection& c) {
  for (int side = 0; side < 2; ++side) {
    std::uint32_t want = 0;
    if (c.connecting) {
      want = side == 1 ? static_cast<std::uint32_t>(EPOLLOUT) : 0U;
    } else {
      const Half& in = c.half[side];
      const Half& out = c.half[1 - side];
      if (!in.eof && (in.buffer.empty() || in.end < in.buffer.size() || in.start == in.end)) {
        want |= EPOLLIN;
      }
      if (out.end > out.start) {
        want |= EPOLLOUT;
      }
    }
    if (!c.parked[side] && want != c.interest[side]) {
      (void)epoll_set(epoll_.get(), EPOLL_CTL_MOD, c.fd[side].get(), want, side_token(c.id, side));
      c.interest[side] = want;
    }
  }
}

void TcpForwarder::sweep() {
  const auto now = SteadyClock::now();
  std::vector<std::uint64_t> expired;
  for (const auto& [id, c] : connections_) {
    if (c.connecting && now - c.started > options_.connect_timeout) {
      expired.push_back(id);
    }
  }
  for (auto id : expired) {
    BANGER_LOG_WARN("port forwarder: connecting to the guest timed out");
    close_connection(id);
  }
  for (auto& [id, listener] : listeners_) {
    if (listener.paused && now >= listener.paused_until) {
      listener.paused = false;
      (void)epoll_set(epoll_.get(), EPOLL_CTL_MOD, listener.fd.get(), EPOLLIN, listener_token(id));
    }
  }
}

}  // namespace banger::forward
