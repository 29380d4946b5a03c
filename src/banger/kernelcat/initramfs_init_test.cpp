#include "banger/kernelcat/initramfs_init.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::kernelcat {
namespace {

// Shells to check the script with: busybox sh is what runs it; dash is a stricter POSIX sh.
constexpr const char* kNoShell = "neither busybox nor dash installed";

std::vector<std::vector<std::string>> shells() {
  std::vector<std::vector<std::string>> out;
  if (!sys::find_executable("busybox").empty()) {
    out.push_back({"busybox", "sh"});
  }
  if (!sys::find_executable("dash").empty()) {
    out.push_back({"dash"});
  }
  return out;
}

// Sources /init without running main, with ip/hostname stubbed to print their arguments, then
// runs snippet; returns stdout.
std::string run_snippet(const std::vector<std::string>& shell, const std::string& snippet) {
  testkit::TempDir dir;
  std::string init = dir.path() + "/init";
  EXPECT_TRUE(sys::write_file_atomic(init, std::string(initramfs_init_script()), 0755));
  std::vector<std::string> argv = shell;
  argv.insert(
      argv.end(),
      {"-c", ". " + init + "\nip() { echo \"ip $*\"; }\nhostname() { echo \"hostname $*\"; }\n" +
                 snippet});
  sys::PosixCommandRunner runner;
  auto out = sys::run_checked(
      runner, {.argv = argv, .env_overrides = {{"BANGER_INITRAMFS_SOURCE_ONLY", "1"}}});
  EXPECT_TRUE(out) << out.error().message;
  return out ? *out : "";
}

TEST(InitramfsInit, StartsWithBusyboxShebang) {
  EXPECT_TRUE(initramfs_init_script().starts_with("#!/bin/busybox sh\n"));
}

TEST(InitramfsInit, IsValidShellSyntax) {
  auto all = shells();
  if (all.empty()) {
    GTEST_SKIP() << kNoShell;
  }
  testkit::TempDir dir;
  std::string init = dir.path() + "/init";
  ASSERT_TRUE(sys::write_file_atomic(init, std::string(initramfs_init_script()), 0755));
  sys::PosixCommandRunner runner;
  for (auto argv : all) {
    argv.insert(argv.end(), {"-n", init});
    auto r = sys::run_checked(runner, {.argv = argv});
    EXPECT_TRUE(r) << argv[0] << ": " << r.error().message;
  }
}

TEST(InitramfsInit, ParsesKernelCommandLine) {
  const auto all = shells();
  if (all.empty()) {
    GTEST_SKIP() << kNoShell;  // the loop below would pass without running anything
  }
  for (const auto& shell : all) {
    EXPECT_EQ(run_snippet(shell,
                          "parse_cmdline 'console=ttyS0 root=/dev/vdb rootfstype=ext4 ro "
                          "init=/bin/sh ip=10.0.0.2::10.0.0.1:255.255.255.0:vm1:eth0:off *'\n"
                          "echo \"$root|$rootfstype|$rootflags|$init|$ipcfg\""),
              "/dev/vdb|ext4|ro|/bin/sh|10.0.0.2::10.0.0.1:255.255.255.0:vm1:eth0:off\n")
        << shell[0];
    EXPECT_EQ(run_snippet(shell,
                          "parse_cmdline 'quiet'\n"
                          "echo \"$root|$rootfstype|$rootflags|$init|$ipcfg\""),
              "/dev/vda|ext4|rw|/sbin/init|\n")
        << shell[0];
  }
}

TEST(InitramfsInit, AppliesStaticIpArgument) {
  const auto all = shells();
  if (all.empty()) {
    GTEST_SKIP() << kNoShell;  // the loop below would pass without running anything
  }
  for (const auto& shell : all) {
    EXPECT_EQ(run_snippet(shell, "apply_ip 172.16.0.5::172.16.0.1:255.255.255.0:web1:eth0:off"),
              "ip link set lo up\n"
              "ip link set eth0 up\n"
              "ip addr add 172.16.0.5/24 dev eth0\n"
              "ip route add default via 172.16.0.1 dev eth0\n"
              "hostname web1\n")
        << shell[0];
    // Empty fields: default device eth0, no gateway, no hostname; a /20 mask.
    EXPECT_EQ(run_snippet(shell, "apply_ip 10.1.2.3:::255.255.240.0:::none"),
              "ip link set lo up\n"
              "ip link set eth0 up\n"
              "ip addr add 10.1.2.3/20 dev eth0\n")
        << shell[0];
    EXPECT_EQ(run_snippet(shell, "apply_ip off; apply_ip ''; echo done"), "done\n") << shell[0];
    EXPECT_EQ(run_snippet(shell, "apply_ip dhcp"),
              "initramfs: ip=dhcp is not supported (static addresses only); network left "
              "unconfigured\n")
        << shell[0];
    EXPECT_EQ(run_snippet(shell, "apply_ip 10.0.0.2::10.0.0.1:255.0.255.0:h:eth0:off || echo bad"),
              "initramfs: bad netmask 255.0.255.0 in ip=\nbad\n")
        << shell[0];
  }
}

TEST(InitramfsInit, MaskToPrefix) {
  const auto all = shells();
  if (all.empty()) {
    GTEST_SKIP() << kNoShell;  // the loop below would pass without running anything
  }
  for (const auto& shell : all) {
    EXPECT_EQ(run_snippet(shell,
                          "for m in 255.255.255.255 255.255.255.0 255.255.0.0 "
                          "255.255.255.252 255.128.0.0 0.0.0.0 16; do "
                          "mask_to_prefix $m; done"),
              "32\n24\n16\n30\n9\n0\n16\n")
        << shell[0];
  }
}

// install_guest_modules against a fake initramfs tree and a fake root in a temp directory.
class InstallGuestModules : public ::testing::Test {
 protected:
  void SetUp() override {
    if (shells().empty()) {
      GTEST_SKIP() << kNoShell;
    }
    ASSERT_TRUE(sys::make_dirs(src() + "/kernel/fs", 0755));
    ASSERT_TRUE(sys::write_file_atomic(src() + "/kernel/fs/overlay.ko", "OVL", 0644));
    ASSERT_TRUE(sys::write_file_atomic(src() + "/banger-guest-modules", "stamp 1\n", 0644));
    ASSERT_TRUE(sys::make_dirs(root_modules(), 0755));
  }
  std::string src() const { return dir_.path() + "/initramfs/lib/modules/6.1.0-9-cloud-amd64"; }
  std::string root_modules() const { return dir_.path() + "/newroot/usr/lib/modules"; }
  std::string installed() const { return root_modules() + "/6.1.0-9-cloud-amd64"; }
  // Runs install_guest_modules <src> <dest> <flags> in every shell; returns the last output.
  std::string install(const std::string& dest, const std::string& flags = "rw") {
    std::string out;
    for (const auto& shell : shells()) {
      out = run_snippet(shell, "install_guest_modules '" + src() + "' '" + dest + "' " + flags +
                                   " && echo ok || echo failed");
    }
    return out;
  }
  testkit::TempDir dir_;
};

TEST_F(InstallGuestModules, CopiesTheTreeIntoARootWithAModuleDirectory) {
  EXPECT_EQ(install(root_modules()), "ok\n");
  EXPECT_EQ(sys::read_file(installed() + "/kernel/fs/overlay.ko"), "OVL");
  EXPECT_EQ(sys::read_file(installed() + "/banger-guest-modules"), "stamp 1\n");
  EXPECT_FALSE(sys::path_exists(root_modules() + "/.banger-6.1.0-9-cloud-amd64"));
}

TEST_F(InstallGuestModules, LeavesRootsWithoutModuleDirectoryReadOnlyOrTheirOwnModulesAlone) {
  // No /lib/modules (the tiny image): nothing is created.
  EXPECT_EQ(install(dir_.path() + "/newroot/nothing"), "ok\n");
  EXPECT_FALSE(sys::path_exists(dir_.path() + "/newroot/nothing"));
  // Mounted read-only.
  EXPECT_EQ(install(root_modules(), "ro"), "ok\n");
  EXPECT_FALSE(sys::path_exists(installed()));
  // The guest's own modules for this release (no stamp): untouched.
  ASSERT_TRUE(sys::make_dirs(installed(), 0755));
  ASSERT_TRUE(sys::write_file_atomic(installed() + "/modules.dep", "theirs", 0644));
  EXPECT_EQ(install(root_modules()), "ok\n");
  EXPECT_EQ(sys::read_file(installed() + "/modules.dep"), "theirs");
  EXPECT_FALSE(sys::path_exists(installed() + "/kernel"));
}

TEST_F(InstallGuestModules, ReplacesAnOlderStampedTreeAndKeepsACurrentOne) {
  ASSERT_TRUE(sys::make_dirs(installed() + "/kernel", 0755));
  ASSERT_TRUE(sys::write_file_atomic(installed() + "/kernel/old.ko", "OLD", 0644));
  ASSERT_TRUE(sys::write_file_atomic(installed() + "/banger-guest-modules", "stamp 0\n", 0644));
  EXPECT_EQ(install(root_modules()), "ok\n");
  EXPECT_FALSE(sys::path_exists(installed() + "/kernel/old.ko"));
  EXPECT_EQ(sys::read_file(installed() + "/kernel/fs/overlay.ko"), "OVL");
  // Same stamp: not copied again (a marker file added since survives).
  ASSERT_TRUE(sys::write_file_atomic(installed() + "/marker", "", 0644));
  EXPECT_EQ(install(root_modules()), "ok\n");
  EXPECT_TRUE(sys::path_exists(installed() + "/marker"));
}

TEST_F(InstallGuestModules, DoesNotFollowALinkPlantedAtTheReleaseDirectory) {
  testkit::TempDir elsewhere;
  ASSERT_TRUE(sys::write_file_atomic(elsewhere.path() + "/banger-guest-modules", "x", 0644));
  ASSERT_EQ(::symlink(elsewhere.path().c_str(), installed().c_str()), 0);
  EXPECT_EQ(install(root_modules()), "ok\n");
  EXPECT_EQ(sys::read_file(elsewhere.path() + "/banger-guest-modules"), "x");
  EXPECT_FALSE(sys::path_exists(elsewhere.path() + "/kernel"));
}

}  // namespace
}  // namespace banger::kernelcat
