#include "banger/dns/resolved_routing.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::dns {
namespace {

// systemd 252's layout: one value per line, continuation lines aligned under the first.
constexpr char kRouted[] =
    "Link 7 (br-fc)\n"
    "    Current Scopes: DNS LLMNR/IPv4 LLMNR/IPv6\n"
    "         Protocols: -DefaultRoute +LLMNR -mDNS -DNSOverTLS DNSSEC=no/unsupported\n"
    "Current DNS Server: 172.16.0.1\n"
    "       DNS Servers: 172.16.0.1\n"
    "                    fd00::1\n"
    "        DNS Domain: ~vm\n";

TEST(ResolvedRouting, PlansDnsDomainAndDefaultRoute) {
  testkit::FakeCommandRunner runner;
  ASSERT_TRUE(route_vm_domain(runner, "br-fc", "172.16.0.1"));
  EXPECT_EQ(runner.ran(), (std::vector<std::string>{"resolvectl dns br-fc 172.16.0.1",
                                                    "resolvectl domain br-fc ~vm",
                                                    "resolvectl default-route br-fc false"}));
  EXPECT_EQ(plan_resolved_routing("br-fc", "172.16.0.1")[1].argv,
            (std::vector<std::string>{"resolvectl", "domain", "br-fc", "~vm"}));
}

TEST(ResolvedRouting, RoutingFailureSaysWhichStep) {
  testkit::FakeCommandRunner runner;
  runner.on("resolvectl domain", {.exit_code = 1, .out = "", .err = "Failed to set domain\n"});
  auto status = route_vm_domain(runner, "br-fc", "172.16.0.1");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::command_failed);
  EXPECT_EQ(status.error().message,
            "routing .vm to 172.16.0.1 via systemd-resolved on br-fc: resolvectl exited 1: "
            "Failed to set domain");
  EXPECT_EQ(runner.ran().size(), 2u);
}

TEST(ResolvedRouting, RevertRunsResolvectlRevert) {
  testkit::FakeCommandRunner runner;
  ASSERT_TRUE(revert_vm_domain(runner, "br-fc"));
  EXPECT_EQ(runner.ran(), std::vector<std::string>{"resolvectl revert br-fc"});
  runner.on("resolvectl revert", {.exit_code = 1, .out = "", .err = "No such device"});
  EXPECT_EQ(revert_vm_domain(runner, "br-fc").error().message,
            "reverting systemd-resolved settings of br-fc: resolvectl exited 1: No such device");
}

TEST(ResolvedRouting, ParsesARoutedLink) {
  auto status = parse_resolvectl_status(kRouted, "172.16.0.1");
  EXPECT_EQ(status.servers, (std::vector<std::string>{"172.16.0.1", "fd00::1"}));
  EXPECT_EQ(status.domains, std::vector<std::string>{"~vm"});
  EXPECT_TRUE(status.routes_vm);
  EXPECT_TRUE(status.uses_server);
  EXPECT_TRUE(status.ok());
  EXPECT_FALSE(parse_resolvectl_status(kRouted, "172.16.0.10").ok());
}

TEST(ResolvedRouting, ParsesOldOneLineLayoutAndServerSuffixes) {
  auto status = parse_resolvectl_status(
      "Link 3 (br0)\n"
      "      Current Scopes: DNS\n"
      "         DNS Servers: 10.0.0.1:53 10.0.0.2%3#dns.example\n"
      "          DNS Domain: corp.example ~vm\n",
      "10.0.0.2");
  EXPECT_EQ(status.domains, (std::vector<std::string>{"corp.example", "~vm"}));
  EXPECT_TRUE(status.ok());
  EXPECT_TRUE(parse_resolvectl_status("       DNS Servers: 10.0.0.1:53\n", "10.0.0.1").uses_server);
  EXPECT_FALSE(parse_resolvectl_status("       DNS Servers: 10.0.0.10\n", "10.0.0.1").uses_server);
}

TEST(ResolvedRouting, UnroutedLinkIsNotOk) {
  auto status = parse_resolvectl_status(
      "Link 7 (br-fc)\n"
      "Current Scopes: none\n"
      "     Protocols: -DefaultRoute +LLMNR -mDNS -DNSOverTLS DNSSEC=no/unsupported\n",
      "172.16.0.1");
  EXPECT_TRUE(status.servers.empty());
  EXPECT_FALSE(status.routes_vm);
  EXPECT_FALSE(status.ok());
}

TEST(ResolvedRouting, QueryRunsStatusAndReportsAMissingLink) {
  testkit::FakeCommandRunner runner;
  runner.on("resolvectl status br-fc", {.exit_code = 0, .out = kRouted, .err = ""});
  auto status = query_vm_routing(runner, "br-fc", "172.16.0.1");
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->ok());
  runner.on("resolvectl status br-fc", {.exit_code = 1,
                                        .out = "",
                                        .err = "Failed to resolve interface \"br-fc\": No such "
                                               "device"});
  auto missing = query_vm_routing(runner, "br-fc", "172.16.0.1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "reading systemd-resolved settings of br-fc: resolvectl exited 1: Failed to resolve "
            "interface \"br-fc\": No such device");
}

TEST(ResolvedRouting, DetectsResolvedByItsRuntimeDirectory) {
  testkit::TempDir dir;
  EXPECT_FALSE(resolved_running(dir.path() + "/resolve"));
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/resolve"));
  EXPECT_TRUE(resolved_running(dir.path() + "/resolve"));
}

}  // namespace
}  // namespace banger::dns
