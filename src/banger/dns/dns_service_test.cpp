#include "banger/dns/dns_service.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "banger/dns/client.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::dns {
namespace {

TEST(DnsService, TheListenerAnswersRecordsAsTheyComeAndGo) {
  testkit::FakeCommandRunner runner;
  DnsService service({.runner = runner, .listen = "127.0.0.1:0", .use_resolved = false});
  EXPECT_EQ(service.listener_address(), "");
  ASSERT_TRUE(service.start_listener());
  ASSERT_TRUE(service.start_listener());  // idempotent
  std::string server = service.listener_address();
  ASSERT_FALSE(server.empty());
  ASSERT_TRUE(service.set("web", "172.16.0.2"));
  auto found = query_udp(server, "web.vm");
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->a_records.size(), 1u);
  EXPECT_EQ(found->a_records[0], (Ipv4Bytes{172, 16, 0, 2}));
  EXPECT_TRUE(found->aa);
  service.remove("web");
  EXPECT_EQ(query_udp(server, "web.vm")->rcode, Rcode::nxdomain);
  ASSERT_TRUE(service.replace_all({{"a", "172.16.0.3"}, {"b", "172.16.0.4"}}));
  EXPECT_EQ(query_udp(server, "b.vm")->a_records, (std::vector<Ipv4Bytes>{{172, 16, 0, 4}}));
  service.stop();
  EXPECT_EQ(service.listener_address(), "");
}

TEST(DnsService, ABusyListenAddressIsUnavailable) {
  testkit::FakeCommandRunner runner;
  DnsService first({.runner = runner, .listen = "127.0.0.1:0", .use_resolved = false});
  ASSERT_TRUE(first.start_listener());
  DnsService second({.runner = runner, .listen = first.listener_address(), .use_resolved = false});
  auto started = second.start_listener();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, Errc::unavailable);
  EXPECT_EQ(started.error().message,
            "dns listen " + first.listener_address() + ": address already in use");
}

TEST(DnsService, TheGuestResolverAnswersVmNamesAndForwardsTheRest) {
  if (auto why = testkit::probe_root("bind port 53"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  testkit::FakeCommandRunner runner;
  // The "upstream": an authoritative listener that knows up.vm (names outside .vm would be
  // refused, so forwarding is checked with a .vm name the resolver itself does not have).
  DnsService upstream({.runner = runner, .listen = "127.0.0.1:0", .use_resolved = false});
  ASSERT_TRUE(upstream.start_listener());
  ASSERT_TRUE(upstream.set("up", "198.51.100.7"));
  DnsService service({.runner = runner,
                      .bridge_ip = "127.0.0.9",
                      .upstreams = {upstream.listener_address()},
                      .use_resolved = false});
  ASSERT_TRUE(service.set("web", "172.16.0.2"));
  auto started = service.ensure_guest_resolver();
  if (!started && started.error().code == Errc::unavailable) {
    GTEST_SKIP() << "127.0.0.9:53 is taken on this host: " << started.error().message;
  }
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(service.ensure_guest_resolver());  // idempotent
  EXPECT_EQ(service.resolver_address(), "127.0.0.9:53");
  EXPECT_EQ(query_udp("127.0.0.9:53", "web.vm")->a_records,
            (std::vector<Ipv4Bytes>{{172, 16, 0, 2}}));
  auto example = query_udp("127.0.0.9:53", "example.com", {.rd = true});
  ASSERT_TRUE(example) << example.error().message;
  EXPECT_EQ(example->rcode, Rcode::refused);  // the upstream's answer, relayed
  EXPECT_TRUE(runner.ran().empty());          // no resolvectl without use_resolved
}

}  // namespace
}  // namespace banger::dns
