#include "banger/dns/forwarder.hpp"

#include <iterator>
#include <utility>

#include "banger/base/log.hpp"

namespace banger::dns {
namespace {

// More forwards in flight than this get SERVFAIL at once (bounded memory under a flood).
constexpr std::size_t kMaxPending = 4096;

Datagram to_client(const Endpoint& client, std::vector<std::uint8_t> bytes) {
  return Datagram{.to = client, .bytes = std::move(bytes), .to_upstream = false};
}

}  // namespace

DnsServerStats DnsCounters::snapshot() const {
  return DnsServerStats{.queries = queries,
                        .ignored = ignored,
                        .malformed = malformed,
                        .vm_answers = vm_answers,
                        .refused = refused,
                        .forwarded = forwarded,
                        .relayed = relayed,
                        .forward_timeouts = forward_timeouts,
                        .servfail = servfail};
}

void DnsCounters::reset() {
  queries = ignored = malformed = vm_answers = refused = 0;
  forwarded = relayed = forward_timeouts = servfail = 0;
}

Forwarder::Forwarder(const RecordTable& records, std::vector<Endpoint> upstreams,
                     std::chrono::milliseconds forward_timeout, base::Clock& clock,
                     base::Random& random, DnsCounters& counters, ClientPolicy policy)
    : records_(records),
      upstreams_(std::move(upstreams)),
      forward_timeout_(forward_timeout),
      clock_(clock),
      random_(random),
      counters_(counters),
      policy_(policy) {}

std::vector<Datagram> Forwarder::on_query(std::span<const std::uint8_t> message,
                                          const Endpoint& from) {
  ++counters_.queries;
  if (policy_.network && !policy_.network->contains(from.ip)) {
    // Not a guest: no reply at all, so the resolver cannot be used to reflect traffic.
    ++counters_.ignored;
    return {};
  }
  ParsedQuery parsed = parse_query(message);
  switch (parsed.outcome) {
    case ParseOutcome::ignore:
      ++counters_.ignored;
      return {};
    case ParseOutcome::format_error:
    case ParseOutcome::not_implemented:
      ++counters_.malformed;
      BANGER_LOG_DEBUG("dns: {} from {}", parsed.reason, from.to_string());
      return {to_client(
          from, build_header_only_reply(parsed.query, parsed.outcome == ParseOutcome::format_error
                                                          ? Rcode::formerr
                                                          : Rcode::notimp))};
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
    return {to_client(from, build_vm_reply(query, *vm, address))};
  }
  if (upstreams_.empty() ||
      (policy_.forwarding != nullptr && !policy_.forwarding->contains(from.ip))) {
    ++counters_.refused;
    return {to_client(from, build_empty_reply(query, Rcode::refused, false))};
  }
  std::size_t& in_flight = pending_by_client_[from.ip];
  if (pending_.size() >= kMaxPending || in_flight >= policy_.max_pending_per_client) {
    if (in_flight == 0) {
      pending_by_client_.erase(from.ip);
    }
    ++counters_.servfail;
    return {to_client(from, build_empty_reply(query, Rcode::servfail, false))};
  }
  std::uint16_t id = fresh_id();
  Pending p{.client = from,
            .client_id = query.id,
            .query = query,
            .forwarded = std::vector<std::uint8_t>(message.begin(), message.end()),
            .upstream = 0,
            .deadline = {}};
  set_message_id(p.forwarded, id);
  ++in_flight;
  return {forward(pending_.emplace(id, std::move(p)).first->second)};
}

std::vector<Datagram> Forwarder::on_reply(std::span<const std::uint8_t> message,
                                          const Endpoint& from) {
  auto id = message_id(message);
  if (!id || message.size() < kHeaderSize || (message[2] & 0x80) == 0) {
    return {};
  }
  auto it = pending_.find(*id);
  if (it == pending_.end() || from != upstreams_[it->second.upstream]) {
    return {};  // late, duplicate or spoofed
  }
  Pending& p = it->second;
  auto rcode = static_cast<Rcode>(message[3] & 0x0f);
  if (rcode == Rcode::servfail && p.upstream + 1 < upstreams_.size()) {
    ++p.upstream;
    return {forward(p)};
  }
  std::vector<std::uint8_t> reply(message.begin(), message.end());
  set_message_id(reply, p.client_id);
  // Counters move before the reply leaves, so a client that got it sees them updated.
  ++counters_.relayed;
  Datagram relayed = to_client(p.client, std::move(reply));
  finish(it);
  return {std::move(relayed)};
}

std::vector<Datagram> Forwarder::on_tick() {
  std::vector<Datagram> out;
  const auto now = clock_.steady_now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (p.deadline > now) {
      ++it;
      continue;
    }
    ++counters_.forward_timeouts;
    if (p.upstream + 1 < upstreams_.size()) {
      ++p.upstream;
      out.push_back(forward(p));
      ++it;
    } else {
      ++counters_.servfail;
      out.push_back(to_client(p.client, build_empty_reply(p.query, Rcode::servfail, false)));
      auto next = std::next(it);
      finish(it);
      it = next;
    }
  }
  return out;
}

std::optional<std::chrono::steady_clock::time_point> Forwarder::next_deadline() const {
  std::optional<std::chrono::steady_clock::time_point> earliest;
  for (const auto& [id, p] : pending_) {
    if (!earliest || p.deadline < *earliest) {
      earliest = p.deadline;
    }
  }
  return earliest;
}

Datagram Forwarder::forward(Pending& p) {
  p.deadline = clock_.steady_now() + forward_timeout_;
  ++counters_.forwarded;
  return Datagram{.to = upstreams_[p.upstream], .bytes = p.forwarded, .to_upstream = true};
}

void Forwarder::finish(std::map<std::uint16_t, Pending>::iterator it) {
  auto count = pending_by_client_.find(it->second.client.ip);
  if (count != pending_by_client_.end() && --count->second == 0) {
    pending_by_client_.erase(count);
  }
  pending_.erase(it);
}

// Ids of forwarded queries are random (unpredictable, against spoofing) and unique in flight.
std::uint16_t Forwarder::fresh_id() {
  std::uint16_t id = 0;
  do {
    id = static_cast<std::uint16_t>(random_.below(65536));
  } while (pending_.count(id) != 0);
  return id;
}

}  // namespace banger::dns
