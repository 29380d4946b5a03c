// End-to-end test of NatService with the real nft, inside three network namespaces this test
// creates and always deletes: "host" (the bridge and NatService's table), "guest" (acting as
// the VM, behind a veth whose host end is a bridge port) and "up" (the upstream, behind a
// second veth, with no route back to the VM network). Nothing touches the main namespace:
// every command runs through `ip netns exec <ns>` or `ip -n <ns>`. Skipped unless root with
// ip, nft, python3 and ping (or busybox).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/hostnat/nat_service.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::hostnat {
namespace {

using Argv = std::vector<std::string>;

constexpr char kVmId[] = "0123456789abcdef";
constexpr char kGuestIp[] = "172.16.0.2";
constexpr char kBridge[] = "bgt-br0";
constexpr char kVmPort[] = "bgt-vm0";  // host end of the guest's veth: the VM's "TAP"
constexpr char kUpHostIp[] = "198.51.100.2";
constexpr char kUpIp[] = "198.51.100.1";

Argv in_ns(const std::string& ns, Argv argv) {
  Argv out{"ip", "netns", "exec", ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// Runs every command inside one network namespace (`ip netns exec <ns> ...`).
class NetnsCommandRunner final : public sys::CommandRunner {
 public:
  NetnsCommandRunner(sys::CommandRunner& inner, std::string ns)
      : inner_(inner), ns_(std::move(ns)) {}
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    sys::Command wrapped = command;
    wrapped.argv = in_ns(ns_, command.argv);
    return inner_.run(wrapped);
  }

 private:
  sys::CommandRunner& inner_;
  std::string ns_;
};

// ip_forward of the runner's namespace, through sysctl (the test process never leaves the main
// namespace, so it cannot write /proc/sys for another one itself).
class SysctlIpForwarding final : public IpForwarding {
 public:
  explicit SysctlIpForwarding(sys::CommandRunner& runner) : runner_(runner) {}
  Status enable() override {
    BANGER_TRY(sys::run_checked(runner_, {.argv = {"sysctl", "-w", "net.ipv4.ip_forward=1"}}));
    return {};
  }

 private:
  sys::CommandRunner& runner_;
};

std::string describe(const Status& status) { return status ? "ok" : status.error().message; }

std::string skip_reason() {
  if (auto why = testkit::first_missing({testkit::probe_root("create network namespaces"),
                                         testkit::probe_tools({"ip", "nft", "python3", "sysctl"})});
      !why.empty()) {
    return why;
  }
  if (sys::find_executable("ping").empty() && sys::find_executable("busybox").empty()) {
    return "needs ping or busybox in PATH";
  }
  return "";
}

Argv ping_argv(const char* target = kUpIp) {
  Argv ping = sys::find_executable("ping").empty() ? Argv{"busybox", "ping"} : Argv{"ping"};
  ping.insert(ping.end(), {"-c1", "-W1", target});
  return ping;
}

// Prints the address of the first peer that connects to kUpIp:9000, or "none" after 8 s.
constexpr char kTcpListener[] =
    "import socket\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('198.51.100.1', 9000))\n"
    "s.listen(1)\n"
    "s.settimeout(8)\n"
    "try:\n"
    "    c, a = s.accept()\n"
    "    print(a[0])\n"
    "except OSError:\n"
    "    print('none')\n";

// Connects to kUpIp:9000, retrying for up to 6 s while the listener starts.
constexpr char kTcpConnector[] =
    "import socket, time\n"
    "deadline = time.monotonic() + 6\n"
    "while time.monotonic() < deadline:\n"
    "    try:\n"
    "        socket.create_connection(('198.51.100.1', 9000), timeout=1).close()\n"
    "        print('connected')\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.1)\n"
    "else:\n"
    "    print('failed')\n";

// Prints the source of the first datagram to kUpIp:9001, or "none" after 3 s.
constexpr char kUdpListener[] =
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('198.51.100.1', 9001))\n"
    "s.settimeout(3)\n"
    "try:\n"
    "    d, a = s.recvfrom(64)\n"
    "    print(a[0])\n"
    "except OSError:\n"
    "    print('none')\n";

// Sends a datagram to kUpIp:9001 every 0.1 s for 2 s (the listener starts meanwhile).
constexpr char kUdpSender[] =
    "import socket, time\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "for _ in range(20):\n"
    "    try:\n"
    "        s.sendto(b'x', ('198.51.100.1', 9001))\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(0.1)\n";

class NatNetns {
 public:
  explicit NatNetns(sys::CommandRunner& runner)
      : runner_(runner),
        prefix_("bgt-nat-" + std::to_string(::getpid())),
        host(prefix_ + "-host"),
        guest(prefix_ + "-guest"),
        up(prefix_ + "-up") {}
  NatNetns(const NatNetns&) = delete;
  NatNetns& operator=(const NatNetns&) = delete;
  // Deletes the namespaces (and with them every link, rule and process-less socket in them).
  ~NatNetns() {
    for (const auto& ns : {host, guest, up}) {
      (void)runner_.run({.argv = {"ip", "netns", "del", ns}});
    }
  }

