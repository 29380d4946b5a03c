#include "banger/hostnat/network_service.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "banger/testkit/fake_link_ops.hpp"

namespace banger::hostnat {
namespace {

using testkit::FakeLinkOps;
using Link = FakeLinkOps::Link;
using Names = std::vector<std::string>;

NetworkServiceDeps deps_for(FakeLinkOps& links, int pool_size = 2) {
  return NetworkServiceDeps{.links = links,
                            .bridge_name = "br-fc",
                            .bridge_ip = "172.16.0.1",
                            .cidr = 24,
                            .tap_pool_size = pool_size};
}

// Regression for M7 (security review): an attached TAP is an isolated bridge port, so the
// bridge forwards nothing between two guests even without nftables. Fails on 8f38f5a: attach
// there never set IFLA_BRPORT_ISOLATED (this expectation, with isolated = true, failed against
// attach() with the set_port_isolated call removed).
TEST(NetworkService, AttachBuildsBridgeTapAndLease) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  auto attachment = network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(attachment) << attachment.error().message;
  EXPECT_EQ(*attachment, (Attachment{.vm_id = "vm-a",
                                     .tap = "tap-fc-0",
                                     .ip = "172.16.0.2",
                                     .mac = "02:fc:ac:10:00:02",
                                     .gateway = "172.16.0.1",
                                     .netmask = "255.255.255.0",
                                     .prefix = 24}));
  EXPECT_EQ(links.links(),
            (std::map<std::string, Link>{
                {"br-fc", {.kind = "bridge", .up = true, .ipv4 = {"172.16.0.1/24"}}},
                {"tap-fc-0", {.kind = "tun", .up = true, .master = "br-fc", .isolated = true}}}));
  EXPECT_EQ(network.leases(), (std::vector<Lease>{{"vm-a", "172.16.0.2", "tap-fc-0"}}));
}

TEST(NetworkService, AttachGoesOnWithoutPortIsolationOnlyWhenTheKernelLacksIt) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  links.fail_next(
      FakeLinkOps::Op::set_port_isolated,
      Error{Errc::unavailable, "isolating bridge port tap-fc-0: not supported", 95, {}});
  ASSERT_TRUE(network.attach("vm-a", std::nullopt));  // nftables' bridge table still holds
  links.fail_next(FakeLinkOps::Op::set_port_isolated,
                  Error{Errc::io, "isolating bridge port tap-fc-1: Input/output error", 5, {}});
  auto failed = network.attach("vm-b", std::nullopt);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message,
            "attaching vm vm-b: isolating bridge port tap-fc-1: Input/output error");
  EXPECT_EQ(network.leases(), (std::vector<Lease>{{"vm-a", "172.16.0.2", "tap-fc-0"}}));
}

TEST(NetworkService, SecondVmGetsNextAddressAndTap) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  ASSERT_TRUE(network.attach("vm-a", std::nullopt));
  auto b = network.attach("vm-b", std::nullopt);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->tap, "tap-fc-1");
  EXPECT_EQ(b->ip, "172.16.0.3");
  EXPECT_EQ(b->mac, "02:fc:ac:10:00:03");
}

TEST(NetworkService, DetachReturnsTapToPoolAndKeepsTheAddress) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  auto a = *network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(network.detach(a));
  EXPECT_EQ(network.idle_taps(), Names{"tap-fc-0"});
  EXPECT_EQ(network.leases(), (std::vector<Lease>{{"vm-a", "172.16.0.2", ""}}));
  // Restart: same address, the pooled TAP again, nothing new created.
  auto again = network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, a);
  EXPECT_EQ(links.calls(FakeLinkOps::Op::create_tap), 1u);
}

// A jailed Firecracker opens its TAP as the VM's unprivileged id: the TAP is that id's while
// the VM runs, and root's again once it is back in the pool.
TEST(NetworkService, GiveTapLendsTheAttachedTapToAUidUntilDetach) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  auto a = *network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(network.give_tap(a.tap, 195035138));
  EXPECT_EQ(links.link(a.tap)->owner, std::optional<uid_t>(195035138));
  ASSERT_TRUE(network.detach(a));
  EXPECT_EQ(links.link(a.tap)->owner, std::nullopt);  // the pool's (the daemon's uid)
  EXPECT_EQ(network.idle_taps(), Names{"tap-fc-0"});

  auto idle = network.give_tap("tap-fc-0", 195035138);  // idle: not any VM's to lend
  ASSERT_FALSE(idle);
  EXPECT_EQ(idle.error().message, "tap tap-fc-0 is not attached to a vm");
  EXPECT_EQ(links.link("tap-fc-0")->owner, std::nullopt);

  // A TAP that was never lent is returned without touching its owner.
  auto b = *network.attach("vm-b", std::nullopt);
  ASSERT_TRUE(network.detach(b));
  EXPECT_EQ(links.calls(FakeLinkOps::Op::set_tap_owner), 2u);
}

