#include "banger/hostnat/nat_ip_forward.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::hostnat {
namespace {

// A stand-in /proc holding sys/net/ipv4/ip_forward with `content`; returns its root.
std::string make_proc(const testkit::TempDir& dir, const std::string& content) {
  std::string root = dir.path() + "/proc";
  EXPECT_TRUE(sys::make_dirs(root + "/sys/net/ipv4"));
  EXPECT_TRUE(sys::write_file_atomic(root + "/sys/net/ipv4/ip_forward", content));
  return root;
}

TEST(ProcSysIpForwarding, WritesOneWhenForwardingIsOff) {
  testkit::TempDir dir;
  ProcSysIpForwarding forwarding(make_proc(dir, "0\n"));
  ASSERT_TRUE(forwarding.enable());
  EXPECT_EQ(sys::read_file(forwarding.path()).value_or("?"), "1\n");
}

TEST(ProcSysIpForwarding, LeavesTheFileAloneWhenForwardingIsOn) {
  testkit::TempDir dir;
  // "1" without a newline shows whether it was rewritten.
  ProcSysIpForwarding forwarding(make_proc(dir, "1"));
  ASSERT_TRUE(forwarding.enable());
  EXPECT_EQ(sys::read_file(forwarding.path()).value_or("?"), "1");
}

TEST(ProcSysIpForwarding, ReportsAMissingFile) {
  testkit::TempDir dir;
  ProcSysIpForwarding forwarding(dir.path());
  auto status = forwarding.enable();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::not_found);
  EXPECT_EQ(status.error().message,
            "reading " + dir.path() + "/sys/net/ipv4/ip_forward: No such file or directory");
}

TEST(ProcSysIpForwarding, TurnsOnForwardingInTheCallersNetworkNamespace) {
  if (auto why = testkit::first_missing(
          {testkit::probe_root("unshare a network namespace"), testkit::probe_netns()});
      !why.empty()) {
    GTEST_SKIP() << why;
  }
  // Given a forked child in a fresh network namespace (the main one is never written), then
  // enable() turns /proc/sys/net/ipv4/ip_forward on there.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET) != 0) {
      ::_exit(77);
    }
    ProcSysIpForwarding forwarding;
    if (!forwarding.enable()) {
      ::_exit(1);
    }
    auto value = sys::read_file("/proc/sys/net/ipv4/ip_forward");
    ::_exit(value && *value == "1\n" ? 0 : 2);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "unshare(CLONE_NEWNET) failed";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: enable() failed, 2: ip_forward is not 1 afterwards";
}

}  // namespace
}  // namespace banger::hostnat
