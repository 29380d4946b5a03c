// The default image as a developer lives in it (label `artifacts` and `slow`): builds
// debian-bookworm once through the real binaries (or takes it from the test image cache, see
// image_cache.hpp), checks the files banger configures, then boots it in a private network
// namespace the suite creates and runs Docker there: `docker info` must report a running
// daemon with the overlay2 storage driver, and a container from an image built in the guest
// runs on Docker's default bridge network. Skips without root, mmdebstrap, QEMU or the archive.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "../integration/harness.hpp"
#include "image_cache.hpp"
#include <nlohmann/json.hpp>

#include "banger/ext4/editor.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class DebianImage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = testkit::first_missing(
        {testkit::probe_root("build images and create network namespaces"), testkit::probe_netns(),
         testkit::probe_tools({"mmdebstrap", "mkfs.ext4", "debugfs", "e2fsck", "qemu-system-x86_64",
                               "qemu-img", "ssh", "ip"}),
         testkit::probe_apt_archive()});
    if (!skip_reason_.empty()) {
      return;
    }
    home_ = new BangerHome();
    auto start = Clock::now();
    auto pulled = home_->banger({"kernel", "pull", "debian-cloud"});
    if (pulled.exit_code != 0) {
      setup_error_ = "kernel pull failed: " + pulled.err;
      return;
    }
    std::printf("[ timing   ] kernel pull debian-cloud: %.1f s\n", seconds_since(start));
    start = Clock::now();
    auto obtained = obtain_debian_image(*home_, kImage);
    if (!obtained.error.empty()) {
      setup_error_ = obtained.error;
      return;
    }
    from_cache_ = obtained.from_cache;
    std::printf("[ timing   ] image debian-bookworm %s: %.1f s\n",
                from_cache_ ? "from the test image cache" : "built", seconds_since(start));
    std::fflush(stdout);
    home_->banger({"daemon", "stop"});
    ns_ = add_test_netns("bgt-deb", &setup_error_);
  }

  static void TearDownTestSuite() { end_vm_suite(home_, ns_); }

  void SetUp() override { BANGER_ITEST_SUITE_GATE(skip_reason_, setup_error_); }

  static sys::CommandResult run(const std::vector<std::string>& args,
                                std::chrono::seconds timeout = std::chrono::seconds(300)) {
    return home_->banger_in(ns_, args, timeout);
  }

  static constexpr const char* kImage = "debian-bookworm";
  static inline std::string skip_reason_;
  static inline std::string setup_error_;
  static inline BangerHome* home_ = nullptr;
  static inline std::string ns_;
  static inline bool from_cache_ = false;
};

