#include "banger/hostnat/tap_pool.hpp"

#include <gtest/gtest.h>

#include "banger/testkit/fake_link_ops.hpp"

namespace banger::hostnat {
namespace {

using testkit::FakeLinkOps;
using Names = std::vector<std::string>;

Names tap_links(FakeLinkOps& links) { return *links.list_links("tap-fc-"); }

TEST(TapName, FormatsAndParsesNumberedNames) {
  EXPECT_EQ(tap_name(0), "tap-fc-0");
  EXPECT_EQ(tap_name(99'999'999), "tap-fc-99999999");
  EXPECT_LE(tap_name(99'999'999).size(), kMaxLinkNameLength);
  EXPECT_EQ(parse_tap_name("tap-fc-12"), 12u);
  for (const char* bad :
       {"tap-fc-", "tap-fc-01", "tap-fc-x", "tap-fc-1a", "tap0", "tap-fc-123456789"}) {
    EXPECT_EQ(parse_tap_name(bad), std::nullopt) << bad;
  }
}

TEST(TapPool, RefillCreatesUpToThePoolSize) {
  FakeLinkOps links;
  TapPool pool(links, 3, 1000);
  ASSERT_TRUE(pool.refill());
  EXPECT_EQ(pool.idle(), (Names{"tap-fc-0", "tap-fc-1", "tap-fc-2"}));
  EXPECT_EQ(tap_links(links), (Names{"tap-fc-0", "tap-fc-1", "tap-fc-2"}));
  EXPECT_EQ(links.link("tap-fc-1"), (FakeLinkOps::Link{.kind = "tun", .owner = 1000}));
  ASSERT_TRUE(pool.refill());
  EXPECT_EQ(links.calls(FakeLinkOps::Op::create_tap), 3u);
}

TEST(TapPool, AcquireTakesAnIdleTapWithoutCreating) {
  FakeLinkOps links;
  TapPool pool(links, 2);
  ASSERT_TRUE(pool.refill());
  auto tap = pool.acquire();
  ASSERT_TRUE(tap) << tap.error().message;
  EXPECT_EQ(*tap, "tap-fc-0");
  EXPECT_EQ(pool.idle(), Names{"tap-fc-1"});
  EXPECT_EQ(pool.in_use(), Names{"tap-fc-0"});
  EXPECT_EQ(links.calls(FakeLinkOps::Op::create_tap), 2u);
}

TEST(TapPool, AcquireCreatesWithTheLowestFreeNumberWhenEmpty) {
  FakeLinkOps links;
  TapPool pool(links, 0);
  EXPECT_EQ(*pool.acquire(), "tap-fc-0");
  EXPECT_EQ(*pool.acquire(), "tap-fc-1");
  ASSERT_TRUE(pool.release("tap-fc-0"));  // pool size 0: deleted
  EXPECT_EQ(tap_links(links), Names{"tap-fc-1"});
  EXPECT_EQ(*pool.acquire(), "tap-fc-0");
  EXPECT_EQ(pool.in_use(), (Names{"tap-fc-0", "tap-fc-1"}));
}

TEST(TapPool, AcquireSkipsNamesHeldByForeignLinks) {
  FakeLinkOps links;
  links.add_link("tap-fc-0", {.kind = "veth"});
  TapPool pool(links, 0);
  EXPECT_EQ(*pool.acquire(), "tap-fc-1");
  EXPECT_EQ(links.link("tap-fc-0"), FakeLinkOps::Link{.kind = "veth"});
}

TEST(TapPool, AcquireDropsIdleTapsThatVanished) {
  FakeLinkOps links;
  TapPool pool(links, 2);
  ASSERT_TRUE(pool.refill());
  links.remove_link_for_test("tap-fc-0");
  EXPECT_EQ(*pool.acquire(), "tap-fc-1");
  EXPECT_TRUE(pool.idle().empty());
}

TEST(TapPool, AcquireReportsCreateFailures) {
  FakeLinkOps links;
  TapPool pool(links, 1);
  links.fail_next(
      FakeLinkOps::Op::create_tap,
      Error{Errc::permission_denied, "creating tap tap-fc-0: Operation not permitted", 1, {}});
  auto tap = pool.acquire();
  ASSERT_FALSE(tap);
  EXPECT_EQ(tap.error().code, Errc::permission_denied);
  EXPECT_EQ(tap.error().message, "creating tap tap-fc-0: Operation not permitted");
  EXPECT_TRUE(pool.in_use().empty());
}

TEST(TapPool, ReleaseKeepsTapsWhileThereIsRoomThenDeletes) {
  FakeLinkOps links;
  TapPool pool(links, 1);
  auto a = *pool.acquire();
  auto b = *pool.acquire();
  ASSERT_TRUE(pool.release(a));
  ASSERT_TRUE(pool.release(b));
  EXPECT_EQ(pool.idle(), Names{"tap-fc-0"});
  EXPECT_TRUE(pool.in_use().empty());
  EXPECT_EQ(tap_links(links), Names{"tap-fc-0"});
}

TEST(TapPool, ReleaseForgetsTapsThatNoLongerExist) {
  FakeLinkOps links;
  TapPool pool(links, 2);
  auto tap = *pool.acquire();
  links.remove_link_for_test(tap);
  ASSERT_TRUE(pool.release(tap));
  EXPECT_TRUE(pool.idle().empty());
  EXPECT_TRUE(pool.in_use().empty());
}

TEST(TapPool, ReleaseRejectsForeignNames) {
  FakeLinkOps links;
  TapPool pool(links, 2);
  auto status = pool.release("eth0");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message, "tap \"eth0\" is not a banger tap: names look like tap-fc-<n>");
}

TEST(TapPool, ReconcileAdoptsKeepsInUseAndDeletesTheRest) {
  FakeLinkOps links;
  for (const char* name :
       {"tap-fc-0", "tap-fc-1", "tap-fc-2", "tap-fc-5", "tap-fc-7", "tap-fc-x"}) {
    links.add_link(name, {.kind = "tun"});
  }
  links.add_link("eth0", {.kind = "veth"});
  TapPool pool(links, 2);
  ASSERT_TRUE(pool.reconcile({"tap-fc-1", "tap-fc-5", "bg-tap-old"}));
  EXPECT_EQ(pool.in_use(), (Names{"tap-fc-1", "tap-fc-5"}));
  EXPECT_EQ(pool.idle(), (Names{"tap-fc-0", "tap-fc-2"}));
  EXPECT_EQ(tap_links(links), (Names{"tap-fc-0", "tap-fc-1", "tap-fc-2", "tap-fc-5"}));
  EXPECT_TRUE(links.link("eth0"));
  // New TAPs avoid the numbers still in use.
  ASSERT_TRUE(pool.release("tap-fc-1"));  // pool full: deleted
  EXPECT_EQ(*pool.acquire(), "tap-fc-0");
  EXPECT_EQ(*pool.acquire(), "tap-fc-2");
  EXPECT_EQ(*pool.acquire(), "tap-fc-1");
  EXPECT_EQ(*pool.acquire(), "tap-fc-3");
}

// An earlier daemon's TAPs had no owner, so any user able to open /dev/net/tun could attach to
// them: adopting one gives it the pool's owner, as a TAP the pool creates has.
TEST(TapPool, AdoptedTapsGetThePoolsOwner) {
  FakeLinkOps links;
  links.add_link("tap-fc-0", {.kind = "tun"});
  links.add_link("tap-fc-1", {.kind = "tun"});
  TapPool pool(links, 1, 4242);
  ASSERT_TRUE(pool.reconcile({}));
  EXPECT_EQ(links.link("tap-fc-0")->owner, std::optional<uid_t>(4242));
  links.add_link("tap-fc-1", {.kind = "tun"});  // appeared after the reconcile
  EXPECT_EQ(*pool.acquire(), "tap-fc-0");
  EXPECT_EQ(*pool.acquire(), "tap-fc-1");  // adopted on the way to a new name
  EXPECT_EQ(links.link("tap-fc-1")->owner, std::optional<uid_t>(4242));
}

TEST(TapPool, ReconcileTriesEveryLinkAndReturnsTheFirstError) {
  FakeLinkOps links;
  for (const char* name : {"tap-fc-0", "tap-fc-1", "tap-fc-2"}) {
    links.add_link(name, {.kind = "tun"});
  }
  links.fail_next(FakeLinkOps::Op::delete_link,
                  Error{Errc::io, "deleting link tap-fc-0: Device or resource busy", 16, {}});
  TapPool pool(links, 0);
  auto status = pool.reconcile({});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::io);
  EXPECT_EQ(status.error().message,
            "reconciling taps: deleting link tap-fc-0: Device or resource busy");
  EXPECT_EQ(tap_links(links), Names{"tap-fc-0"});
}

}  // namespace
}  // namespace banger::hostnat
