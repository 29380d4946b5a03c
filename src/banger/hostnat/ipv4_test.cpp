#include "banger/hostnat/ipv4.hpp"

#include <gtest/gtest.h>

namespace banger::hostnat {
namespace {

TEST(Ipv4, ParsesAndFormatsDottedQuads) {
  auto ip = parse_ipv4("172.16.0.1");
  ASSERT_TRUE(ip) << ip.error().message;
  EXPECT_EQ(ip->bits, 0xac100001u);
  EXPECT_EQ(format_ipv4(*ip), "172.16.0.1");
  EXPECT_EQ(parse_ipv4("0.0.0.0")->bits, 0u);
  EXPECT_EQ(parse_ipv4("255.255.255.255")->bits, 0xffffffffu);
  EXPECT_EQ(format_ipv4(Ipv4{0x0a000005}), "10.0.0.5");
}

TEST(Ipv4, RejectsMalformedAddresses) {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "01.2.3.4", "1..3.4",
                           "1.2.3.4 ", "a.b.c.d", "1.2.3.4/24", "1234.1.1.1"}) {
    auto ip = parse_ipv4(text);
    ASSERT_FALSE(ip) << text;
    EXPECT_EQ(ip.error().code, Errc::invalid_argument);
  }
  EXPECT_EQ(parse_ipv4("1.2.3").error().message,
            "invalid ipv4 address \"1.2.3\": use four numbers 0-255 separated by dots, such as "
            "172.16.0.1");
}

TEST(Ipv4, NetmaskFromPrefix) {
  EXPECT_EQ(format_ipv4(*netmask_from_prefix(24)), "255.255.255.0");
  EXPECT_EQ(format_ipv4(*netmask_from_prefix(30)), "255.255.255.252");
  EXPECT_EQ(format_ipv4(*netmask_from_prefix(0)), "0.0.0.0");
  EXPECT_EQ(format_ipv4(*netmask_from_prefix(32)), "255.255.255.255");
  auto bad = netmask_from_prefix(33);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "invalid prefix length 33: use 0-32");
}

TEST(Ipv4, MacIsLocallyAdministeredAndDerivedFromTheAddress) {
  EXPECT_EQ(mac_for_ip(*parse_ipv4("172.16.0.2")), "02:fc:ac:10:00:02");
  EXPECT_EQ(mac_for_ip(*parse_ipv4("10.255.1.254")), "02:fc:0a:ff:01:fe");
  EXPECT_NE(mac_for_ip(*parse_ipv4("172.16.0.2")), mac_for_ip(*parse_ipv4("172.16.0.3")));
}

TEST(Subnet, DerivesNetworkBroadcastAndHosts) {
  auto subnet = Subnet::parse("172.16.0.1", 24);
  ASSERT_TRUE(subnet) << subnet.error().message;
  EXPECT_EQ(format_ipv4(subnet->network()), "172.16.0.0");
  EXPECT_EQ(format_ipv4(subnet->broadcast()), "172.16.0.255");
  EXPECT_EQ(format_ipv4(subnet->netmask()), "255.255.255.0");
  EXPECT_EQ(format_ipv4(subnet->first_host()), "172.16.0.1");
  EXPECT_EQ(format_ipv4(subnet->last_host()), "172.16.0.254");
  EXPECT_EQ(subnet->gateway_cidr(), "172.16.0.1/24");
  EXPECT_EQ(subnet->network_cidr(), "172.16.0.0/24");
  EXPECT_TRUE(subnet->contains(*parse_ipv4("172.16.0.255")));
  EXPECT_FALSE(subnet->contains(*parse_ipv4("172.16.1.1")));
}

TEST(Subnet, RejectsPrefixesWithoutRoomForGuests) {
  auto subnet = Subnet::parse("172.16.0.1", 31);
  ASSERT_FALSE(subnet);
  EXPECT_EQ(subnet.error().code, Errc::invalid_argument);
  EXPECT_EQ(subnet.error().message, "invalid prefix length 31 for the vm network: use 8-30");
  EXPECT_EQ(Subnet::parse("10.0.0.1", 7).error().message,
            "invalid prefix length 7 for the vm network: use 8-30");
}

TEST(Subnet, RejectsNetworkAndBroadcastAsBridgeAddress) {
  auto network = Subnet::parse("172.16.0.0", 24);
  ASSERT_FALSE(network);
  EXPECT_EQ(network.error().message,
            "bridge address 172.16.0.0 is the network address of 172.16.0.0/24: use a host "
            "address inside the network, such as 172.16.0.1");
  auto broadcast = Subnet::parse("172.16.0.255", 24);
  ASSERT_FALSE(broadcast);
  EXPECT_EQ(broadcast.error().message,
            "bridge address 172.16.0.255 is the broadcast address of 172.16.0.0/24: use a host "
            "address inside the network, such as 172.16.0.1");
  EXPECT_EQ(Subnet::parse("172.16.0", 24).error().code, Errc::invalid_argument);
}

TEST(Ipv4Cidr, ParsesAddressWithPrefix) {
  auto cidr = parse_ipv4_cidr("172.16.0.1/24");
  ASSERT_TRUE(cidr) << cidr.error().message;
  EXPECT_EQ(format_ipv4(cidr->address), "172.16.0.1");
  EXPECT_EQ(cidr->prefix, 24);
  for (const char* text : {"172.16.0.1", "172.16.0.1/", "172.16.0.1/33", "172.16.0.1/-1",
                           "172.16.0.1/024", "x/24", "172.16.0.1/24x"}) {
    auto bad = parse_ipv4_cidr(text);
    ASSERT_FALSE(bad) << text;
    EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  }
  EXPECT_EQ(parse_ipv4_cidr("172.16.0.1").error().message,
            "invalid ipv4 cidr \"172.16.0.1\": use an address with a prefix length, such as "
            "172.16.0.1/24");
}

}  // namespace
}  // namespace banger::hostnat
