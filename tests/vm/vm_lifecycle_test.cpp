// Real microVMs end to end (issue 4 acceptance): the real banger/bangerd binaries, QEMU
// microvm (TCG here), the tiny image and the debian-cloud kernel. Artifacts are obtained once
// in the main namespace (apt needs the network); every VM, bridge and TAP then lives in a
// private network namespace this suite creates and deletes (the daemon is started inside
// it). BANGER_REQUIRE_NETNS makes the daemon refuse to create links anywhere else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "../integration/harness.hpp"
#include "vm_suite.hpp"
#include <nlohmann/json.hpp>

#include "banger/base/defer.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

TEST_F(VmSuite, RunExitsWithTheGuestCommandsCodeAndRmLeavesNothing) {
  auto r = run({"vm", "run", "--name", "r1", "--image", "tiny", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  // Command mode waits for the agent, not sshd (ready "agent"); the host key is pinned all the
  // same, from the agent's report: it is the key the guest printed on its console, and `vm ssh`
  // right away works (it waits for sshd) with StrictHostKeyChecking on.
  auto known = sys::read_file(home_->dir() + "/state/ssh/known_hosts");
  ASSERT_TRUE(known);
  auto console = run({"vm", "logs", "r1"});
  auto at = console.out.find("banger-hostkey: ssh-ed25519 ");
  ASSERT_NE(at, std::string::npos) << console.out;
  std::string printed = console.out.substr(at + 16, console.out.find(' ', at + 28) - at - 16);
  EXPECT_THAT(*known, HasSubstr(",r1.vm " + printed)) << printed;
  EXPECT_EQ(ssh("r1", "echo ssh-after-agent-readiness"), "ssh-after-agent-readiness\n");
  run({"vm", "delete", "r1"});

  auto rm = run({"vm", "run", "--rm", "--name", "r2", "--image", "tiny", "--", "true"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  expect_vm_gone("r2");
}

TEST_F(VmSuite, StopStartKeepsWorkDiskDataAndDeleteRemovesEverything) {
  auto created = run({"vm", "create", "--image", "tiny", "--name", "a"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(ssh("a", "uname -r"), HasSubstr("cloud-amd64"));
  ssh("a", "echo kept-across-restarts > /root/data.txt; sync");
  auto stopped = run({"vm", "stop", "a"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(show("a")["state"], "stopped");
  EXPECT_EQ(show("a")["tap"], "");
  auto started = run({"vm", "start", "a"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_THAT(ssh("a", "cat /root/data.txt"), HasSubstr("kept-across-restarts"));
  auto restarted = run({"vm", "restart", "a"});
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  EXPECT_EQ(show("a")["state"], "running");
  std::string id = show("a")["id"];
  std::string ip = show("a")["guest_ip"];
  ASSERT_EQ(run({"vm", "delete", "a"}).exit_code, 0);
  EXPECT_FALSE(sys::path_exists(home_->dir() + "/state/vms/" + id));
  EXPECT_FALSE(qemu_running_for(id));
  auto known = sys::read_file(home_->dir() + "/state/ssh/known_hosts");
  if (known) {
    EXPECT_THAT(*known, ::testing::Not(HasSubstr("a.vm")));
    EXPECT_THAT(*known, ::testing::Not(HasSubstr(ip + ",")));
  }
}

TEST_F(VmSuite, ThreeVmsCreatedByOneCommandBootConcurrentlyAndAnswerSsh) {
  auto created = run({"vm", "create", "--image", "tiny", "t1", "t2", "t3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  for (const char* name : {"t1", "t2", "t3"}) {
    EXPECT_THAT(ssh(name, "hostname"), HasSubstr(name));
  }
  ASSERT_EQ(run({"vm", "delete", "t1", "t2", "t3"}).exit_code, 0);
}

TEST_F(VmSuite, DaemonCrashKeepsLiveVmsAndStopsDeadOnes) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "live", "dead"}).exit_code, 0);
  int dead_qemu = show("dead")["pid"];
  ASSERT_GT(dead_qemu, 0);
  ASSERT_NO_FATAL_FAILURE(crash_daemon());
  // While no daemon runs, one VMM dies.
  ASSERT_EQ(::kill(dead_qemu, SIGKILL), 0);
  // Its parent (the daemon) is gone, so init reaps it; wait until the pid is free.
  ASSERT_TRUE(testkit::eventually([&] { return ::kill(dead_qemu, 0) != 0; }));

  auto live = show("live");  // starts a new daemon, which reconciles first
  EXPECT_EQ(live["state"], "running");
  EXPECT_THAT(ssh("live", "echo still-here"), HasSubstr("still-here"));
  auto dead = show("dead");
  EXPECT_EQ(dead["state"], "stopped");
  EXPECT_EQ(dead["tap"], "");
  EXPECT_EQ(dead["pid"], 0);
  ASSERT_EQ(run({"vm", "delete", "live", "dead"}).exit_code, 0);
}

TEST_F(VmSuite, FailedStartLeavesErrorWithAReadableReasonAndNothingRunning) {
  // A kernel whose vmlinux disappeared: QEMU exits at once.
  testkit::TempDir dir;
  std::string vmlinux = home_->dir() + "/state/kernels/debian-cloud/vmlinux";
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/k"));
  sys::PosixCommandRunner runner;
  ASSERT_TRUE(runner.run({.argv = {"cp", vmlinux, dir.path() + "/k/vmlinux"}}));
  ASSERT_EQ(run({"kernel", "import", "broken", "--from", dir.path() + "/k"}).exit_code, 0);
  ASSERT_TRUE(sys::remove_all(home_->dir() + "/state/kernels/broken/vmlinux"));
  auto r = run({"vm", "create", "--image", "tiny", "--kernel", "broken", "--name", "f"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("starting vm \"f\""));
  auto f = show("f");
  EXPECT_EQ(f["state"], "error");
  EXPECT_THAT(f["last_error"].get<std::string>(), HasSubstr("kernel"));
  EXPECT_EQ(f["pid"], 0);
  EXPECT_EQ(f["tap"], "");
  EXPECT_FALSE(qemu_running_for(f["id"]));
  ASSERT_EQ(run({"vm", "delete", "f"}).exit_code, 0);
  run({"kernel", "rm", "broken"});
}

TEST_F(VmSuite, ChangedHostKeyMakesVmSshFailWithAClearMessage) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "h"}).exit_code, 0);
  std::string ip = show("h")["guest_ip"];
  // Pretend an earlier guest at this address had another key.
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  ASSERT_TRUE(runner.run(
      {.argv = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.path() + "/other"}}));
  auto other = sys::read_file(dir.path() + "/other.pub");
  ASSERT_TRUE(other);
  auto fields = base::split(*other, ' ');
  std::string known = home_->dir() + "/state/ssh/known_hosts";
  ASSERT_TRUE(
      sys::write_file_atomic(known, ip + ",h.vm " + fields[0] + " " + fields[1] + "\n", 0600));
  auto r = run({"vm", "ssh", "h", "--", "true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("host key for"));
  EXPECT_THAT(r.err, HasSubstr("changed"));
  ASSERT_EQ(run({"vm", "delete", "h"}).exit_code, 0);
}

// --- Guest integration (issue 5): agent, ports, stats, DNS, NAT ---

TEST_F(VmSuite, AgentAnswersHealthPortsListsHttpWithVmUrlsAndStatsAreLive) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "p1", "p2"}).exit_code, 0);
  auto health = nlohmann::json::parse(run({"vm", "health", "p1", "--json"}).out, nullptr, false);
  ASSERT_TRUE(health.is_object());
  EXPECT_EQ(health["hostname"], "p1");
  EXPECT_GT(health["uptime_s"].get<double>(), 0.0);
  EXPECT_FALSE(health["agent_version"].get<std::string>().empty());
  // Readiness waited for the agent first (S8).
  auto log = sys::read_file(home_->log_file());
  ASSERT_TRUE(log);
  EXPECT_THAT(*log, HasSubstr("vm p1: agent"));

  ssh("p1",
      "mkdir -p /tmp/www && echo hi > /tmp/www/index.html && busybox httpd -p 8080 -h "
      "/tmp/www");
  auto listed = run({"vm", "ports", "p1", "p2", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto vms = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(vms.is_array());
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0]["name"], "p1");
  EXPECT_EQ(vms[1]["name"], "p2");
  bool found_http = false;
  bool found_ssh = false;
  for (const auto& port : vms[0]["ports"]) {
    if (port["port"] == 8080) {
      found_http = true;
      EXPECT_EQ(port["endpoint"], "p1.vm:8080");
      EXPECT_EQ(port["url"], "http://p1.vm:8080");
      EXPECT_EQ(port["process"], "busybox");
    }
    if (port["port"] == 22) {
      found_ssh = true;
      EXPECT_EQ(port["url"], "");  // ssh is not HTTP
    }
  }
  EXPECT_TRUE(found_http) << listed.out;
  EXPECT_TRUE(found_ssh) << listed.out;
  auto table = run({"vm", "ports", "p1"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("http://p1.vm:8080")) << table.err;

  auto stats = nlohmann::json::parse(run({"vm", "stats", "p1", "--json"}).out, nullptr, false);
  ASSERT_TRUE(stats.is_array());
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_GT(stats[0]["rss_bytes"].get<std::int64_t>(), 16 << 20);
  EXPECT_GT(stats[0]["cpu_seconds"].get<double>(), 0.0);
  EXPECT_GT(stats[0]["disk_allocated_bytes"].get<std::int64_t>(), 0);
  EXPECT_GT(stats[0]["guest_uptime_s"].get<double>(), 0.0);
  EXPECT_THAT(run({"vm", "stats"}).out, HasSubstr("p2"));  // no names: every running VM
  ASSERT_EQ(run({"vm", "delete", "p1", "p2"}).exit_code, 0);
}

TEST_F(VmSuite, AgentSurvivesMalformedFramesAndAHostThatHangsUpMidRequest) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "ag"}).exit_code, 0);
  std::string id = show("ag")["id"];
  std::string socket = home_->dir() + "/run/" + id + ".agent";
  // The daemon's side of the agent's authentication (ADR 0012): the VM's token.
  auto token = sys::read_file(home_->dir() + "/state/vms/" + id + "/agent.token");
  ASSERT_TRUE(token);
  const std::string auth = "\n{\"v\":1,\"id\":1,\"method\":\"auth\",\"params\":{\"token\":\"" +
                           std::string(base::trim(*token)) + "\"}}\n";
  // Half a request, then the host goes away.
  EXPECT_EQ(agent_exchange(socket, R"({"v":1,"id":5,"method":"hea)", "", 300ms), "");
  // Garbage after authenticating gets an error reply, and the agent keeps serving.
  std::string replies = agent_exchange(socket, auth + "not json at all\n", "bad_request", 5000ms);
  EXPECT_THAT(replies, HasSubstr("bad_request"));
  std::string good = agent_exchange(socket, auth + "{\"v\":1,\"id\":77,\"method\":\"health\"}\n",
                                    "\"id\":77", 5000ms);
  EXPECT_THAT(good, HasSubstr("\"id\":77"));
  EXPECT_THAT(good, HasSubstr("uptime_s"));
  EXPECT_EQ(run({"vm", "health", "ag"}).exit_code, 0);
  // Stop goes through the agent (sync + poweroff): the VMM exits well within the grace period.
  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(run({"vm", "stop", "ag"}).exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 9s);
  ASSERT_EQ(run({"vm", "delete", "ag"}).exit_code, 0);
}

