// Pulled OCI images boot (issue 12 items 3 and 4): an image with no init, no sshd and no libc
// (the host's static busybox, pulled from docker-registry on loopback by the suite's setup)
// boots with banger's init; `vm run -- cmd` runs through the agent and returns the command's
// exit code; `vm run` without a command opens a shell on an agent PTY of the terminal's size;
// `vm ssh` is refused naming `vm exec -it`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;

// For banger on a 33x101 pty: a line that prints the terminal size and a computed marker and
// exits 7.
const std::string kShellSteps = shell_steps("stty size; echo marker-$((40+2)); exit 7");

#define BANGER_OCI_GATE()                    \
  do {                                       \
    if (!oci_skip_reason_.empty()) {         \
      GTEST_SKIP() << oci_skip_reason_;      \
    }                                        \
    ASSERT_EQ(oci_error_, "") << oci_error_; \
  } while (false)

TEST_F(VmSuite, PulledImageWithoutInitOrSshdRunsCommandsThroughTheAgent) {
  BANGER_OCI_GATE();
  auto ran = run({"vm", "run", "--image", "bb-oci", "--name", "oci1", "--", "sh", "-c",
                  "cat /etc/os-release; echo pid1=$(cat /proc/1/comm); "
                  "echo env=$BANGER_TEST:$PATH:$HOME; exit 3"});
  EXPECT_EQ(ran.exit_code, 3) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("PRETTY_NAME=\"banger busybox test\""));
  EXPECT_THAT(ran.out, HasSubstr("pid1=init"));  // banger's init is PID 1
  // The image config's Env is the commands' environment (HOME stays root's; stream sessions
  // append banger's helper directory to PATH).
  EXPECT_THAT(ran.out, HasSubstr("env=from-image:/bin:/usr/local/lib/banger/bin:/root\n"));
  auto ssh = run({"vm", "ssh", "oci1", "--", "true"});
  EXPECT_EQ(ssh.exit_code, 1);
  EXPECT_THAT(ssh.err, HasSubstr("starts no ssh server: use banger vm exec -it oci1"));
  // The work disk is /root, and the VM stops cleanly (banger's init powers off).
  auto root = run({"vm", "exec", "oci1", "--", "sh", "-c", "grep -c ' /root ' /proc/mounts"});
  EXPECT_EQ(root.exit_code, 0) << root.err;
  EXPECT_EQ(root.out, "1\n");
  auto stopped = run({"vm", "stop", "oci1"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(show("oci1")["state"], "stopped");
  ASSERT_EQ(run({"vm", "delete", "oci1"}).exit_code, 0);
}

TEST_F(VmSuite, PulledDebianImageBootsAndRunsCommands) {
  BANGER_OCI_GATE();
  auto ran = run({"vm", "run", "--image", "debian-oci", "--rm", "--", "sh", "-c",
                  "cat /etc/os-release; dpkg-query -W -f '${Package}\\n' coreutils"});
  EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("VERSION_CODENAME=bookworm"));
  EXPECT_THAT(ran.out, HasSubstr("coreutils"));
  auto image = nlohmann::json::parse(run({"image", "show", "debian-oci", "--json"}).out);
  EXPECT_EQ(image["distro"], "debian");
  EXPECT_EQ(image["ssh"], false);
}

TEST_F(VmSuite, PulledImageWithoutSshdOpensItsShellOnAnAgentTerminal) {
  BANGER_OCI_GATE();
  auto driven = run_on_pty(kShellSteps, 33, 101,
                           {"vm", "run", "--image", "bb-oci", "--name", "oci2", "--rm"});
  ASSERT_TRUE(driven) << driven.error().message;
  EXPECT_THAT(driven->out, HasSubstr("33 101"));
  EXPECT_THAT(driven->out, HasSubstr("marker-42"));
  EXPECT_THAT(driven->out, HasSubstr("exit=7"));
  EXPECT_EQ(run({"vm", "show", "oci2"}).exit_code, 1);  // --rm deleted it
}

}  // namespace
}  // namespace banger::itest
