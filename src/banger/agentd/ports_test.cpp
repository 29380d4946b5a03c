#include "banger/agentd/ports.hpp"

#include <gtest/gtest.h>

#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "12345 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 "
    "222 1 0000000000000000 100 0 0 10 0\n"
    "   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 "
    "333 1 0000000000000000 20 4 30 10 -1\n"
    "garbage line\n";

constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n";

constexpr const char* kUdp =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode ref pointer drops\n"
    "  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 "
    "666 2 0000000000000000 0\n"
    "  124: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 "
    "777 2 0000000000000000 0\n";

TEST(ParseProcNet, KeepsListeningTcpOnly) {
  const auto entries = parse_proc_net(kTcp, "tcp", "ipv4");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].address, "0.0.0.0");
  EXPECT_EQ(entries[0].port, 8080);
  EXPECT_EQ(entries[0].inode, 12345u);
  EXPECT_EQ(entries[1].address, "127.0.0.1");
  EXPECT_EQ(entries[1].port, 53);
  EXPECT_EQ(entries[1].inode, 222u);
  EXPECT_EQ(entries[1].proto, "tcp");
  EXPECT_EQ(entries[1].family, "ipv4");
}

TEST(ParseProcNet, DecodesIpv6Addresses) {
  const auto entries = parse_proc_net(kTcp6, "tcp", "ipv6");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].address, "::");
  EXPECT_EQ(entries[0].port, 80);
  EXPECT_EQ(entries[1].address, "::1");
  EXPECT_EQ(entries[1].port, 8081);
}

TEST(ParseProcNet, KeepsUnconnectedUdpOnly) {
  const auto entries = parse_proc_net(kUdp, "udp", "ipv4");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].address, "0.0.0.0");
  EXPECT_EQ(entries[0].port, 68);
  EXPECT_EQ(entries[0].proto, "udp");
}

TEST(ParseProcNet, IgnoresTruncatedAndEmptyText) {
  EXPECT_TRUE(parse_proc_net("", "tcp", "ipv4").empty());
  EXPECT_TRUE(parse_proc_net("   0: 00000000:1F90 00000000:0000 0A\n", "tcp", "ipv4").empty());
  EXPECT_TRUE(
      parse_proc_net("   0: 0000:1F90 00000000:0000 0A 0:0 0:0 0 0 0 9\n", "tcp", "ipv4").empty());
}

TEST(ListPorts, ResolvesOwnersFromFdLinks) {
  testkit::TempDir proc;
  testkit::write_fixture(proc.path() + "/net/tcp", kTcp);
  testkit::write_fixture(proc.path() + "/net/tcp6", kTcp6);
  testkit::write_fixture(proc.path() + "/net/udp", kUdp);
  // No udp6 table: skipped.
  testkit::link_fixture(proc.path() + "/100/fd/3", "socket:[12345]");
  testkit::link_fixture(proc.path() + "/100/fd/4", "/dev/null");
  testkit::write_fixture(proc.path() + "/100/comm", "httpd\n");
  testkit::link_fixture(proc.path() + "/7/fd/9", "socket:[12345]");  // lower pid wins
  testkit::write_fixture(proc.path() + "/7/comm", "init\n");
  testkit::link_fixture(proc.path() + "/300/fd/1", "socket:[666]");
  testkit::write_fixture(proc.path() + "/300/comm", "dhclient\n");
  testkit::write_fixture(proc.path() + "/self", "not a pid dir");

  const auto result = list_ports(proc.path());
  std::vector<std::string> got;
  for (const auto& p : result.ports) {
    got.push_back(p.proto + " " + p.family + " " + p.address + " " + std::to_string(p.port) + " " +
                  std::to_string(p.pid) + " " + p.process);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "tcp ipv4 127.0.0.1 53 0 ",
                     "tcp ipv6 :: 80 0 ",
                     "tcp ipv4 0.0.0.0 8080 7 init",
                     "tcp ipv6 ::1 8081 0 ",
                     "udp ipv4 0.0.0.0 68 300 dhclient",
                 }));
}

}  // namespace
}  // namespace banger::agentd