  // host: bridge kBridge 172.16.0.1/24 with port kVmPort, and bgt-up0 kUpHostIp/24.
  // guest: eth0 kGuestIp/24, default route via 172.16.0.1. up: eth0 kUpIp/24, no routes back.
  Status create() {
    for (const auto& ns : {host, guest, up}) {
      BANGER_TRY(run({"ip", "netns", "add", ns}));
    }
    std::vector<Argv> steps = {
        {"ip", "-n", host, "link", "add", kBridge, "type", "bridge"},
        {"ip", "-n", host, "addr", "add", "172.16.0.1/24", "dev", kBridge},
        {"ip", "-n", host, "link", "set", kBridge, "up"},
        {"ip", "-n", host, "link", "add", kVmPort, "type", "veth", "peer", "name", "eth0", "netns",
         guest},
        {"ip", "-n", host, "link", "set", kVmPort, "master", kBridge},
        {"ip", "-n", host, "link", "set", kVmPort, "up"},
        {"ip", "-n", guest, "addr", "add", std::string(kGuestIp) + "/24", "dev", "eth0"},
        {"ip", "-n", guest, "link", "set", "eth0", "up"},
        {"ip", "-n", guest, "link", "set", "lo", "up"},
        {"ip", "-n", guest, "route", "add", "default", "via", "172.16.0.1"},
        {"ip", "-n", host, "link", "add", "bgt-up0", "type", "veth", "peer", "name", "eth0",
         "netns", up},
        {"ip", "-n", host, "addr", "add", std::string(kUpHostIp) + "/24", "dev", "bgt-up0"},
        {"ip", "-n", host, "link", "set", "bgt-up0", "up"},
        {"ip", "-n", up, "addr", "add", std::string(kUpIp) + "/24", "dev", "eth0"},
        {"ip", "-n", up, "link", "set", "eth0", "up"},
        {"ip", "-n", up, "link", "set", "lo", "up"},
    };
    for (const auto& step : steps) {
      BANGER_TRY(run(step));
    }
    return {};
  }

  // Runs argv to completion; its stdout, or "<error: ...>".
  std::string output(const Argv& argv) {
    auto out = sys::run_checked(runner_, {.argv = argv, .timeout = std::chrono::seconds(20)});
    return out ? *out : "<error: " + out.error().message + ">";
  }

  Status run(const Argv& argv) {
    BANGER_TRY(sys::run_checked(runner_, {.argv = argv}));
    return {};
  }

  bool guest_pings_up() { return guest_pings(kUpIp); }
  bool guest_pings(const char* target) {
    auto result = runner_.run({.argv = in_ns(guest, ping_argv(target))});
    return result && result->exit_code == 0;
  }

  // Pings until it works, for up to 5 tries (ARP and the bridge port may need a moment).
  bool guest_pings_up_eventually() {
    for (int i = 0; i < 5; ++i) {
      if (guest_pings_up()) {
        return true;
      }
    }
    return false;
  }

  // Runs listener in up and client in guest at once; returns what the listener printed.
  std::string listen_in_up(const char* listener, const char* client) {
    std::string heard;
    std::thread listen([&] { heard = output(in_ns(up, {"python3", "-c", listener})); });
    (void)output(in_ns(guest, {"python3", "-c", client}));
    listen.join();
    return std::string(base::trim(heard));
  }