TEST_F(VmSuite, VmNamesResolveOnTheHostAndFromOtherGuests) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "d1", "d2"}).exit_code, 0);
  std::string ip1 = show("d1")["guest_ip"];
  std::string ip2 = show("d2")["guest_ip"];
  auto dig = in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "d1.vm", "+norecurse"});
  EXPECT_THAT(dig.out, HasSubstr("status: NOERROR"));
  EXPECT_THAT(dig.out, HasSubstr(" aa"));
  EXPECT_THAT(dig.out, HasSubstr(ip1));
  auto unknown = in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "nosuchvm.vm"});
  EXPECT_THAT(unknown.out, HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(unknown.out, HasSubstr(" aa"));
  auto outside = in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "example.com"});
  EXPECT_THAT(outside.out, HasSubstr("status: REFUSED"));
  // The guest asks its resolver (the bridge address, from resolv.conf) for the other VM.
  EXPECT_THAT(ssh("d1", "nslookup d2.vm"), HasSubstr(ip2));
  // Records follow the lifecycle: a stopped VM's name is gone.
  ASSERT_EQ(run({"vm", "stop", "d2"}).exit_code, 0);
  EXPECT_THAT(in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "d2.vm"}).out,
              HasSubstr("status: NXDOMAIN"));
  ASSERT_EQ(run({"vm", "delete", "d1", "d2"}).exit_code, 0);
}

