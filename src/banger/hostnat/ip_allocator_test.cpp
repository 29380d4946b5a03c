#include "banger/hostnat/ip_allocator.hpp"

#include <gtest/gtest.h>

namespace banger::hostnat {
namespace {

IpAllocator make(const char* gateway, int prefix) {
  auto subnet = Subnet::parse(gateway, prefix);
  EXPECT_TRUE(subnet);
  return IpAllocator(*subnet);
}

std::string allocate_text(IpAllocator& allocator, const std::string& owner) {
  auto ip = allocator.allocate(owner);
  return ip ? format_ipv4(*ip) : "error: " + ip.error().message;
}

TEST(IpAllocator, HandsOutLowestFreeAddressSkippingTheBridge) {
  auto allocator = make("172.16.0.1", 24);
  EXPECT_EQ(allocate_text(allocator, "a"), "172.16.0.2");
  EXPECT_EQ(allocate_text(allocator, "b"), "172.16.0.3");
  EXPECT_EQ(allocate_text(allocator, "c"), "172.16.0.4");
  EXPECT_EQ(allocator.owner_of(*parse_ipv4("172.16.0.3")), "b");
}

TEST(IpAllocator, SkipsBridgeAddressInTheMiddle) {
  auto allocator = make("10.0.0.3", 29);  // hosts .1-.6, bridge .3
  std::vector<std::string> got;
  got.reserve(5);
  for (int i = 0; i < 5; ++i) {
    got.push_back(allocate_text(allocator, "vm"));
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"}));
}

TEST(IpAllocator, ReusesReleasedAddressFirst) {
  auto allocator = make("172.16.0.1", 24);
  allocate_text(allocator, "a");
  allocate_text(allocator, "b");
  allocate_text(allocator, "c");
  EXPECT_TRUE(allocator.release(*parse_ipv4("172.16.0.3")));
  EXPECT_FALSE(allocator.release(*parse_ipv4("172.16.0.3")));
  EXPECT_EQ(allocate_text(allocator, "d"), "172.16.0.3");
  EXPECT_EQ(allocate_text(allocator, "e"), "172.16.0.5");
}

TEST(IpAllocator, ReportsExhaustion) {
  auto allocator = make("192.168.7.1", 30);  // hosts .1 (bridge) and .2
  EXPECT_EQ(allocator.capacity(), 1u);
  EXPECT_EQ(allocate_text(allocator, "a"), "192.168.7.2");
  auto full = allocator.allocate("b");
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::unavailable);
  EXPECT_EQ(full.error().message, "no free guest address in 192.168.7.0/30: all 1 are leased");
}

TEST(IpAllocator, FillsAWholeSlash24) {
  auto allocator = make("172.16.0.1", 24);
  EXPECT_EQ(allocator.capacity(), 253u);
  for (int i = 0; i < 253; ++i) {
    ASSERT_TRUE(allocator.allocate("vm"));
  }
  EXPECT_EQ(allocator.allocate("x").error().message,
            "no free guest address in 172.16.0.0/24: all 253 are leased");
  EXPECT_EQ(allocator.leases().back().first, *parse_ipv4("172.16.0.254"));
}

TEST(IpAllocator, AllocatesSpecificAddresses) {
  auto allocator = make("172.16.0.1", 24);
  ASSERT_TRUE(allocator.allocate_specific(*parse_ipv4("172.16.0.2"), "a"));
  EXPECT_TRUE(allocator.allocate_specific(*parse_ipv4("172.16.0.2"), "a"));  // idempotent
  auto taken = allocator.allocate_specific(*parse_ipv4("172.16.0.2"), "b");
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::already_exists);
  EXPECT_EQ(taken.error().message, "guest address 172.16.0.2 is already leased to vm a");
  EXPECT_EQ(allocate_text(allocator, "c"), "172.16.0.3");
  EXPECT_EQ(allocator.find_by_owner("a"), parse_ipv4("172.16.0.2").value());
  EXPECT_EQ(allocator.find_by_owner("nobody"), std::nullopt);
}

TEST(IpAllocator, RejectsReservedAndOutsideAddresses) {
  auto allocator = make("172.16.0.1", 24);
  auto message = [&](const char* ip) {
    auto status = allocator.allocate_specific(*parse_ipv4(ip), "a");
    EXPECT_FALSE(status);
    EXPECT_EQ(status.error().code, Errc::invalid_argument);
    return status.error().message;
  };
  EXPECT_EQ(message("10.0.0.2"), "guest address 10.0.0.2 is outside 172.16.0.0/24");
  EXPECT_EQ(message("172.16.0.1"),
            "guest address 172.16.0.1 is reserved in 172.16.0.0/24: it is the bridge address");
  EXPECT_EQ(message("172.16.0.0"),
            "guest address 172.16.0.0 is reserved in 172.16.0.0/24: it is the network address");
  EXPECT_EQ(message("172.16.0.255"),
            "guest address 172.16.0.255 is reserved in 172.16.0.0/24: it is the broadcast address");
  EXPECT_TRUE(allocator.leases().empty());
}

TEST(IpAllocator, ClearDropsEveryLease) {
  auto allocator = make("172.16.0.1", 24);
  allocate_text(allocator, "a");
  allocator.clear();
  EXPECT_TRUE(allocator.leases().empty());
  EXPECT_EQ(allocate_text(allocator, "b"), "172.16.0.2");
}

}  // namespace
}  // namespace banger::hostnat