  std::string host_ip_forward() {
    return std::string(base::trim(output(in_ns(host, {"cat", "/proc/sys/net/ipv4/ip_forward"}))));
  }

  std::string host_table() { return output(in_ns(host, {"nft", "list", "table", "ip", "banger"})); }

 private:
  sys::CommandRunner& runner_;
  std::string prefix_;

 public:
  const std::string host;
  const std::string guest;
  const std::string up;
};

TEST(NatServiceNetns, MasqueradesOnlyNatVmsThroughARealHost) {
  if (auto reason = skip_reason(); !reason.empty()) {
    GTEST_SKIP() << reason;
  }
  sys::PosixCommandRunner posix;
  NatNetns net(posix);  // its destructor deletes the namespaces, also when an ASSERT returns
  ASSERT_EQ(describe(net.create()), "ok");

  NetnsCommandRunner host_runner(posix, net.host);
  SysctlIpForwarding forwarding(host_runner);
  NatService nat({.runner = host_runner,
                  .ip_forwarding = forwarding,
                  .bridge_name = kBridge,
                  .bridge_cidr = "172.16.0.1/24"});
  ASSERT_TRUE(nat.check_prerequisites());
  // Before any table the guest reaches the host's other addresses (plain Linux routing).
  EXPECT_TRUE(net.guest_pings(kUpHostIp));
  ASSERT_TRUE(net.run(in_ns(net.host, {"sysctl", "-w", "net.ipv4.ip_forward=0"})));

  // Without NAT: the guest reaches the host's bridge address only.
  ASSERT_EQ(describe(nat.rebuild({})), "ok");
  EXPECT_FALSE(net.guest_pings_up());
  EXPECT_TRUE(net.guest_pings("172.16.0.1"));
  EXPECT_FALSE(net.guest_pings(kUpHostIp)) << net.host_table();

  // With NAT: forwarding is on, and up sees the host's upstream address, never the guest's.
  ASSERT_EQ(describe(nat.enable(kVmId, kGuestIp, kVmPort)), "ok");
  EXPECT_EQ(net.host_ip_forward(), "1");
  EXPECT_TRUE(net.guest_pings_up_eventually()) << net.host_table();
  EXPECT_EQ(net.listen_in_up(kTcpListener, kTcpConnector), kUpHostIp) << net.host_table();
  EXPECT_EQ(net.listen_in_up(kUdpListener, kUdpSender), kUpHostIp) << net.host_table();

  // NAT disabled again: forwarding stays on, yet nothing from the guest gets past the host.
  ASSERT_EQ(describe(nat.disable(kVmId)), "ok");
  EXPECT_EQ(net.host_ip_forward(), "1");
  EXPECT_FALSE(net.guest_pings_up());
  EXPECT_EQ(net.listen_in_up(kUdpListener, kUdpSender), "none");
  std::string table = net.host_table();
  EXPECT_EQ(table.find(kGuestIp), std::string::npos) << table;
  EXPECT_NE(table.find("iifname \"bgt-br0\" drop"), std::string::npos) << table;

  // rebuild() is idempotent: the same list twice gives the same ruleset.
  NatVm vm{.vm_id = kVmId, .ip = kGuestIp, .tap = kVmPort};
  ASSERT_EQ(describe(nat.rebuild({vm})), "ok");
  std::string first = net.host_table();
  ASSERT_EQ(describe(nat.rebuild({vm})), "ok");
  EXPECT_EQ(net.host_table(), first);
  EXPECT_NE(first.find("ip saddr 172.16.0.2 oifname != \"bgt-br0\" masquerade comment \"vm "
                       "0123456789abcdef\""),
            std::string::npos)
      << first;
  EXPECT_TRUE(net.guest_pings_up_eventually()) << first;

  // remove_all() deletes the table; twice is fine.
  ASSERT_EQ(describe(nat.remove_all()), "ok");
  ASSERT_EQ(describe(nat.remove_all()), "ok");
  EXPECT_EQ(net.output(in_ns(net.host, {"nft", "list", "tables"})), "");
}

}  // namespace
}  // namespace banger::hostnat