TEST(NetworkService, ReleasedAddressGoesToTheNextVm) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  auto a = *network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(network.attach("vm-b", std::nullopt));
  ASSERT_TRUE(network.detach(a));
  ASSERT_TRUE(network.release_ip(a.ip));
  ASSERT_TRUE(network.release_ip(a.ip));  // idempotent
  auto c = network.attach("vm-c", std::nullopt);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ip, "172.16.0.2");
  EXPECT_EQ(network.release_ip("nope").error().code, Errc::invalid_argument);
}

TEST(NetworkService, AttachHonoursThePreferredAddress) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  auto a = network.attach("vm-a", "172.16.0.9");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->ip, "172.16.0.9");
  EXPECT_EQ(a->mac, "02:fc:ac:10:00:09");
  auto b = network.attach("vm-b", "172.16.0.9");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::already_exists);
  EXPECT_EQ(b.error().message,
            "leasing an address for vm vm-b: guest address 172.16.0.9 is already leased to vm "
            "vm-a");
  auto outside = network.attach("vm-b", "10.0.0.2");
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().code, Errc::invalid_argument);
  EXPECT_EQ(outside.error().message,
            "leasing an address for vm vm-b: guest address 10.0.0.2 is outside 172.16.0.0/24");
  // Failed attaches left nothing behind.
  EXPECT_EQ(network.leases(), (std::vector<Lease>{{"vm-a", "172.16.0.9", "tap-fc-0"}}));
  EXPECT_EQ(*links.list_links("tap-fc-"), Names{"tap-fc-0"});
}

TEST(NetworkService, LeaseIpKeepsOneAddressPerVm) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  EXPECT_EQ(*network.lease_ip("vm-a", std::nullopt), "172.16.0.2");
  EXPECT_EQ(*network.lease_ip("vm-a", std::nullopt), "172.16.0.2");
  EXPECT_EQ(*network.lease_ip("vm-a", "172.16.0.7"), "172.16.0.7");
  EXPECT_EQ(network.leases(), (std::vector<Lease>{{"vm-a", "172.16.0.7", ""}}));
  EXPECT_TRUE(links.links().empty());  // no link touched
}

TEST(NetworkService, FailedAttachRollsBackTapAndAddress) {
  FakeLinkOps links;
  NetworkService network(deps_for(links, 1));
  links.fail_next(FakeLinkOps::Op::set_master,
                  Error{Errc::io, "setting master of tap-fc-0 to br-fc: Invalid argument", 22, {}});
  auto a = network.attach("vm-a", std::nullopt);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::io);
  EXPECT_EQ(a.error().sys_errno, 22);
  EXPECT_EQ(a.error().message,
            "attaching vm vm-a: setting master of tap-fc-0 to br-fc: Invalid argument");
  EXPECT_TRUE(network.leases().empty());
  EXPECT_EQ(network.idle_taps(), Names{"tap-fc-0"});
  EXPECT_EQ(*network.attach("vm-b", std::nullopt), (Attachment{.vm_id = "vm-b",
                                                               .tap = "tap-fc-0",
                                                               .ip = "172.16.0.2",
                                                               .mac = "02:fc:ac:10:00:02",
                                                               .gateway = "172.16.0.1",
                                                               .netmask = "255.255.255.0",
                                                               .prefix = 24}));
}

TEST(NetworkService, FailedAttachKeepsAnAddressTheVmAlreadyHeld) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  ASSERT_TRUE(network.lease_ip("vm-a", std::nullopt));
  links.fail_next(
      FakeLinkOps::Op::ensure_bridge,
      Error{Errc::permission_denied, "creating bridge br-fc: Operation not permitted", 1, {}});
  auto a = network.attach("vm-a", std::nullopt);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::permission_denied);
  EXPECT_EQ(a.error().message, "attaching vm vm-a: creating bridge br-fc: Operation not permitted");
  EXPECT_EQ(network.leases(), (std::vector<Lease>{{"vm-a", "172.16.0.2", ""}}));
  EXPECT_TRUE(links.links().empty());
}

