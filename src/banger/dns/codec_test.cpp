#include "banger/dns/codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace banger::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// "web.vm" in wire form.
const Bytes kWebVm = {3, 'w', 'e', 'b', 2, 'v', 'm', 0};
// id 0x1234, RD, one question.
const Bytes kQueryHeader = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
const Bytes kTypeAClassIn = {0, 1, 0, 1};
// OPT for the root: udp size 4096, no options.
const Bytes kOpt = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0};

Query parse_ok(const Bytes& bytes) {
  auto parsed = parse_query(bytes);
  EXPECT_EQ(parsed.outcome, ParseOutcome::ok) << parsed.reason;
  return parsed.query;
}

TEST(Codec, ParsesHandMadeQuery) {
  Query q = parse_ok(concat({kQueryHeader, kWebVm, kTypeAClassIn}));
  EXPECT_EQ(q.id, 0x1234);
  EXPECT_EQ(q.opcode, 0);
  EXPECT_TRUE(q.rd);
  EXPECT_EQ(q.question.labels, (std::vector<std::string>{"web", "vm"}));
  EXPECT_EQ(q.question.name(), "web.vm");
  EXPECT_EQ(q.question.qtype, kTypeA);
  EXPECT_EQ(q.question.qclass, kClassIn);
  EXPECT_FALSE(q.has_edns);
}

TEST(Codec, AReplyHasExactBytes) {
  Query q = parse_ok(concat({kQueryHeader, kWebVm, kTypeAClassIn}));
  Bytes expected = concat({{0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0},
                           kWebVm,
                           kTypeAClassIn,
                           {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 172, 16, 0, 2}});
  EXPECT_EQ(build_vm_reply(q, "web", Ipv4Bytes{172, 16, 0, 2}), expected);
  EXPECT_EQ(build_a_reply(q, {172, 16, 0, 2}), expected);
}

TEST(Codec, UnknownVmNameIsNxdomainWithAaAndQuestionEchoedAsSent) {
  const Bytes name = {4, 'N', 'o', 'p', 'e', 2, 'V', 'M', 0};
  Query q = parse_ok(concat({kQueryHeader, name, kTypeAClassIn}));
  auto vm = vm_name_of(q.question);
  ASSERT_TRUE(vm);
  EXPECT_EQ(*vm, "nope");
  EXPECT_EQ(build_vm_reply(q, *vm, std::nullopt),
            concat({{0x12, 0x34, 0x85, 0x03, 0, 1, 0, 0, 0, 0, 0, 0}, name, kTypeAClassIn}));
}

