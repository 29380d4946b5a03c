#include "banger/dns/endpoint.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::dns {
namespace {

TEST(Endpoint, ParsesListenAddresses) {
  auto e = parse_listen_address("127.0.0.1:42069");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "127.0.0.1:42069");
  EXPECT_EQ(parse_listen_address("127.0.0.1:0")->port, 0);
  for (const char* bad :
       {"127.0.0.1", "localhost:53", "127.0.0.1:65536", "127.0.0.1:", ":53", "127.0.0.1:5x"}) {
    auto r = parse_listen_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
  }
  EXPECT_EQ(parse_listen_address("localhost:53").error().message,
            "invalid dns listen address \"localhost:53\": use an IPv4 address and a port 0-65535, "
            "such as 127.0.0.1:42069");
}

TEST(Endpoint, ParsesUpstreamsWithDefaultPort) {
  EXPECT_EQ(parse_upstream("1.1.1.1")->to_string(), "1.1.1.1:53");
  EXPECT_EQ(parse_upstream("127.0.0.1:5353")->to_string(), "127.0.0.1:5353");
  auto bad = parse_upstream("127.0.0.1:0");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "invalid dns upstream \"127.0.0.1:0\": use an IPv4 address with an optional port, "
            "such as 1.1.1.1 or 127.0.0.1:5353");
}

TEST(Endpoint, ReadUpstreamsTakesIpv4NameserversInOrder) {
  const char* conf =
      "# This is /run/systemd/resolve/resolv.conf\n"
      "nameserver 10.255.255.53\n"
      "nameserver\t9.9.9.9  # quad9\n"
      "nameserver 2620:fe::fe\n"
      "; nameserver 8.8.8.8\n"
      "nameservers 1.2.3.4\n"
      "nameserver 10.255.255.53\n"
      "search example.org\n"
      "nameserver 300.1.1.1\n";
  EXPECT_EQ(read_upstreams(conf), (std::vector<std::string>{"10.255.255.53:53", "9.9.9.9:53"}));
  EXPECT_TRUE(read_upstreams("").empty());
}

TEST(Endpoint, DiscoverPrefersResolvedsRealUpstreams) {
  testkit::TempDir dir;
  std::string resolved = dir.path() + "/resolved.conf";
  std::string etc = dir.path() + "/resolv.conf";
  ASSERT_TRUE(sys::write_file_atomic(etc, "nameserver 127.0.0.53\n"));
  EXPECT_EQ(upstreams_source(resolved, etc), etc);
  EXPECT_EQ(*discover_upstreams(resolved, etc), std::vector<std::string>{"127.0.0.53:53"});
  ASSERT_TRUE(sys::write_file_atomic(resolved, "nameserver 192.0.2.1\n"));
  EXPECT_EQ(upstreams_source(resolved, etc), resolved);
  EXPECT_EQ(*discover_upstreams(resolved, etc), std::vector<std::string>{"192.0.2.1:53"});
  auto missing = discover_upstreams(dir.path() + "/x", dir.path() + "/y");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST(Endpoint, WithoutSelfDropsOurOwnAddress) {
  std::vector<Endpoint> ups = {*parse_upstream("127.0.0.1:5300"), *parse_upstream("1.1.1.1"),
                               *parse_upstream("127.0.0.2:5300"), *parse_upstream("127.0.0.1:53")};
  EXPECT_EQ(without_self(ups, *parse_listen_address("127.0.0.1:5300")),
            (std::vector<Endpoint>{ups[1], ups[2], ups[3]}));
  EXPECT_EQ(without_self(ups, *parse_listen_address("0.0.0.0:5300")),
            (std::vector<Endpoint>{ups[1], ups[3]}));
}

}  // namespace
}  // namespace banger::dns
