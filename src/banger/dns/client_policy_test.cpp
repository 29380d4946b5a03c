#include "banger/dns/client_policy.hpp"

#include <gtest/gtest.h>

namespace banger::dns {
namespace {

TEST(ClientNetwork, ContainsOnlyAddressesInsideThePrefix) {
  auto network = parse_client_network("172.16.0.1/24");
  ASSERT_TRUE(network) << network.error().message;
  EXPECT_TRUE(network->contains({172, 16, 0, 2}));
  EXPECT_TRUE(network->contains({172, 16, 0, 255}));
  EXPECT_FALSE(network->contains({172, 16, 1, 2}));
  EXPECT_FALSE(network->contains({127, 0, 0, 1}));
  auto everything = parse_client_network("0.0.0.0/0");
  ASSERT_TRUE(everything);
  EXPECT_TRUE(everything->contains({8, 8, 8, 8}));
}

TEST(ClientNetwork, RejectsMalformedText) {
  for (const char* text : {"172.16.0.1", "172.16.0.1/33", "172.16.0.1/", "x/24", "1.2.3.4/2a"}) {
    auto parsed = parse_client_network(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().message,
              std::string("invalid client network \"") + text +
                  "\": use an IPv4 address and a prefix length 0-32, such as 172.16.0.1/24");
  }
}

TEST(ForwardingClients, FollowsSetAndReplaceAll) {
  ForwardingClients clients;
  ASSERT_TRUE(clients.set("172.16.0.3", true));
  ASSERT_TRUE(clients.set("172.16.0.2", true));
  EXPECT_TRUE(clients.contains({172, 16, 0, 2}));
  ASSERT_TRUE(clients.set("172.16.0.2", false));
  EXPECT_FALSE(clients.contains({172, 16, 0, 2}));
  EXPECT_EQ(clients.snapshot(), std::vector<std::string>{"172.16.0.3"});
  // replace_all validates first: a bad entry leaves the set as it was.
  auto bad = clients.replace_all({"172.16.0.4", "nope"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "invalid ipv4 address \"nope\" for dns forwarding: use four numbers 0-255 separated "
            "by dots");
  EXPECT_EQ(clients.snapshot(), std::vector<std::string>{"172.16.0.3"});
  ASSERT_TRUE(clients.replace_all({"172.16.0.5", "172.16.0.4"}));
  EXPECT_EQ(clients.snapshot(), (std::vector<std::string>{"172.16.0.4", "172.16.0.5"}));
}

}  // namespace
}  // namespace banger::dns