TEST_F(DebianImage, HasFirstBootHostKeysRootKeyLoginAndSocketActivatedDocker) {
  // Through the namespace: the daemon this starts serves the boot test too.
  auto show = run({"image", "show", kImage, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto image = nlohmann::json::parse(show.out);
  EXPECT_EQ(image["init_flavour"], "systemd");
  EXPECT_EQ(image["extra_kernel_args"], "apparmor=0");  // Docker without apparmor_parser
  EXPECT_GE(image["size_bytes"].get<std::int64_t>(), std::int64_t{1} << 30);
  const std::string rootfs = image["rootfs_path"];
  sys::PosixCommandRunner runner;
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", rootfs}, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(fsck) << fsck.error().message;
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
  for (const char* path : {"/sbin/init", "/usr/sbin/sshd", "/usr/sbin/dockerd", "/usr/bin/docker",
                           "/usr/bin/containerd", "/usr/sbin/runc", "/usr/bin/git", "/usr/bin/gcc",
                           "/usr/bin/curl", "/usr/bin/jq", "/usr/bin/tmux", "/usr/bin/python3",
                           "/usr/bin/kmod", "/usr/sbin/iptables"}) {
    auto exists = ext4::exists(runner, rootfs, path);
    ASSERT_TRUE(exists) << path << ": " << exists.error().message;
    EXPECT_TRUE(*exists) << path;
  }
  EXPECT_FALSE(*ext4::exists(runner, rootfs, "/etc/ssh/ssh_host_ed25519_key"));
  auto dropin = ext4::read_file(runner, rootfs, "/etc/ssh/sshd_config.d/banger.conf");
  ASSERT_TRUE(dropin) << dropin.error().message;
  EXPECT_THAT(*dropin, HasSubstr("PermitRootLogin prohibit-password"));
  EXPECT_EQ(*ext4::read_file(runner, rootfs, "/etc/machine-id"), "");
  EXPECT_THAT(*ext4::read_file(runner, rootfs, "/usr/local/lib/banger/banger-init"),
              HasSubstr("mount -t ext4 /dev/vdb /root"));
  EXPECT_TRUE(*ext4::exists(runner, rootfs,
                            "/etc/systemd/system/multi-user.target.wants/banger-init.service"));
  // Docker: started by its socket, not at boot; data on the work disk; modules dir for /init.
  EXPECT_TRUE(
      *ext4::exists(runner, rootfs, "/etc/systemd/system/sockets.target.wants/docker.socket"));
  EXPECT_FALSE(
      *ext4::exists(runner, rootfs, "/etc/systemd/system/multi-user.target.wants/docker.service"));
  EXPECT_THAT(*ext4::read_file(runner, rootfs, "/etc/docker/daemon.json"),
              HasSubstr("\"data-root\": \"/root/.local/share/docker\""));
  EXPECT_TRUE(*ext4::exists(runner, rootfs, "/usr/lib/modules"));
}

TEST_F(DebianImage, DockerInfoReportsARunningDaemonWithOverlay2AndAContainerRuns) {
  auto start = Clock::now();
  auto created = run(
      {"vm", "create", "--image", kImage, "--name", "dock", "--memory", "1024M", "--vcpu", "1"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  std::printf("[ timing   ] vm create (boot to ssh): %.1f s\n", seconds_since(start));

  // The guest modules arrived from the initramfs, for the running kernel.
  auto modules = run({"vm", "ssh", "dock", "--",
                      "test -f /lib/modules/$(uname -r)/banger-guest-modules && echo present"});
  EXPECT_EQ(modules.exit_code, 0) << modules.err;
  EXPECT_THAT(modules.out, HasSubstr("present"));

  start = Clock::now();
  auto info =
      run({"vm", "ssh", "dock", "--", "docker info --format '{{.Driver}} {{.ServerVersion}}'"});
  std::printf("[ timing   ] first docker info (socket-activated dockerd start): %.1f s\n",
              seconds_since(start));
  ASSERT_EQ(info.exit_code, 0) << info.out << info.err;
  EXPECT_THAT(info.out, ::testing::MatchesRegex("overlay2 [0-9]+\\.[0-9]+\\.[0-9]+.*\n"));
  auto active = run({"vm", "ssh", "dock", "--", "systemctl is-active docker.service"});
  EXPECT_EQ(active.out, "active\n") << active.err;

  // A container from an image made in the guest (no registry: the VM has no network out) runs
  // on the default bridge network (veth, bridge, iptables NAT rules set up by dockerd).
  start = Clock::now();
  auto ran = run({"vm", "ssh", "dock", "--",
                  "set -e; d=$(mktemp -d); mkdir $d/root; "
                  "printf '#include <stdio.h>\\nint main(void){puts(\"hello from a container\");"
                  "return 0;}\\n' > $d/hello.c; "
                  "gcc -static -o $d/root/hello $d/hello.c; "
                  "tar -C $d/root -c . | docker import - banger-test/hello >/dev/null; "
                  "docker run --rm banger-test/hello /hello; "
                  "ip link show docker0 >/dev/null && echo bridge-up"});
  std::printf("[ timing   ] gcc -static + docker import + docker run: %.1f s\n",
              seconds_since(start));
  std::fflush(stdout);
  EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("hello from a container\n"));
  EXPECT_THAT(ran.out, HasSubstr("bridge-up"));

  auto deleted = run({"vm", "delete", "dock"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
}

}  // namespace
}  // namespace banger::itest