TEST(NetworkService, AttachReportsAFullNetwork) {
  FakeLinkOps links;
  auto deps = deps_for(links);
  deps.cidr = 30;
  NetworkService network(deps);
  ASSERT_TRUE(network.attach("vm-a", std::nullopt));
  auto b = network.attach("vm-b", std::nullopt);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::unavailable);
  EXPECT_EQ(b.error().message,
            "leasing an address for vm vm-b: no free guest address in 172.16.0.0/30: all 1 are "
            "leased");
}

TEST(NetworkService, InvalidConfigIsReportedByEveryCall) {
  FakeLinkOps links;
  auto deps = deps_for(links);
  deps.bridge_ip = "172.16.0.0";
  NetworkService network(deps);
  const std::string message =
      "network config: bridge address 172.16.0.0 is the network address of 172.16.0.0/24: use "
      "a host address inside the network, such as 172.16.0.1";
  ASSERT_FALSE(network.check_config());
  EXPECT_EQ(network.check_config().error().message, message);
  EXPECT_EQ(network.attach("vm-a", std::nullopt).error().message,
            "leasing an address for vm vm-a: " + message);
  EXPECT_EQ(network.reconcile({}).error().message, message);
  EXPECT_TRUE(links.links().empty());

  auto bad_name = deps_for(links);
  bad_name.bridge_name = "a-bridge-name-too-long";
  EXPECT_EQ(NetworkService(bad_name).check_config().error().message,
            "network config: invalid link name \"a-bridge-name-too-long\": use 1-15 characters "
            "without '/', ':' or whitespace, other than \".\" and \"..\"");
}

TEST(NetworkService, ReconcileRebuildsLeasesAndThePool) {
  FakeLinkOps links;
  ASSERT_TRUE(links.ensure_bridge("br-fc", "172.16.0.1/24"));
  for (const char* name : {"tap-fc-0", "tap-fc-3", "tap-fc-4", "tap-fc-6"}) {
    links.add_link(name, {.kind = "tun", .up = true, .master = "br-fc"});
  }
  NetworkService network(deps_for(links, 2));
  ASSERT_TRUE(network.reconcile({{"vm-a", "172.16.0.2", "tap-fc-3"},
                                 {"vm-b", "172.16.0.5", ""},
                                 {"vm-c", "10.9.9.9", ""},    // outside: skipped
                                 {"vm-d", "172.16.0.5", ""},  // taken twice: skipped
                                 {"vm-e", "", ""}}));
  EXPECT_EQ(network.leases(),
            (std::vector<Lease>{{"vm-a", "172.16.0.2", "tap-fc-3"}, {"vm-b", "172.16.0.5", ""}}));
  EXPECT_EQ(network.idle_taps(), (Names{"tap-fc-0", "tap-fc-4"}));
  EXPECT_EQ(*links.list_links("tap-fc-"), (Names{"tap-fc-0", "tap-fc-3", "tap-fc-4"}));
  EXPECT_EQ(*network.attach("vm-c", std::nullopt), (Attachment{.vm_id = "vm-c",
                                                               .tap = "tap-fc-0",
                                                               .ip = "172.16.0.3",
                                                               .mac = "02:fc:ac:10:00:03",
                                                               .gateway = "172.16.0.1",
                                                               .netmask = "255.255.255.0",
                                                               .prefix = 24}));
  // The running VM detaches normally after the restart.
  ASSERT_TRUE(network.detach({.vm_id = "vm-a", .tap = "tap-fc-3"}));
  EXPECT_EQ(network.idle_taps(), (Names{"tap-fc-3", "tap-fc-4"}));
}

TEST(NetworkService, ReconcileRefillsAnEmptyHost) {
  FakeLinkOps links;
  NetworkService network(deps_for(links, 3));
  ASSERT_TRUE(network.reconcile({}));
  EXPECT_EQ(network.idle_taps(), (Names{"tap-fc-0", "tap-fc-1", "tap-fc-2"}));
  EXPECT_FALSE(links.link("br-fc"));  // the bridge waits for the first attach
}

TEST(NetworkService, RefillPoolTopsUpAfterAttaches) {
  FakeLinkOps links;
  NetworkService network(deps_for(links, 1));
  ASSERT_TRUE(network.refill_pool());
  ASSERT_TRUE(network.attach("vm-a", std::nullopt));
  EXPECT_TRUE(network.idle_taps().empty());
  ASSERT_TRUE(network.refill_pool());
  EXPECT_EQ(network.idle_taps(), Names{"tap-fc-1"});
}

