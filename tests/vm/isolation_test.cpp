// Guest network isolation with real guests (SPEC S7, security review M7): two tiny guests on the
// suite's bridge, probed from inside the guests (`vm ssh`, busybox ping/ping6/nc/arping/
// nslookup/wget) and from the suite's namespace. What is enforced here is the whole stack:
// isolated bridge ports, the `bridge banger` table and the `ip banger` table; the nftables side
// alone is proven by hostnat's NatServiceNetns test. Every blocked probe has a control that
// shows the same tool and path work where they should, so the test cannot pass because
// everything is broken.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// A TCP listener on the host side (the suite's namespace) at ip:port that records the address
// of every peer in a file until destroyed.
class HostListener {
 public:
  HostListener(const std::string& ns, const std::string& ip, int port) {
    peers_file_ = dir_.path() + "/peers";
    ready_file_ = dir_.path() + "/ready";
    std::string script =
        "import socket\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('" +
        ip + "', " + std::to_string(port) +
        ")); s.listen(8)\n"
        "open('" +
        ready_file_ +
        "','w').close()\n"
        "while True:\n"
        "  c,a=s.accept(); open('" +
        peers_file_ + "','a').write(a[0]+'\\n'); c.sendall(b'hello\\n'); c.close()\n";
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execlp("ip", "ip", "netns", "exec", ns.c_str(), "python3", "-c", script.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
    EXPECT_TRUE(testkit::eventually([&] { return sys::path_exists(ready_file_); }))
        << "the host listener did not start";
  }
  HostListener(const HostListener&) = delete;
  HostListener& operator=(const HostListener&) = delete;
  ~HostListener() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string peers() const { return sys::read_file(peers_file_).value_or(""); }

 private:
  testkit::TempDir dir_;
  std::string peers_file_;
  std::string ready_file_;
  pid_t pid_ = -1;
};

// Regression for M7 (security review), the issue's acceptance test: "In a netns with two real
// guests: guest A cannot reach guest B (TCP, ICMP, ARP spoofing of B's address), cannot reach
// the host over IPv6 or on any bridge-address port but DNS, and (without NAT) cannot resolve
// external names; with NAT, its traffic is masqueraded and B still cannot be reached."
// Fails on 8f38f5a: checked by running it with 8f38f5a's nat_ruleset.cpp swapped in, the
// port isolation call and the resolver's policy checks taken out: 11 isolation expectations
// failed (A pinged and reached B's sshd, also with NAT and routed through the host; the ARP
// spoof took over B's address on the host, which then could not reach B; A pinged the bridge
// address and its IPv6 link-local; an external name was forwarded, not REFUSED). That run
// started the host listener before the bridge existed, so its probes were not exercised.
TEST_F(VmSuite, IsolationGuestsReachOnlyDnsOnTheHostAndNeverEachOther) {
  Upstream upstream(ns_);
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "iso-a", "iso-b"}).exit_code, 0);
  HostListener listener(ns_, "172.16.0.1", 7070);  // the bridge (and its address) exists now
  const std::string ip_a = show("iso-a")["guest_ip"];
  const std::string ip_b = show("iso-b")["guest_ip"];
  const std::string mac_a = show("iso-a")["mac"];
  const std::string mac_b = show("iso-b")["mac"];
  ASSERT_FALSE(ip_a.empty() || ip_b.empty() || mac_a.empty() || mac_b.empty());
  auto in_a = [&](const std::string& command) {
    return run({"vm", "ssh", "iso-a", "--", command});
  };
  auto in_b = [&](const std::string& command) {
    return run({"vm", "ssh", "iso-b", "--", command});
  };

  // Controls: the host reaches both guests; A's resolver (DNS on the bridge address) answers;
  // A's ARP and IPv6 stack work; the host listener takes connections from the host.
  EXPECT_EQ(in_ns(ns_, {"ping", "-c1", "-W2", ip_b}).exit_code, 0);
  EXPECT_THAT(in_a("nslookup iso-b.vm 172.16.0.1").out, HasSubstr(ip_b));
  EXPECT_EQ(in_a("arping -c 1 -w 2 -I eth0 172.16.0.1").exit_code, 0);
  EXPECT_EQ(in_a("ping6 -c1 -W2 ::1").exit_code, 0);
  EXPECT_THAT(in_ns(ns_, {"python3", "-c",
                          "import socket;print(socket.create_connection(('172.16.0.1',7070),"
                          "timeout=3).recv(16))"})
                  .out,
              HasSubstr("hello"));
  EXPECT_THAT(listener.peers(), HasSubstr("172.16.0.1"));

  // A cannot reach B: ICMP, TCP (B's sshd, whose banner would start with "SSH-").
  EXPECT_NE(in_a("ping -c1 -W2 " + ip_b).exit_code, 0);
  EXPECT_THAT(in_a("timeout 6 nc -w 3 " + ip_b + " 22 </dev/null; echo done").out,
              Not(HasSubstr("SSH-")));

  // ARP spoofing of B's address: A announces B's address as its own; the host keeps B's MAC.
  ASSERT_THAT(in_ns(ns_, {"ip", "neigh", "show", ip_b}).out, HasSubstr(mac_b));
  auto spoof = in_a("ip addr add " + ip_b + "/32 dev eth0 && arping -U -c 3 -I eth0 -s " + ip_b +
                    " " + ip_b + "; ip addr del " + ip_b + "/32 dev eth0");
  EXPECT_THAT(spoof.out + spoof.err, HasSubstr("Sent 3 probe"));  // the spoof was really sent
  auto neighbour = in_ns(ns_, {"ip", "neigh", "show", ip_b}).out;
  EXPECT_THAT(neighbour, HasSubstr(mac_b));
  EXPECT_THAT(neighbour, Not(HasSubstr(mac_a)));
  EXPECT_EQ(in_ns(ns_, {"ping", "-c1", "-W2", ip_b}).exit_code, 0);  // B is still B

  // The host: nothing but DNS on the bridge address (the host listener never sees A), no ICMP,
  // not the host's other addresses, nothing over IPv6.
  EXPECT_THAT(in_a("timeout 6 nc -w 3 172.16.0.1 7070 </dev/null; echo done").out,
              Not(HasSubstr("hello")));
  EXPECT_THAT(listener.peers(), Not(HasSubstr(ip_a)));
  EXPECT_NE(in_a("ping -c1 -W2 172.16.0.1").exit_code, 0);
  EXPECT_NE(in_a("ping -c1 -W2 198.51.100.2").exit_code, 0);
  std::string link_local = in_ns(ns_, {"sh", "-c",
                                       "ip -6 -o addr show dev br-fc scope link | "
                                       "sed -n 's/.*inet6 \\(fe80::[0-9a-f:]*\\).*/\\1/p'"})
                               .out;
  link_local = std::string(base::trim(link_local));
  ASSERT_FALSE(link_local.empty()) << "the bridge has no IPv6 link-local address";
  EXPECT_NE(in_a("ping6 -c1 -W2 " + link_local + "%eth0").exit_code, 0);

  // Without NAT: no external names (REFUSED at once), no upstream.
  auto external = in_a("nslookup example.com 172.16.0.1");
  EXPECT_THAT(external.out + external.err, HasSubstr("REFUSED"));
  EXPECT_NE(in_a("timeout 5 wget -q -O- http://198.51.100.1:9000/").exit_code, 0);
  EXPECT_EQ(upstream.peers(), "");

  // With NAT for A: masqueraded (the upstream sees the host's address), ICMP and nc work...
  ASSERT_EQ(run({"vm", "set", "iso-a", "--nat"}).exit_code, 0);
  EXPECT_THAT(in_a("timeout 5 wget -q -O- http://198.51.100.1:9000/").out, HasSubstr("ok"));
  EXPECT_THAT(in_a("timeout 6 nc -w 3 198.51.100.1 9000 </dev/null").out, HasSubstr("200 OK"));
  EXPECT_EQ(in_a("ping -c1 -W2 198.51.100.1").exit_code, 0);
  EXPECT_EQ(upstream.peers(), "198.51.100.2\n198.51.100.2\n");
  // ...its external names are no longer refused...
  auto forwarded = in_a("nslookup example.com 172.16.0.1");
  EXPECT_THAT(forwarded.out + forwarded.err, Not(HasSubstr("REFUSED")));
  // ...and B still cannot be reached, directly or routed through the host,
  EXPECT_NE(in_a("ping -c1 -W2 " + ip_b).exit_code, 0);
  EXPECT_EQ(in_a("ip route add " + ip_b + "/32 via 172.16.0.1").exit_code, 0);
  EXPECT_NE(in_a("ping -c1 -W2 " + ip_b).exit_code, 0);
  EXPECT_THAT(in_a("timeout 6 nc -w 3 " + ip_b + " 22 </dev/null; echo done").out,
              Not(HasSubstr("SSH-")));
  // while B (no NAT) gets no NAT by sending from A's address.
  EXPECT_EQ(in_b("ip addr add " + ip_a + "/32 dev eth0 && ip route add 198.51.100.1/32 via " +
                 "172.16.0.1 src " + ip_a)
                .exit_code,
            0);
  EXPECT_NE(in_b("timeout 5 wget -q -O- http://198.51.100.1:9000/").exit_code, 0);
  EXPECT_EQ(upstream.peers(), "198.51.100.2\n198.51.100.2\n");

  ASSERT_EQ(run({"vm", "delete", "iso-a", "iso-b"}).exit_code, 0);
  EXPECT_THAT(in_ns(ns_, {"nft", "list", "ruleset"}).out, Not(HasSubstr(ip_a)));
}

}  // namespace
}  // namespace banger::itest
