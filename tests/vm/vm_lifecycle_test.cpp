// Real microVMs end to end (issue 4 acceptance): the real banger/bangerd binaries, QEMU
// microvm (TCG here), the tiny image and the debian-cloud kernel. Artifacts are obtained once
// in the main namespace (apt needs the network); every VM, bridge and TAP then lives in a
// private network namespace this suite creates and deletes (the daemon is started inside
// it). BANGER_REQUIRE_NETNS makes the daemon refuse to create links anywhere else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "../integration/harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class VmSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = probe();
    if (!skip_reason_.empty()) {
      return;
    }
    home_ = new BangerHome();
    home_->write_config("[vm_defaults]\nvcpu = 1\nmemory_mib = 256\ndisk_size = \"256M\"\n");
    auto pulled = home_->banger({"kernel", "pull", "debian-cloud"});
    auto built = home_->banger({"image", "build", "tiny"});
    home_->banger({"daemon", "stop"});
    if (pulled.exit_code != 0 || built.exit_code != 0) {
      skip_reason_ = "could not obtain artifacts: " + pulled.err + built.err;
      return;
    }
    ns_ = "bgt-vm-" + std::to_string(::getpid());
    sys::PosixCommandRunner runner;
    auto added = runner.run({.argv = {"ip", "netns", "add", ns_}});
    (void)runner.run({.argv = {"ip", "-n", ns_, "link", "set", "lo", "up"}});
    if (!added || added->exit_code != 0) {
      skip_reason_ = "cannot create a network namespace";
    }
  }

  static void TearDownTestSuite() {
    if (home_ != nullptr) {
      if (!ns_.empty()) {
        auto listed = home_->banger_in(ns_, {"vm", "list", "--json"});
        auto vms = nlohmann::json::parse(listed.out, nullptr, false);
        if (vms.is_array()) {
          for (const auto& vm : vms) {
            home_->banger_in(ns_, {"vm", "delete", vm["name"].get<std::string>()});
          }
        }
      }
      delete home_;  // stops the daemon (by pid as a last resort)
      home_ = nullptr;
    }
    if (!ns_.empty()) {
      sys::PosixCommandRunner runner;
      (void)runner.run({.argv = {"ip", "netns", "del", ns_}});
    }
  }

  void SetUp() override {
    if (!skip_reason_.empty()) {
      GTEST_SKIP() << skip_reason_;
    }
  }

  static std::string probe() {
    if (::geteuid() != 0) {
      return "needs root (network namespace, TAP devices)";
    }
    for (const char* tool : {"qemu-system-x86_64", "qemu-img", "ssh", "ssh-keyscan", "ip"}) {
      if (sys::find_executable(tool).empty()) {
        return std::string(tool) + " not installed (scripts/install-deps.sh)";
      }
    }
    sys::PosixCommandRunner runner;
    auto apt = runner.run({.argv = {"apt-get", "download", "--print-uris", "busybox-static"}});
    if (!apt || apt->exit_code != 0) {
      return "the host's apt archive is not reachable";
    }
    return {};
  }

  sys::CommandResult run(const std::vector<std::string>& args) {
    return home_->banger_in(ns_, args);
  }
  nlohmann::json show(const std::string& name) {
    return nlohmann::json::parse(run({"vm", "show", name, "--json"}).out, nullptr, false);
  }
  std::string ssh(const std::string& name, const std::string& command) {
    auto r = run({"vm", "ssh", name, "--", command});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  // No qemu process of this suite's BANGER_HOME runs for the VM id.
  static bool qemu_running_for(const std::string& vm_id) {
    sys::PosixCommandRunner runner;
    auto r = runner.run({.argv = {"pgrep", "-f", "vms/" + vm_id + "/"}});
    return r && r->exit_code == 0;
  }

  static inline std::string skip_reason_;
  static inline BangerHome* home_ = nullptr;
  static inline std::string ns_;
};

TEST_F(VmSuite, RunExitsWithTheGuestCommandsCodeAndRmLeavesNothing) {
  auto r = run({"vm", "run", "--name", "r1", "--image", "tiny", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  run({"vm", "delete", "r1"});

  auto rm = run({"vm", "run", "--rm", "--name", "r2", "--image", "tiny", "--", "true"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  auto vms = nlohmann::json::parse(run({"vm", "list", "--json"}).out);
  for (const auto& vm : vms) {
    EXPECT_NE(vm["name"], "r2");
  }
  // No record (above), no disk, no VMM process.
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(home_->dir() + "/state/vms", ec)) << ec.message();
  sys::PosixCommandRunner runner;
  auto qemu = runner.run({.argv = {"pgrep", "-f", home_->dir() + "/state/vms/"}});
  ASSERT_TRUE(qemu);
  EXPECT_NE(qemu->exit_code, 0) << "a VMM still runs: " << qemu->out;
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
  auto pid_text = sys::read_file(home_->dir() + "/run/bangerd.lock");
  ASSERT_TRUE(pid_text);
  int daemon_pid = std::atoi(pid_text->c_str());
  ASSERT_EQ(::kill(daemon_pid, SIGKILL), 0);
  for (int i = 0; i < 50 && ::kill(daemon_pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  // While no daemon runs, one VMM dies.
  ASSERT_EQ(::kill(dead_qemu, SIGKILL), 0);
  std::this_thread::sleep_for(500ms);

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

}  // namespace
}  // namespace banger::itest