TEST(NetworkService, ConcurrentAttachesGetDistinctAddressesAndTaps) {
  FakeLinkOps links;
  NetworkService network(deps_for(links));
  constexpr int kThreads = 8;
  std::vector<Attachment> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto a = network.attach("vm-" + std::to_string(i), std::nullopt);
      if (a) {
        results[i] = *a;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::set<std::string> ips;
  std::set<std::string> taps;
  for (const auto& a : results) {
    ips.insert(a.ip);
    taps.insert(a.tap);
  }
  EXPECT_EQ(ips.size(), std::size_t{kThreads});
  EXPECT_EQ(taps.size(), std::size_t{kThreads});
  EXPECT_EQ(*ips.begin(), "172.16.0.2");
  EXPECT_EQ(network.leases().size(), std::size_t{kThreads});
}

}  // namespace
}  // namespace banger::hostnat

namespace banger::hostnat {
namespace {

// Regression for M3 (security review), ported from security-poc/poc_hostnat_test.cpp: TAPs
// left by earlier daemons hold tap-fc-0..63; a fresh NetworkService (no reconcile yet) must
// still attach, by adopting a leftover instead of stepping over every taken name. Fails on
// 8f38f5a: attach() failed with "no free tap name" (the PoC; re-checked by removing the
// adoption from TapPool::create_next(): same error).
TEST(NetworkService, AttachAdoptsTapsLeftByEarlierDaemons) {
  testkit::FakeLinkOps links;
  ASSERT_TRUE(links.ensure_bridge("br-fc", "172.16.0.1/24"));
  for (unsigned n = 0; n < 64; ++n) {  // what 64 restarts-with-no-addressed-VM left behind
    ASSERT_TRUE(links.create_tap(tap_name(n), std::nullopt));
  }
  NetworkService network({.links = links,
                          .bridge_name = "br-fc",
                          .bridge_ip = "172.16.0.1",
                          .cidr = 24,
                          .tap_pool_size = 4});
  EXPECT_TRUE(network.idle_taps().empty());
  auto attached = network.attach("0123456789abcdef", std::nullopt);
  ASSERT_TRUE(attached) << attached.error().message;
  EXPECT_EQ(attached->tap, "tap-fc-0");
  EXPECT_EQ(links.links().size(), 65U);  // nothing new was created
  // Refilling adopts the next leftovers too.
  ASSERT_TRUE(network.refill_pool());
  EXPECT_EQ(network.idle_taps(),
            (std::vector<std::string>{"tap-fc-1", "tap-fc-2", "tap-fc-3", "tap-fc-4"}));
}

TEST(NetworkService, AttachStepsOverLinksUnderOurPrefixThatAreNotTaps) {
  testkit::FakeLinkOps links;
  links.add_link("tap-fc-0", {.kind = "veth"});  // not ours: never adopted
  NetworkService network({.links = links,
                          .bridge_name = "br-fc",
                          .bridge_ip = "172.16.0.1",
                          .cidr = 24,
                          .tap_pool_size = 0});
  auto attached = network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(attached) << attached.error().message;
  EXPECT_EQ(attached->tap, "tap-fc-1");
  EXPECT_EQ(links.links().at("tap-fc-0").kind, "veth");
}

// A TAP that cannot be opened (EBUSY: an orphaned VMM holds it) is quarantined so the next
// start takes another one instead of failing on it again and again.
TEST(NetworkService, QuarantinedTapIsNeverHandedOutAgainUntilReconcile) {
  testkit::FakeLinkOps links;
  NetworkService network({.links = links,
                          .bridge_name = "br-fc",
                          .bridge_ip = "172.16.0.1",
                          .cidr = 24,
                          .tap_pool_size = 1});
  auto first = network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->tap, "tap-fc-0");
  ASSERT_TRUE(network.quarantine_tap("tap-fc-0"));
  ASSERT_TRUE(network.detach(*first));  // the failed start rolls back: stays quarantined
  EXPECT_TRUE(network.idle_taps().empty());
  auto second = network.attach("vm-a", std::nullopt);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->tap, "tap-fc-1");
  EXPECT_TRUE(links.links().count("tap-fc-0"));  // the link itself is left alone
  EXPECT_EQ(network.quarantine_tap("eth0").error().message,
            "tap \"eth0\" is not a banger tap: names look like tap-fc-<n>");
  // The next daemon start reconciles it like any other leftover.
  ASSERT_TRUE(network.reconcile({{"vm-a", second->ip, second->tap}}));
  EXPECT_EQ(network.idle_taps(), std::vector<std::string>{"tap-fc-0"});
}

}  // namespace
}  // namespace banger::hostnat
