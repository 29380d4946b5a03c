// A VMM that exits on its own (guest kernel panic, a kill from outside such as the OOM killer)
// is noticed at once by the daemon's VmmWatcher: the VM goes to `error` with the reason, and
// its TAP, DNS record and NAT rule are released (issue 10; the state machine's `crash` event).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST_F(VmSuite, AVmmThatDiesOnItsOwnIsNoticedAtOnceAndItsNetworkReleased) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--nat", "--name", "c1"}).exit_code, 0);
  std::string ip = show("c1")["guest_ip"];
  std::string console_log =
      home_->dir() + "/state/vms/" + show("c1")["id"].get<std::string>() + "/console.log";
  auto released = [&](const char* how) {
    auto vm = show("c1");
    EXPECT_EQ(vm["tap"], "") << how;
    EXPECT_EQ(vm["pid"], 0) << how;
    EXPECT_THAT(in_ns(ns_, {"nft", "list", "table", "ip", "banger"}).out, Not(HasSubstr(ip)))
        << how;
    EXPECT_THAT(in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "c1.vm"}).out,
                HasSubstr("NXDOMAIN"))
        << how;
  };

  // A guest kernel panic: panic=1 reboots, and QEMU runs with -no-reboot, so it exits.
  (void)run({"vm", "exec", "c1", "--", "sh", "-c", "echo c > /proc/sysrq-trigger"});
  EXPECT_TRUE(testkit::eventually([&] { return show("c1")["state"] == "error"; }, 30s))
      << show("c1").dump() << "\nconsole:\n"
      << sys::read_file(console_log).value_or("(none)");
  EXPECT_THAT(show("c1")["last_error"].get<std::string>(), HasSubstr("Kernel panic"));
  released("after a guest panic");

  // Started again, then its VMM is SIGKILLed from outside (as the OOM killer would).
  ASSERT_EQ(run({"vm", "start", "c1"}).exit_code, 0);
  int pid = show("c1")["pid"];
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(testkit::eventually([&] { return show("c1")["state"] == "error"; }, 10s));
  EXPECT_THAT(show("c1")["last_error"].get<std::string>(), HasSubstr("killed by signal 9"));
  released("after SIGKILL");

  ASSERT_EQ(run({"vm", "delete", "c1"}).exit_code, 0);
}

// vm kill --signal on a real QEMU: SIGUSR1 is QEMU's own (its vCPU kick, blocked or handled in
// every thread), so the VM keeps running and answers; SIGTERM makes QEMU exit cleanly, and the
// VM ends stopped with its network released exactly as after a SIGKILL kill.
TEST_F(VmSuite, VmKillSignalReachesQemuAndOnlyAnExitReleasesTheVm) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--nat", "--name", "sig1"}).exit_code, 0);
  std::string ip = show("sig1")["guest_ip"];
  std::string id = show("sig1")["id"];

  auto survived = run({"vm", "kill", "-s", "USR1", "sig1"});
  ASSERT_EQ(survived.exit_code, 0) << survived.err;
  EXPECT_THAT(survived.out, HasSubstr("sig1 running (its VMM survived SIGUSR1"));
  EXPECT_EQ(show("sig1")["state"], "running");
  EXPECT_NE(show("sig1")["tap"], "");
  EXPECT_EQ(ssh("sig1", "echo alive"), "alive\n");

  auto stopped = run({"vm", "kill", "--signal", "SIGTERM", "sig1"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(stopped.out, "sig1 stopped\n");
  auto vm = show("sig1");
  EXPECT_EQ(vm["state"], "stopped");
  EXPECT_EQ(vm["tap"], "");
  EXPECT_EQ(vm["pid"], 0);
  EXPECT_FALSE(qemu_running_for(id));
  EXPECT_THAT(in_ns(ns_, {"nft", "list", "table", "ip", "banger"}).out, Not(HasSubstr(ip)));
  EXPECT_THAT(in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "sig1.vm"}).out,
              HasSubstr("NXDOMAIN"));

  EXPECT_EQ(run({"vm", "kill", "-s", "STOP", "sig1"}).exit_code, 2);  // refused by the CLI
  ASSERT_EQ(run({"vm", "delete", "sig1"}).exit_code, 0);
}

}  // namespace
}  // namespace banger::itest
