// Proves the artifacts before the VM lifecycle builds on them: boots the pulled debian-cloud
// kernel + banger initramfs with the `tiny` image under plain `qemu-system-x86_64 -M microvm`
// (TCG unless KVM is really usable) inside a private network namespace, and logs in to the
// guest's sshd with a key placed on a work disk (/dev/vdb, mounted at /root by the image).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "../integration/harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/sys/fs.hpp"
#include "banger/sys/host_probe.hpp"
#include "banger/testkit/probes.hpp"

extern char** environ;

namespace banger::itest {
namespace {

using namespace std::chrono_literals;

class NetnsGuard {
 public:
  explicit NetnsGuard(std::string name) : name_(std::move(name)) {}
  ~NetnsGuard() {
    sys::PosixCommandRunner runner;
    (void)runner.run({.argv = {"ip", "netns", "del", name_}});
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

std::string run_ok(sys::CommandRunner& runner, std::vector<std::string> argv) {
  auto r = runner.run({.argv = std::move(argv), .timeout = 120s});
  EXPECT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message);
  return r ? r->out : "";
}

TEST(BootArtifacts, PulledKernelBootsTinyImageAndSshWorks) {
  if (auto why = testkit::first_missing(
          {testkit::probe_root("create a network namespace and a TAP device"),
           testkit::probe_tools(
               {"qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen", "mkfs.ext4"}),
           testkit::probe_apt_archive()});
      !why.empty()) {
    GTEST_SKIP() << why;
  }
  sys::PosixCommandRunner runner;

  BangerHome home;
  auto pulled = home.banger({"kernel", "pull", "debian-cloud"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  auto built = home.banger({"image", "build", "tiny"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  auto kernel =
      nlohmann::json::parse(home.banger({"kernel", "show", "debian-cloud", "--json"}).out);
  auto image = nlohmann::json::parse(home.banger({"image", "show", "tiny", "--json"}).out);
  std::string vmlinux = kernel["vmlinux_path"];
  std::string initrd = kernel["initrd_path"];
  std::string rootfs = image["rootfs_path"];
  ASSERT_FALSE(vmlinux.empty());
  ASSERT_FALSE(initrd.empty());
  ASSERT_FALSE(rootfs.empty());

  testkit::TempDir work;
  const std::string dir = work.path();
  run_ok(runner, {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir + "/key"});
  // Work disk holding /root/.ssh/authorized_keys (mkfs -d, root-owned, no mounting).
  ASSERT_TRUE(sys::make_dirs(dir + "/work/.ssh", 0700));
  auto pub = sys::read_file(dir + "/key.pub");
  ASSERT_TRUE(pub);
  ASSERT_TRUE(sys::write_file_atomic(dir + "/work/.ssh/authorized_keys", *pub, 0600));
  run_ok(runner,
         {"mkfs.ext4", "-q", "-F", "-d", dir + "/work", "-E",
          "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1", dir + "/work.ext4", "64M"});
  run_ok(runner, {"qemu-img", "create", "-q", "-f", "qcow2", "-b", rootfs, "-F", "raw",
                  dir + "/root.qcow2"});

  NetnsGuard ns("bgt-boot-" + std::to_string(::getpid()));
  run_ok(runner, {"ip", "netns", "add", ns.name()});
  run_ok(runner, {"ip", "-n", ns.name(), "link", "set", "lo", "up"});
  run_ok(runner, {"ip", "-n", ns.name(), "link", "add", "br0", "type", "bridge"});
  run_ok(runner, {"ip", "-n", ns.name(), "addr", "add", "172.30.0.1/24", "dev", "br0"});
  run_ok(runner, {"ip", "-n", ns.name(), "link", "set", "br0", "up"});
  run_ok(runner, {"ip", "-n", ns.name(), "tuntap", "add", "dev", "tap0", "mode", "tap"});
  run_ok(runner, {"ip", "-n", ns.name(), "link", "set", "tap0", "master", "br0", "up"});

  std::string append =
      "console=ttyS0 reboot=k panic=-1 root=/dev/vda rw rootfstype=ext4 "
      "ip=172.30.0.2::172.30.0.1:255.255.255.0:tiny:eth0:off tsc_early_khz=" +
      std::to_string(sys::host_cpu_khz()) + " tsc=reliable";
  std::vector<std::string> argv = {
      "ip",
      "netns",
      "exec",
      ns.name(),
      "qemu-system-x86_64",
      "-M",
      "microvm",
      "-accel",
      "tcg",
      "-cpu",
      "max",
      "-m",
      "256",
      "-smp",
      "1",
      "-nodefaults",
      "-no-user-config",
      "-nographic",
      "-serial",
      "file:" + dir + "/console.log",
      "-no-reboot",
      "-kernel",
      vmlinux,
      "-initrd",
      initrd,
      "-append",
      append,
      "-drive",
      "id=root,file=" + dir + "/root.qcow2,format=qcow2,if=none,cache=unsafe",
      "-device",
      "virtio-blk-device,drive=root",
      "-drive",
      "id=work,file=" + dir + "/work.ext4,format=raw,if=none,cache=unsafe",
      "-device",
      "virtio-blk-device,drive=work",
      "-netdev",
      "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off",
      "-device",
      "virtio-net-device,netdev=n0,mac=52:54:00:00:00:02"};
  std::vector<char*> cargv;
  for (auto& a : argv) {
    cargv.push_back(a.data());
  }
  cargv.push_back(nullptr);
  pid_t qemu = 0;
  ASSERT_EQ(::posix_spawnp(&qemu, "ip", nullptr, nullptr, cargv.data(), environ), 0);
  struct KillQemu {
    pid_t pid;
    ~KillQemu() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } kill_qemu{qemu};

  std::vector<std::string> ssh = {"ip",
                                  "netns",
                                  "exec",
                                  ns.name(),
                                  "ssh",
                                  "-i",
                                  dir + "/key",
                                  "-o",
                                  "StrictHostKeyChecking=no",
                                  "-o",
                                  "UserKnownHostsFile=/dev/null",
                                  "-o",
                                  "LogLevel=ERROR",
                                  "-o",
                                  "ConnectTimeout=2",
                                  "-o",
                                  "BatchMode=yes",
                                  "root@172.30.0.2"};
  auto deadline = std::chrono::steady_clock::now() + 180s;
  bool up = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto cmd = ssh;
    cmd.push_back("true");
    auto r = runner.run({.argv = cmd, .timeout = 20s});
    if (r && r->exit_code == 0) {
      up = true;
      break;
    }
    if (::waitpid(qemu, nullptr, WNOHANG) == qemu) {
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  auto console = sys::read_file(dir + "/console.log");
  ASSERT_TRUE(up) << "guest never answered ssh; console:\n" << (console ? *console : "");
  auto cmd = ssh;
  cmd.push_back("uname -r; cat /proc/cmdline");
  std::string out = run_ok(runner, cmd);
  EXPECT_THAT(out, ::testing::HasSubstr(kernel["version"].get<std::string>()));
  EXPECT_THAT(out, ::testing::HasSubstr("ip=172.30.0.2"));
}

}  // namespace
}  // namespace banger::itest
