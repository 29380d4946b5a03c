// FUZZ_SOURCES: src/banger/dns/codec.cpp
// Fuzzes the DNS codec: parse_query/parse_reply on arbitrary bytes, and every reply built from
// a query that parsed must itself parse as a reply with the same id and question.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "banger/dns/codec.hpp"

namespace {

void check(bool cond) {
  if (!cond) {
    std::abort();
  }
}

void check_reply(const banger::dns::Query& query, const std::vector<std::uint8_t>& bytes,
                 bool with_question) {
  auto parsed = banger::dns::parse_reply(bytes);
  check(parsed.ok);
  check(parsed.reply.id == query.id);
  check(parsed.reply.rd == query.rd);
  if (with_question) {
    check(parsed.reply.questions.size() == 1);
    check(parsed.reply.questions[0].labels == query.question.labels);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace banger::dns;
  std::span<const std::uint8_t> input(data, size);
  (void)parse_reply(input);
  ParsedQuery parsed = parse_query(input);
  switch (parsed.outcome) {
    case ParseOutcome::ignore:
      return 0;
    case ParseOutcome::format_error:
    case ParseOutcome::not_implemented:
      check(!parsed.reason.empty());
      check_reply(parsed.query, build_header_only_reply(parsed.query, Rcode::formerr), false);
      return 0;
    case ParseOutcome::ok:
      break;
  }
  const Query& q = parsed.query;
  auto vm = vm_name_of(q.question);
  std::optional<Ipv4Bytes> address;
  if (vm && !vm->empty() && size > 0 && (data[0] & 1) != 0) {
    address = Ipv4Bytes{10, 0, 0, static_cast<std::uint8_t>(size)};
  }
  auto reply = vm ? build_vm_reply(q, *vm, address) : build_empty_reply(q, Rcode::refused, false);
  check_reply(q, reply, true);
  auto a = build_a_reply(q, {1, 2, 3, 4});
  auto a_parsed = parse_reply(a);
  check(a_parsed.ok && a_parsed.reply.a_records.size() == 1);
  // The question re-encodes to a query that parses back to the same labels when encodable.
  if (auto again = build_query(q.id, q.question.name(), q.question.qtype, q.rd, q.has_edns)) {
    auto reparsed = parse_query(*again);
    check(reparsed.outcome == ParseOutcome::ok);
  }
  return 0;
}
