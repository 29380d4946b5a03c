#include "banger/vmm/host_caps.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/sys/host_probe.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vmm {
namespace {

TEST(ParseQemuVersion, ReadsDebianVersionLine) {
  auto v = parse_qemu_version(
      "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
      "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(
      *v, (QemuVersion{.major = 7,
                       .minor = 2,
                       .micro = 22,
                       .text = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"}));
}

TEST(ParseQemuVersion, MicroIsOptional) {
  auto v = parse_qemu_version("QEMU emulator version 8.1\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 8);
  EXPECT_EQ(v->minor, 1);
  EXPECT_EQ(v->micro, 0);
}

TEST(ParseQemuVersion, RejectsOtherOutput) {
  for (const char* text : {"", "qemu", "QEMU emulator version x.y", "QEMU emulator version 7"}) {
    auto v = parse_qemu_version(text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.error().code, Errc::invalid_argument);
  }
  EXPECT_EQ(parse_qemu_version("hello").error().message, "cannot read a qemu version from 'hello'");
}

TEST(QemuVersion, RunsBinaryWithVersionFlag) {
  testkit::FakeCommandRunner runner;
  runner.on("/q --version", {.exit_code = 0, .out = "QEMU emulator version 7.2.0\n", .err = ""});
  auto v = qemu_version(runner, "/q");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->minor, 2);
  EXPECT_EQ(runner.ran(), std::vector<std::string>{"/q --version"});
}

TEST(QemuVersion, NonZeroExitIsCommandFailed) {
  testkit::FakeCommandRunner runner;
  runner.on("/q --version", {.exit_code = 1, .out = "", .err = "boom"});
  auto v = qemu_version(runner, "/q");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::command_failed);
  EXPECT_EQ(v.error().message, "/q exited 1: boom");
}

TEST(FindQemuBinary, ConfiguredPathMustBeExecutable) {
  testkit::TempDir dir;
  std::string fake = dir.path() + "/qemu";
  ASSERT_TRUE(sys::write_file_atomic(fake, "#!/bin/sh\n", 0755));
  auto found = find_qemu_binary(fake);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, fake);

  auto missing = find_qemu_binary(dir.path() + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message,
            "qemu binary " + dir.path() + "/nope (config qemu_bin) is not an executable");
}

TEST(FindQemuBinary, DefaultIsSearchedInPath) {
  auto found = find_qemu_binary("");
  if (sys::find_executable(kQemuBinaryName).empty()) {
    ASSERT_FALSE(found);
    EXPECT_EQ(found.error().message,
              "qemu-system-x86_64 not found in PATH: install the qemu-system-x86 package or set "
              "qemu_bin in the config");
  } else {
    ASSERT_TRUE(found);
    EXPECT_EQ(*found, sys::find_executable(kQemuBinaryName));
  }
}

TEST(ProbeQemuHostCaps, ReportsVhostAndKhzOfThisHost) {
  testkit::TempDir dir;
  std::string fake = dir.path() + "/qemu";
  ASSERT_TRUE(sys::write_file_atomic(fake, "#!/bin/sh\n", 0755));
  auto caps = probe_qemu_host_caps(fake);
  ASSERT_TRUE(caps) << caps.error().message;
  EXPECT_EQ(caps->binary, fake);
  EXPECT_EQ(caps->vhost_net, sys::path_exists("/dev/vhost-net"));
  EXPECT_EQ(caps->host_khz, sys::host_cpu_khz());
}

}  // namespace
}  // namespace banger::vmm