// An "upstream" namespace joined to the suite's namespace by veth: 198.51.100.1 there,

TEST_F(VmSuite, NatIsOptInChangeableOnARunningVmAndGoneWithTheVm) {
  Upstream upstream(ns_);
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "n"}).exit_code, 0);
  std::string ip = show("n")["guest_ip"];
  const std::string fetch = "timeout 5 wget -q -O- http://198.51.100.1:9000/";
  auto blocked = run({"vm", "ssh", "n", "--", fetch});
  EXPECT_NE(blocked.exit_code, 0) << "reached the upstream without --nat";
  EXPECT_EQ(upstream.peers(), "");
  // S7: only DNS on the host's bridge address answers (no ICMP), its other addresses do not
  // (isolation_test.cpp has the rest).
  EXPECT_THAT(ssh("n", "nslookup n.vm 172.16.0.1"), HasSubstr(ip));
  EXPECT_NE(run({"vm", "ssh", "n", "--", "ping -c1 -W2 172.16.0.1"}).exit_code, 0);
  EXPECT_NE(run({"vm", "ssh", "n", "--", "ping -c1 -W2 198.51.100.2"}).exit_code, 0);

  ASSERT_EQ(run({"vm", "set", "n", "--nat"}).exit_code, 0);
  EXPECT_THAT(ssh("n", fetch), HasSubstr("ok"));
  EXPECT_EQ(upstream.peers(), "198.51.100.2\n");  // masqueraded, not the guest's address
  auto ruleset = in_ns(ns_, {"nft", "list", "table", "ip", "banger"});
  EXPECT_THAT(ruleset.out, HasSubstr(ip));

  // Killing the daemon and flushing the table: the next daemon rebuilds rules and records.
  ASSERT_NO_FATAL_FAILURE(crash_daemon());
  ASSERT_EQ(in_ns(ns_, {"nft", "delete", "table", "ip", "banger"}).exit_code, 0);
  EXPECT_EQ(show("n")["state"], "running");  // a new daemon, reconciled
  EXPECT_THAT(in_ns(ns_, {"nft", "list", "table", "ip", "banger"}).out, HasSubstr(ip));
  EXPECT_THAT(in_ns(ns_, {"dig", "@127.0.0.1", "-p", "42069", "n.vm", "+short"}).out,
              HasSubstr(ip));
  EXPECT_THAT(ssh("n", fetch), HasSubstr("ok"));

  ASSERT_EQ(run({"vm", "set", "n", "--no-nat"}).exit_code, 0);
  EXPECT_NE(run({"vm", "ssh", "n", "--", fetch}).exit_code, 0) << "--no-nat did not cut it";
  ASSERT_EQ(run({"vm", "set", "n", "--nat"}).exit_code, 0);
  ASSERT_EQ(run({"vm", "delete", "n"}).exit_code, 0);
  EXPECT_THAT(in_ns(ns_, {"nft", "list", "ruleset"}).out, ::testing::Not(HasSubstr(ip)));
}