TEST(Codec, OtherTypesOfAKnownNameAreEmptyNoerrorWithAa) {
  const Bytes aaaa = {0, 28, 0, 1};
  Query q = parse_ok(concat({kQueryHeader, kWebVm, aaaa}));
  EXPECT_EQ(build_vm_reply(q, "web", Ipv4Bytes{172, 16, 0, 2}),
            concat({{0x12, 0x34, 0x85, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, kWebVm, aaaa}));
}

TEST(Codec, ZoneApexIsEmptyNoerrorWithAa) {
  const Bytes apex = {2, 'v', 'm', 0};
  Query q = parse_ok(concat({kQueryHeader, apex, kTypeAClassIn}));
  auto vm = vm_name_of(q.question);
  ASSERT_TRUE(vm);
  EXPECT_EQ(*vm, "");
  EXPECT_EQ(build_vm_reply(q, *vm, std::nullopt),
            concat({{0x12, 0x34, 0x85, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, apex, kTypeAClassIn}));
}

TEST(Codec, NamesOutsideVmAreRefusedWithoutAa) {
  const Bytes example = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
  Query q = parse_ok(concat({kQueryHeader, example, kTypeAClassIn}));
  EXPECT_FALSE(vm_name_of(q.question));
  EXPECT_EQ(build_empty_reply(q, Rcode::refused, false),
            concat({{0x12, 0x34, 0x81, 0x05, 0, 1, 0, 0, 0, 0, 0, 0}, example, kTypeAClassIn}));
  // "vmx" and "vm.com" are not the zone either.
  Query vmx = parse_ok(concat({kQueryHeader, {1, 'a', 3, 'v', 'm', 'x', 0}, kTypeAClassIn}));
  EXPECT_FALSE(vm_name_of(vmx.question));
  Query vmcom = parse_ok(concat({kQueryHeader, {2, 'v', 'm', 3, 'c', 'o', 'm', 0}, kTypeAClassIn}));
  EXPECT_FALSE(vm_name_of(vmcom.question));
}

TEST(Codec, ChaosClassUnderVmIsRefused) {
  Query q = parse_ok(concat({kQueryHeader, kWebVm, {0, 16, 0, 3}}));
  EXPECT_EQ(build_vm_reply(q, "web", Ipv4Bytes{1, 2, 3, 4}),
            concat({{0x12, 0x34, 0x81, 0x05, 0, 1, 0, 0, 0, 0, 0, 0}, kWebVm, {0, 16, 0, 3}}));
}

TEST(Codec, NonRdQueryGetsNoRdAndAnyGetsTheARecord) {
  Bytes header = kQueryHeader;
  header[2] = 0;
  Query q = parse_ok(concat({header, kWebVm, {0, 255, 0, 1}}));
  EXPECT_FALSE(q.rd);
  Bytes reply = build_vm_reply(q, "web", Ipv4Bytes{10, 0, 0, 9});
  EXPECT_EQ(reply[2], 0x84);
  EXPECT_EQ(Bytes(reply.end() - 4, reply.end()), (Bytes{10, 0, 0, 9}));
}

TEST(Codec, EdnsOptIsToleratedAndAnsweredWithOurOpt) {
  Bytes header = kQueryHeader;
  header[11] = 1;
  Query q = parse_ok(concat({header, kWebVm, kTypeAClassIn, kOpt}));
  EXPECT_TRUE(q.has_edns);
  EXPECT_EQ(q.edns_udp_size, 4096);
  EXPECT_EQ(build_vm_reply(q, "web", std::nullopt),
            concat({{0x12, 0x34, 0x85, 0x03, 0, 1, 0, 0, 0, 0, 0, 1},
                    kWebVm,
                    kTypeAClassIn,
                    {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}}));
  // An option (a cookie, as dig sends) inside the OPT is fine too.
  Bytes with_cookie =
      concat({header, kWebVm, kTypeAClassIn, {0,  0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0,
                                              10, 0, 8,  1,    2, 3, 4, 5, 6, 7, 8}});
  EXPECT_TRUE(parse_ok(with_cookie).has_edns);
}

TEST(Codec, FormerrWhenTheHeaderIsReadableButTheRestIsNot) {
  Bytes header = kQueryHeader;
  header[5] = 2;  // two questions
  auto parsed = parse_query(concat({header, kWebVm, kTypeAClassIn, kWebVm, kTypeAClassIn}));
  EXPECT_EQ(parsed.outcome, ParseOutcome::format_error);
  EXPECT_EQ(parsed.reason, "question count 2: want 1");
  EXPECT_EQ(build_header_only_reply(parsed.query, Rcode::formerr),
            (Bytes{0x12, 0x34, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Codec, NotimpForOpcodesOtherThanQuery) {
  Bytes header = kQueryHeader;
  header[2] = 0x10 | 0x01;  // opcode 2 (status), RD
  auto parsed = parse_query(concat({header, kWebVm, kTypeAClassIn}));
  EXPECT_EQ(parsed.outcome, ParseOutcome::not_implemented);
  EXPECT_EQ(parsed.reason, "opcode 2 is not implemented (only 0, query)");
  EXPECT_EQ(build_header_only_reply(parsed.query, Rcode::notimp),
            (Bytes{0x12, 0x34, 0x91, 0x04, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Codec, IgnoresShortMessagesAndResponses) {
  auto short_message = parse_query(Bytes{0x12, 0x34, 0x01});
  EXPECT_EQ(short_message.outcome, ParseOutcome::ignore);
  EXPECT_EQ(short_message.reason, "message of 3 bytes is shorter than the 12-byte header");
  Bytes header = kQueryHeader;
  header[2] |= 0x80;
  auto response = parse_query(concat({header, kWebVm, kTypeAClassIn}));
  EXPECT_EQ(response.outcome, ParseOutcome::ignore);
  EXPECT_EQ(response.reason, "message is a response (qr set)");
}

TEST(Codec, RejectsMalformedBodiesWithAReason) {
  Bytes one_additional = kQueryHeader;
  one_additional[11] = 1;
  Bytes with_answer = kQueryHeader;
  with_answer[7] = 1;
  Bytes three_additional = kQueryHeader;
  three_additional[11] = 3;
  Bytes long_name;
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'a');
  }
  long_name.push_back(0);
  struct Case {
    Bytes message;
    std::string reason;
  };
  std::vector<Case> cases = {
      {concat({kQueryHeader, {0xc0, 0x0c}, kTypeAClassIn}),
       "compression pointer in the question at offset 12: not allowed in a query"},
      {concat({kQueryHeader, {0x40, 'a', 0}, kTypeAClassIn}), "reserved label type at offset 12"},
      {concat({kQueryHeader, {5, 'w', 'e'}}), "label truncated at offset 12"},
      {concat({kQueryHeader, {3, 'w', 'e', 'b'}}), "name truncated at offset 16"},
      {concat({kQueryHeader, kWebVm, {0, 1}}), "question truncated at offset 22"},
      {concat({kQueryHeader, long_name, kTypeAClassIn}),
       "name longer than 255 bytes at offset 204"},
      {concat({kQueryHeader, kWebVm, kTypeAClassIn, {0}}), "1 trailing bytes at offset 24"},
      {concat({with_answer, kWebVm, kTypeAClassIn}),
       "query carries 1 answer and 0 authority records: want none"},
      {concat({three_additional, kWebVm, kTypeAClassIn}),
       "query carries 3 additional records: at most 1 (edns opt) is allowed"},
      {concat({one_additional, kWebVm, kTypeAClassIn, {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}}),
       "additional record at offset 24 is not an edns opt record for the root"},
      {concat({one_additional, kWebVm, kTypeAClassIn, {0, 0, 41}}),
       "additional record truncated at offset 24"},
      {concat({one_additional, kWebVm, kTypeAClassIn, {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 5}}),
       "opt record data truncated at offset 24"},
      {concat({one_additional,
               kWebVm,
               kTypeAClassIn,
               {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 5, 0, 10, 0, 8, 1}}),
       "edns option at offset 35 overruns the opt record"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_query(c.message);
    EXPECT_EQ(parsed.outcome, ParseOutcome::format_error) << c.reason;
    EXPECT_EQ(parsed.reason, c.reason);
    EXPECT_EQ(parsed.query.id, 0x1234);
  }
}

TEST(Codec, BuildQueryRoundTripsThroughParseQuery) {
  auto bytes = build_query(0xbeef, "Calm-Otter.vm.", kTypeAaaa, true, true);
  ASSERT_TRUE(bytes);
  Query q = parse_ok(*bytes);
  EXPECT_EQ(q.id, 0xbeef);
  EXPECT_EQ(q.question.name(), "Calm-Otter.vm");
  EXPECT_EQ(q.question.qtype, kTypeAaaa);
  EXPECT_TRUE(q.has_edns);
  EXPECT_EQ(q.edns_udp_size, kEdnsUdpSize);
  EXPECT_FALSE(build_query(1, "a..vm", kTypeA, false, false));
  EXPECT_FALSE(build_query(1, std::string(64, 'a') + ".vm", kTypeA, false, false));
  EXPECT_FALSE(build_query(1, "a.vm..", kTypeA, false, false));
}

TEST(Codec, ParseReplyReadsFlagsAndFollowsThePointer) {
  Query q = parse_ok(concat({kQueryHeader, kWebVm, kTypeAClassIn}));
  auto parsed = parse_reply(build_a_reply(q, {172, 16, 0, 2}));
  ASSERT_TRUE(parsed.ok) << parsed.reason;
  EXPECT_EQ(parsed.reply.id, 0x1234);
  EXPECT_TRUE(parsed.reply.aa);
  EXPECT_TRUE(parsed.reply.rd);
  EXPECT_FALSE(parsed.reply.ra);
  EXPECT_EQ(parsed.reply.rcode, Rcode::noerror);
  ASSERT_EQ(parsed.reply.questions.size(), 1u);
  EXPECT_EQ(parsed.reply.questions[0].name(), "web.vm");
  EXPECT_EQ(parsed.reply.a_records, (std::vector<Ipv4Bytes>{{172, 16, 0, 2}}));
}

TEST(Codec, ParseReplyRejectsForwardAndSelfPointers) {
  Bytes header = {0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  auto self = parse_reply(concat({header, {0xc0, 12}, kTypeAClassIn}));
  EXPECT_FALSE(self.ok);
  EXPECT_EQ(self.reason, "compression pointer at offset 12 does not point backwards");
  auto query = parse_reply(concat({kQueryHeader, kWebVm, kTypeAClassIn}));
  EXPECT_EQ(query.reason, "message is a query (qr clear)");
}

TEST(Codec, ParsesAndFormatsIpv4) {
  EXPECT_EQ(parse_ipv4("172.16.0.2"), (Ipv4Bytes{172, 16, 0, 2}));
  EXPECT_EQ(parse_ipv4("0.0.0.0"), (Ipv4Bytes{0, 0, 0, 0}));
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.", "1.2.3.256", "a.b.c.d", "1..2.3", "1.2.3.4 ", "0001.2.3.4"}) {
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
  }
  EXPECT_EQ(format_ipv4({10, 0, 0, 255}), "10.0.0.255");
}

TEST(Codec, MessageIdReadsAndWrites) {
  Bytes m = {0x12, 0x34, 0};
  EXPECT_EQ(message_id(m), 0x1234);
  set_message_id(m, 0xabcd);
  EXPECT_EQ(m, (Bytes{0xab, 0xcd, 0}));
  EXPECT_FALSE(message_id(Bytes{1}));
}

}  // namespace
}  // namespace banger::dns
