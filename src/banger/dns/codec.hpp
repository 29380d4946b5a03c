// DNS wire codec for banger's `.vm` zone: parse one-question queries, build the few replies the
// server sends, and read replies (doctor probes, tests). Standard library only: it is fuzzed
// standalone (fuzz/dns_codec_fuzz.cpp), so no banger::Error here; failures carry a reason string.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace banger::dns {

// Response codes we send or read (RFC 1035 4.1.1).
enum class Rcode : std::uint8_t {
  noerror = 0,
  formerr = 1,   // the header was readable, the rest was not
  servfail = 2,  // forwarding failed (every upstream timed out or failed)
  nxdomain = 3,  // a name under .vm that no VM has
  notimp = 4,    // an opcode other than QUERY
  refused = 5,   // a name outside .vm (authoritative mode, or resolver without upstreams)
};

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypeOpt = 41;
inline constexpr std::uint16_t kTypeAny = 255;
inline constexpr std::uint16_t kClassIn = 1;
inline constexpr std::uint16_t kClassAny = 255;
inline constexpr std::uint32_t kAnswerTtlSeconds = 5;
inline constexpr std::size_t kHeaderSize = 12;
// The UDP payload size we advertise in our OPT record (the DNS flag day 2020 value).
inline constexpr std::uint16_t kEdnsUdpSize = 1232;

using Ipv4Bytes = std::array<std::uint8_t, 4>;

// Parses dotted-quad text ("172.16.0.2"; four decimal parts 0-255). nullopt otherwise.
std::optional<Ipv4Bytes> parse_ipv4(std::string_view text);
// "172.16.0.2".
std::string format_ipv4(const Ipv4Bytes& ip);

struct Question {
  std::vector<std::string> labels;  // as sent (case kept), without the root label
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;

  // Dotted name without the trailing dot ("Web.vm"; "" for the root).
  std::string name() const;
};

struct Query {
  std::uint16_t id = 0;
  std::uint8_t opcode = 0;
  bool rd = false;  // recursion desired, echoed in the reply
  Question question;
  bool has_edns = false;  // an OPT record was in the additional section
  std::uint16_t edns_udp_size = 0;
};

enum class ParseOutcome {
  ok,              // `query` is complete
  ignore,          // shorter than a header, or a response: send nothing
  format_error,    // header readable, rest malformed: reply FORMERR (build_header_only_reply)
  not_implemented  // opcode other than QUERY: reply NOTIMP (build_header_only_reply)
};

struct ParsedQuery {
  ParseOutcome outcome = ParseOutcome::ignore;
  std::string reason;  // why it is not ok ("label of 64 bytes at offset 12: at most 63")
  Query query;         // id, opcode and rd are set whenever the header was readable
};

// Parses a query: a 12-byte header, QR clear, opcode QUERY, exactly one question (no
// compression pointers), no answer or authority records, and at most one additional record
// which must be an EDNS OPT with owner name root. Nothing after it.
ParsedQuery parse_query(std::span<const std::uint8_t> message);

// A reply with the question echoed as sent, one A record (name is a compression pointer to
// the question, class IN, TTL kAnswerTtlSeconds), QR and AA set, RD echoed, NOERROR.
std::vector<std::uint8_t> build_a_reply(const Query& query, const Ipv4Bytes& address);

// A reply with the question echoed and no answer: NXDOMAIN, NOERROR (empty), REFUSED or
// SERVFAIL. `authoritative` sets AA.
std::vector<std::uint8_t> build_empty_reply(const Query& query, Rcode rcode, bool authoritative);

// A header-only reply (no question) for FORMERR and NOTIMP: id, opcode and RD echoed, QR set.
std::vector<std::uint8_t> build_header_only_reply(const Query& query, Rcode rcode);

// How banger answers a query for a name under .vm, given the address of the VM it names
// (nullopt: no such VM). `vm_name` is the lower-cased name without ".vm" ("" for the zone
// apex "vm" itself). A/ANY of a known name -> A reply; other types of a known name or the
// apex -> empty NOERROR; unknown name -> NXDOMAIN; class other than IN/ANY -> REFUSED.
std::vector<std::uint8_t> build_vm_reply(const Query& query, std::string_view vm_name,
                                         const std::optional<Ipv4Bytes>& address);

// When the question is `<x>.vm` or `vm` (any case), the lower-cased `<x>` ("" for the
// apex); nullopt for names outside the .vm zone.
std::optional<std::string> vm_name_of(const Question& question);

// Builds a standard query (RD as given, EDNS OPT when `edns`) for a dotted name. nullopt when
// the name is not encodable (empty label, label over 63 bytes, name over 255 bytes).
std::optional<std::vector<std::uint8_t>> build_query(std::uint16_t id, std::string_view name,
                                                     std::uint16_t qtype, bool rd, bool edns);

struct Reply {
  std::uint16_t id = 0;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  Rcode rcode = Rcode::noerror;  // the low 4 bits (extended rcodes are not combined)
  std::uint8_t rcode_bits = 0;   // the raw 4-bit value, for rcodes outside the enum
  std::vector<Question> questions;
  std::vector<Ipv4Bytes> a_records;  // addresses of every A record in the answer section
  std::uint16_t answer_count = 0;
};

struct ParsedReply {
  bool ok = false;
  std::string reason;  // why it is not ok
  Reply reply;
};

// Parses a reply (QR set): header, questions and answers (compression pointers followed,
// loops rejected); authority and additional sections are skipped unread.
ParsedReply parse_reply(std::span<const std::uint8_t> message);

// Reads the 16-bit id of a message; nullopt when shorter than 2 bytes.
std::optional<std::uint16_t> message_id(std::span<const std::uint8_t> message);
// Overwrites the id of a message in place (no-op when shorter than 2 bytes).
void set_message_id(std::span<std::uint8_t> message, std::uint16_t id);

}  // namespace banger::dns
