#include "banger/testkit/fake_link_ops.hpp"

#include <gtest/gtest.h>

namespace banger::testkit {
namespace {

using Link = FakeLinkOps::Link;

TEST(FakeLinkOps, EnsureBridgeCreatesAddressesAndIsIdempotent) {
  FakeLinkOps links;
  ASSERT_TRUE(links.ensure_bridge("br-fc", "172.16.0.1/24"));
  ASSERT_TRUE(links.ensure_bridge("br-fc", "172.16.0.1/24"));
  EXPECT_EQ(links.link("br-fc"), (Link{.kind = "bridge", .up = true, .ipv4 = {"172.16.0.1/24"}}));
  auto info = links.get_link("br-fc");
  ASSERT_TRUE(info);
  EXPECT_EQ(*info, (hostnat::LinkInfo{
                       .name = "br-fc", .kind = "bridge", .up = true, .ipv4 = {"172.16.0.1/24"}}));
}

TEST(FakeLinkOps, ModelsTapsMastersAndDeletion) {
  FakeLinkOps links;
  ASSERT_TRUE(links.ensure_bridge("br0", "10.0.0.1/24"));
  ASSERT_TRUE(links.create_tap("tap-fc-0", 1000));
  EXPECT_EQ(links.create_tap("tap-fc-0", std::nullopt).error().message,
            "creating tap tap-fc-0: link tap-fc-0 already exists");
  ASSERT_TRUE(links.set_master("tap-fc-0", "br0"));
  ASSERT_TRUE(links.set_up("tap-fc-0"));
  EXPECT_EQ(links.link("tap-fc-0"),
            (Link{.kind = "tun", .up = true, .master = "br0", .owner = 1000}));
  EXPECT_EQ(*links.list_links("tap-"), std::vector<std::string>{"tap-fc-0"});
  ASSERT_TRUE(links.delete_link("br0"));
  EXPECT_EQ(links.link("tap-fc-0"), (Link{.kind = "tun", .up = true, .owner = 1000}));
  EXPECT_EQ(links.delete_link("br0").error().message, "deleting link br0: link br0 not found");
  EXPECT_EQ(links.set_master("tap-fc-0", "tap-fc-0").error().message,
            "setting master of tap-fc-0 to tap-fc-0: link tap-fc-0 is not a bridge");
}

TEST(FakeLinkOps, ScriptedFailureHitsOnlyTheNextCall) {
  FakeLinkOps links;
  links.fail_next(FakeLinkOps::Op::create_tap, Error{Errc::io, "boom", 5, {}});
  EXPECT_EQ(links.create_tap("tap-fc-0", std::nullopt).error().message, "boom");
  EXPECT_TRUE(links.create_tap("tap-fc-0", std::nullopt));
  EXPECT_EQ(links.calls(FakeLinkOps::Op::create_tap), 2u);
}

TEST(FakeLinkOps, RejectsInvalidNamesLikeTheKernel) {
  FakeLinkOps links;
  auto status = links.create_tap("tap-fc-123456789", std::nullopt);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_TRUE(links.links().empty());
}

}  // namespace
}  // namespace banger::testkit
