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
  Forwarder make(std::vector<Endpoint> upstreams, ClientPolicy policy = {}) {
    return Forwarder(records_, std::move(upstreams), 2000ms, clock_, random_, counters_, policy);
  }
  // The guest resolver's policy: clients in 172.16.0.0/24, forwarding for nat_ only.
  ClientPolicy guest_policy(std::size_t per_client = kDefaultMaxPendingPerClient) {
    return {.network = *parse_client_network("172.16.0.1/24"),
            .forwarding = &nat_,
            .max_pending_per_client = per_client};
  }
  ForwardingClients nat_;
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

const Endpoint kNatGuest{{172, 16, 0, 2}, 40000};
const Endpoint kPlainGuest{{172, 16, 0, 3}, 40001};

// Regression for M7 (security review, item 4): the guest resolver forwards names outside .vm
// only for guests with NAT (no DNS tunnel out for the others; they still get .vm answers) and
// answers nobody outside the VM network. Fails on 8f38f5a: its Forwarder took no policy and
// forwarded every name for every source (checked by running this test with the policy checks
// in Forwarder::on_query removed: the plain guest's query was forwarded, the outsider answered).
TEST_F(ForwarderTest, ForwardsOnlyForNatGuestsAndServesOnlyTheVmNetwork) {
  ASSERT_TRUE(records_.set("web", "172.16.0.9"));
  ASSERT_TRUE(nat_.set("172.16.0.2", true));
  auto forwarder = make({kFirst}, guest_policy());
  // Control: the NAT guest's query goes upstream.
  auto sent = forwarder.on_query(query(7, "example.com"), kNatGuest);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].to_upstream);
  // The guest without NAT: REFUSED, nothing sent upstream; .vm names still answered.
  auto refused = forwarder.on_query(query(8, "exfil.attacker.example"), kPlainGuest);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_FALSE(refused[0].to_upstream);
  EXPECT_EQ(refused[0].to, kPlainGuest);
  EXPECT_EQ(rcode_of(refused[0]), Rcode::refused);
  auto vm = forwarder.on_query(query(9, "web.vm"), kPlainGuest);
  ASSERT_EQ(vm.size(), 1u);
  EXPECT_EQ(parse_reply(vm[0].bytes).reply.a_records.size(), 1u);
  // A source outside the VM network gets nothing at all (not even REFUSED: no reflection).
  EXPECT_TRUE(forwarder.on_query(query(10, "web.vm"), Endpoint{{192, 0, 2, 7}, 53}).empty());
  EXPECT_TRUE(forwarder.on_query(query(11, "example.com"), kClient).empty());
  EXPECT_EQ(counters_.forwarded, 1u);
  EXPECT_EQ(counters_.refused, 1u);
  EXPECT_EQ(counters_.ignored, 2u);
  // Losing NAT takes forwarding away at once.
  ASSERT_TRUE(nat_.set("172.16.0.2", false));
  auto after = forwarder.on_query(query(12, "example.com"), kNatGuest);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(rcode_of(after[0]), Rcode::refused);
}

// Regression for L8 (security review): one guest keeping forwards in flight (a black-holed
// domain) hits its own limit and gets SERVFAIL, while another guest's queries still go out;
// finished forwards free the slot. Fails on 8f38f5a: there the only limit was the shared
// kMaxPending (checked by running this test with the per-client check removed from
// Forwarder::on_query: the flooding guest's 3rd query was forwarded).
TEST_F(ForwarderTest, LimitsForwardsInFlightPerClient) {
  ASSERT_TRUE(nat_.set("172.16.0.2", true));
  ASSERT_TRUE(nat_.set("172.16.0.3", true));
  auto forwarder = make({kFirst}, guest_policy(/*per_client=*/2));
  auto first = forwarder.on_query(query(1, "a.blackhole.example"), kNatGuest);
  auto second = forwarder.on_query(query(2, "b.blackhole.example"), kNatGuest);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(first[0].to_upstream && second[0].to_upstream);
  auto third = forwarder.on_query(query(3, "c.blackhole.example"), kNatGuest);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_FALSE(third[0].to_upstream);
  EXPECT_EQ(rcode_of(third[0]), Rcode::servfail);
  // The other guest is not affected.
  auto other = forwarder.on_query(query(4, "example.com"), kPlainGuest);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_TRUE(other[0].to_upstream);
  // A relayed reply frees one slot; an expired forward frees the other.
  ASSERT_EQ(forwarder.on_reply(reply_to(first[0].bytes, Rcode::noerror), kFirst).size(), 1u);
  auto again = forwarder.on_query(query(5, "d.blackhole.example"), kNatGuest);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].to_upstream);
  clock_.advance(2000ms);
  EXPECT_EQ(forwarder.on_tick().size(), 3u);  // SERVFAIL to both guests' expired forwards
  EXPECT_FALSE(forwarder.next_deadline());
  auto later = forwarder.on_query(query(6, "e.blackhole.example"), kNatGuest);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_TRUE(later[0].to_upstream);
}

}  // namespace
}  // namespace banger::dns