TEST_F(VmSuite, StaleVmsAreStoppedAfterAutoStopStaleAfter) {
  home_->write_config(std::string("auto_stop_stale_after = \"3s\"\n") + kSizes);
  run({"daemon", "stop"});
  // The daemon and config are shared by the suite: put the config back even when an ASSERT
  // below returns early, or every later test would run with a 3 s reaper.
  base::Defer restore([this] {
    home_->write_config(kSizes);
    run({"daemon", "stop"});
  });
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "stale"}).exit_code, 0);
  std::string state;
  for (int i = 0; i < 100 && state != "stopped"; ++i) {
    std::this_thread::sleep_for(200ms);
    state = show("stale")["state"];
  }
  EXPECT_EQ(state, "stopped");
  auto log = sys::read_file(home_->log_file());
  EXPECT_THAT(log.value_or(""), HasSubstr("vm stale untouched for 3 s or more"));
  ASSERT_EQ(run({"vm", "delete", "stale"}).exit_code, 0);
}

TEST_F(VmSuite, ExecRunsThroughTheAgentWithExitCodesStdinAndLargeOutputIntact) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "x"}).exit_code, 0);
  EXPECT_EQ(run({"vm", "exec", "x", "--", "sh", "-c", "exit 42"}).exit_code, 42);
  auto echoed = home_->banger_in(ns_, {"vm", "exec", "x", "--", "cat"});
  EXPECT_EQ(echoed.exit_code, 0);
  sys::PosixCommandRunner runner;
  auto piped = runner.run({.argv = {"ip", "netns", "exec", ns_, bin("banger"), "vm", "exec", "x",
                                    "-e", "GREETING=hi", "--", "sh", "-c", "cat; echo $GREETING"},
                           .stdin_data = "from stdin\n",
                           .env_overrides = {{"BANGER_HOME", home_->dir()},
                                             {"HOME", home_->dir() + "/home"},
                                             {"BANGER_REQUIRE_NETNS", "1"}}});
  ASSERT_TRUE(piped);
  EXPECT_EQ(piped->out, "from stdin\nhi\n") << piped->err;
  // 10.5 MiB of random bytes: the guest prints their md5 on stderr, the bytes on stdout.
  auto big =
      run({"vm", "exec", "x", "--", "sh", "-c",
           "head -c 11010048 /dev/urandom > /tmp/blob; md5sum < /tmp/blob >&2; cat /tmp/blob"});
  ASSERT_EQ(big.exit_code, 0) << big.err;
  EXPECT_EQ(big.out.size(), 11010048u);
  auto md5 = runner.run({.argv = {"md5sum"}, .stdin_data = big.out});
  ASSERT_TRUE(md5);
  EXPECT_EQ(md5->out.substr(0, 32), big.err.substr(0, 32));
  auto missing = run({"vm", "exec", "x", "--", "no-such-program"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no-such-program"));
  ASSERT_EQ(run({"vm", "delete", "x"}).exit_code, 0);
}

}  // namespace
}  // namespace banger::itest
