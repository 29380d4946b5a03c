// DnsServer: banger's UDP DNS server for `<vm>.vm` on its own thread (epoll). Authoritative
// mode answers .vm and refuses everything else (the host-side server on dns_listen); resolver
// mode answers .vm and forwards everything else to upstream servers (the guest-facing server
// on bridge_ip:53).
// Owns: its sockets and thread, and the forwards in flight. Does not own: the RecordTable.
// Thread-safety: start()/stop() from one thread; port() and stats() from any; address() from
// any thread once start() has returned.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/random.hpp"
#include "banger/dns/endpoint.hpp"
#include "banger/dns/forwarder.hpp"
#include "banger/dns/records.hpp"

namespace banger::dns {

enum class Mode {
  authoritative,  // .vm answered; anything else REFUSED
  resolver,       // .vm answered; anything else forwarded to the upstreams
};

struct DnsServerOptions {
  std::string listen = "127.0.0.1:42069";  // "ip:port"; port 0 picks a free port
  Mode mode = Mode::authoritative;
  // Resolver mode: "ip" or "ip:port", tried in order (see discover_upstreams()). The server's
  // own address is dropped. With none left, names outside .vm are REFUSED.
  std::vector<std::string> upstreams;
  // How long one upstream gets before the next is tried (or the client gets SERVFAIL).
  std::chrono::milliseconds forward_timeout{2000};
  // Which sources are answered and forwarded for (Forwarder's policy; default: all).
  ClientPolicy clients;
};

class DnsServer {
 public:
  DnsServer(const RecordTable& records, DnsServerOptions options);
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;
  // Stops the server (as stop()).
  ~DnsServer();

  // Binds the listen address and starts the thread. Errors (nothing is left running):
  // invalid_argument naming a bad listen or upstream text (see parse_listen_address(),
  // parse_upstream()); failed_precondition `dns server already started`; unavailable
  // `dns listen 127.0.0.1:42069: address already in use` (sys_errno EADDRINUSE) or `...: cannot
  // assign requested address` (EADDRNOTAVAIL: the IP is not on this host, e.g. no bridge yet);
  // permission_denied `dns listen 0.0.0.0:53: permission denied` (a port below 1024 without
  // CAP_NET_BIND_SERVICE); io for other socket errors.
  Status start();
  // Stops the thread and closes the sockets; pending forwards are dropped. Idempotent; the
  // server can be started again.
  void stop();
  // The bound port (the real one when started with port 0); 0 when not started.
  std::uint16_t port() const { return port_.load(); }
  // The bound "ip:port"; "" when not started.
  std::string address() const;
  DnsServerStats stats() const;

 private:
  // The epoll loop: datagrams in, Forwarder decides, datagrams out; returns on stop().
  void run();

  const RecordTable& records_;
  DnsServerOptions options_;
  Endpoint bound_{};
  std::vector<Endpoint> upstreams_;
  base::UniqueFd listen_fd_;
  base::UniqueFd upstream_fd_;
  base::UniqueFd wake_fd_;
  base::UniqueFd epoll_fd_;
  std::thread thread_;
  std::atomic<std::uint16_t> port_{0};
  base::SystemClock clock_;
  base::Mt19937Random random_;  // ids of forwarded queries: unpredictable, against spoofing
  DnsCounters counters_;
};

}  // namespace banger::dns
