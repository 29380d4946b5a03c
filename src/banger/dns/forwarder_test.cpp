#include "banger/dns/forwarder.hpp"

#include <gtest/gtest.h>

#include "banger/testkit/fake_clock.hpp"

namespace banger::dns {
namespace {

using namespace std::chrono_literals;

const Endpoint kClient{{127, 0, 0, 1}, 5353};
const Endpoint kFirst{{192, 0, 2, 1}, 53};
const Endpoint kSecond{{192, 0, 2, 2}, 53};

std::vector<std::uint8_t> query(std::uint16_t id, std::string_view name) {
  return *build_query(id, name, 1, true, false);
}

// The upstream's reply to a forwarded query: same bytes, QR set, the given rcode.
std::vector<std::uint8_t> reply_to(std::vector<std::uint8_t> forwarded, Rcode rcode) {
  forwarded[2] |= 0x80;
  forwarded[3] = static_cast<std::uint8_t>((forwarded[3] & 0xf0) | static_cast<int>(rcode));
  return forwarded;
}

Rcode rcode_of(const Datagram& d) { return parse_reply(d.bytes).reply.rcode; }

class ForwarderTest : public ::testing::Test {
 protected:
  Forwarder make(std::vector<Endpoint> upstreams) {
    return Forwarder(records_, std::move(upstreams), 2000ms, clock_, random_, counters_);
  }
  RecordTable records_;
  testkit::FakeClock clock_;
  base::Mt19937Random random_{42};
  DnsCounters counters_;
};

TEST_F(ForwarderTest, AnswersVmNamesFromTheRecords) {
  ASSERT_TRUE(records_.set("web", "172.16.0.2"));
  auto forwarder = make({kFirst});
  auto out = forwarder.on_query(query(7, "web.vm"), kClient);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].to_upstream);
  EXPECT_EQ(out[0].to, kClient);
  auto parsed = parse_reply(out[0].bytes);
  EXPECT_EQ(parsed.reply.id, 7);
  ASSERT_EQ(parsed.reply.a_records.size(), 1u);
  EXPECT_EQ(format_ipv4(parsed.reply.a_records[0]), "172.16.0.2");
  EXPECT_EQ(counters_.vm_answers, 1u);
}

TEST_F(ForwarderTest, RefusesOtherNamesWithoutUpstreams) {
  auto forwarder = make({});
  auto out = forwarder.on_query(query(7, "example.com"), kClient);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(rcode_of(out[0]), Rcode::refused);
  EXPECT_EQ(counters_.refused, 1u);
}

TEST_F(ForwarderTest, ForwardsUnderAFreshIdAndRelaysWithTheClientsId) {
  auto forwarder = make({kFirst, kSecond});
  auto sent = forwarder.on_query(query(7, "example.com"), kClient);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].to_upstream);
  EXPECT_EQ(sent[0].to, kFirst);
  const auto id = *message_id(sent[0].bytes);
  // A reply from the wrong upstream is ignored (spoofing); the right one is relayed.
  EXPECT_TRUE(forwarder.on_reply(reply_to(sent[0].bytes, Rcode::noerror), kSecond).empty());
  auto relayed = forwarder.on_reply(reply_to(sent[0].bytes, Rcode::noerror), kFirst);
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(relayed[0].to, kClient);
  EXPECT_EQ(*message_id(relayed[0].bytes), 7);
  EXPECT_EQ(rcode_of(relayed[0]), Rcode::noerror);
  // Late duplicate: nothing in flight under that id any more.
  auto late = reply_to(sent[0].bytes, Rcode::noerror);
  set_message_id(late, id);
  EXPECT_TRUE(forwarder.on_reply(late, kFirst).empty());
  EXPECT_FALSE(forwarder.next_deadline());
  EXPECT_EQ(counters_.forwarded, 1u);
  EXPECT_EQ(counters_.relayed, 1u);
}

TEST_F(ForwarderTest, ServfailFromOneUpstreamRetriesTheNext) {
  auto forwarder = make({kFirst, kSecond});
  auto sent = forwarder.on_query(query(7, "example.com"), kClient);
  ASSERT_EQ(sent.size(), 1u);
  auto retried = forwarder.on_reply(reply_to(sent[0].bytes, Rcode::servfail), kFirst);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].to, kSecond);
  EXPECT_EQ(retried[0].bytes, sent[0].bytes);
  // The last upstream's SERVFAIL is relayed as it is.
  auto relayed = forwarder.on_reply(reply_to(sent[0].bytes, Rcode::servfail), kSecond);
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(relayed[0].to, kClient);
  EXPECT_EQ(rcode_of(relayed[0]), Rcode::servfail);
}

TEST_F(ForwarderTest, TimeoutsMoveToTheNextUpstreamThenExpireWithServfail) {
  auto forwarder = make({kFirst, kSecond});
  auto sent = forwarder.on_query(query(7, "example.com"), kClient);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(forwarder.next_deadline(), clock_.steady_now() + 2000ms);
  clock_.advance(1999ms);
  EXPECT_TRUE(forwarder.on_tick().empty());
  clock_.advance(1ms);
  auto retried = forwarder.on_tick();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].to, kSecond);
  clock_.advance(2000ms);
  auto expired = forwarder.on_tick();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].to, kClient);
  EXPECT_EQ(*message_id(expired[0].bytes), 7);
  EXPECT_EQ(rcode_of(expired[0]), Rcode::servfail);
  EXPECT_FALSE(forwarder.next_deadline());
  EXPECT_EQ(counters_.forward_timeouts, 2u);
  EXPECT_EQ(counters_.servfail, 1u);
}

TEST_F(ForwarderTest, IgnoresResponsesAndShortDatagramsFromClients) {
  auto forwarder = make({kFirst});
  EXPECT_TRUE(forwarder.on_query(std::vector<std::uint8_t>{1, 2, 3}, kClient).empty());
  EXPECT_TRUE(
      forwarder.on_query(reply_to(query(7, "example.com"), Rcode::noerror), kClient).empty());
  EXPECT_EQ(counters_.ignored, 2u);
}

}  // namespace
}  // namespace banger::dns
