// A one-shot UDP DNS client: doctor's "does the listener answer like banger" probe, tests and
// the benchmark use it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/dns/codec.hpp"

namespace banger::dns {

struct QueryOptions {
  std::uint16_t qtype = kTypeA;
  bool rd = false;
  bool edns = false;
  std::chrono::milliseconds timeout{1000};
};

// Sends one query for `name` to `server` ("ip:port") and waits for the reply with the same id
// (other datagrams are skipped). Errors: invalid_argument for a bad server text or an
// unencodable name (`invalid dns name "a..b"`); unavailable `dns query to 127.0.0.1:5: connection
// refused` when ICMP says nobody listens; timeout `no dns reply from 127.0.0.1:5 within 1000 ms`;
// io for a reply that does not parse (`bad dns reply from ...: <reason>`) or socket errors.
Expected<Reply> query_udp(std::string_view server, std::string_view name,
                          const QueryOptions& options = {});

}  // namespace banger::dns
