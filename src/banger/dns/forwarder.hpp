// Forwarder: what DnsServer does with each datagram, as a state machine without sockets,
// threads or real time: it answers .vm names, refuses or forwards the rest, retries the next
// upstream on SERVFAIL or timeout, and answers SERVFAIL when every upstream failed. Each call
// returns the datagrams to send; DnsServer's epoll loop does the I/O.
// Owns: the forwards in flight. Does not own: the RecordTable, the clock, the random source,
// the counters. Thread-safety: none; one thread (the server's) calls it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "banger/base/clock.hpp"
#include "banger/base/random.hpp"
#include "banger/dns/client_policy.hpp"
#include "banger/dns/codec.hpp"
#include "banger/dns/endpoint.hpp"
#include "banger/dns/records.hpp"

namespace banger::dns {

// Counters since start(), for tests, benchmarks and logs.
struct DnsServerStats {
  std::uint64_t queries = 0;           // datagrams received on the listen socket
  std::uint64_t ignored = 0;           // not answered: short, a response, or (policy) a source
                                       // outside the client network
  std::uint64_t malformed = 0;         // answered FORMERR or NOTIMP
  std::uint64_t vm_answers = 0;        // answered from the records (A, NXDOMAIN, empty NOERROR)
  std::uint64_t refused = 0;           // REFUSED outside .vm (no upstreams, or a client the
                                       // policy does not forward for)
  std::uint64_t forwarded = 0;         // sent to an upstream (retries included)
  std::uint64_t relayed = 0;           // upstream replies relayed to clients
  std::uint64_t forward_timeouts = 0;  // upstream attempts that timed out
  std::uint64_t servfail = 0;          // clients answered SERVFAIL after every upstream failed
};

// DnsServerStats as atomics: written by the server thread, read from any.
struct DnsCounters {
  std::atomic<std::uint64_t> queries{0}, ignored{0}, malformed{0}, vm_answers{0}, refused{0},
      forwarded{0}, relayed{0}, forward_timeouts{0}, servfail{0};
  DnsServerStats snapshot() const;
  void reset();
};

// One datagram to send: to a client through the listen socket, or to an upstream through the
// upstream socket.
struct Datagram {
  Endpoint to;
  std::vector<std::uint8_t> bytes;
  bool to_upstream = false;
  friend bool operator==(const Datagram&, const Datagram&) = default;
};

class Forwarder {
 public:
  // upstreams are tried in order; with none, names outside .vm are REFUSED. Each attempt gets
  // forward_timeout (by clock.steady_now()); random picks the ids of forwarded queries. policy
  // says which sources are served and which get forwarding (default: all of them).
  Forwarder(const RecordTable& records, std::vector<Endpoint> upstreams,
            std::chrono::milliseconds forward_timeout, base::Clock& clock, base::Random& random,
            DnsCounters& counters, ClientPolicy policy = {});

  // A datagram from a client. Returns nothing (ignored: short, a response, or a source outside
  // the policy's network), FORMERR/NOTIMP, the .vm answer, REFUSED (no upstreams, or a source
  // the policy does not forward for), SERVFAIL (too many forwards in flight in all, or from
  // this source address), or the query forwarded to the first upstream under a fresh random id.
  std::vector<Datagram> on_query(std::span<const std::uint8_t> message, const Endpoint& from);
  // A datagram from an upstream. Replies to a forward in flight from the upstream it was sent
  // to are relayed to the client with the client's id; a SERVFAIL moves on to the next upstream
  // instead, while there is one. Anything else (late, duplicate, spoofed) returns nothing.
  std::vector<Datagram> on_reply(std::span<const std::uint8_t> message, const Endpoint& from);
  // Forwards whose attempt timed out go to the next upstream, or get SERVFAIL after the last.
  std::vector<Datagram> on_tick();
  // When on_tick() next has work; nullopt with nothing in flight.
  std::optional<std::chrono::steady_clock::time_point> next_deadline() const;

 private:
  struct Pending {
    Endpoint client;
    std::uint16_t client_id = 0;
    Query query;                          // to build SERVFAIL
    std::vector<std::uint8_t> forwarded;  // the client's bytes with our id
    std::size_t upstream = 0;             // index of the upstream being tried
    std::chrono::steady_clock::time_point deadline;
  };
  Datagram forward(Pending& p);
  std::uint16_t fresh_id();
  // Drops a finished forward and its client's share of the in-flight count.
  void finish(std::map<std::uint16_t, Pending>::iterator it);

  const RecordTable& records_;
  std::vector<Endpoint> upstreams_;
  std::chrono::milliseconds forward_timeout_;
  base::Clock& clock_;
  base::Random& random_;
  DnsCounters& counters_;
  ClientPolicy policy_;
  std::map<std::uint16_t, Pending> pending_;
  std::map<Ipv4Bytes, std::size_t> pending_by_client_;  // in-flight forwards per source address
};

}  // namespace banger::dns
