// `vm exec -it` end to end (issue 12 item 4): a PTY session over the agent's stream channel,
// driven through a real pseudo-terminal the way a user's terminal drives it. The window size
// is forwarded at start and on SIGWINCH, typed input and Ctrl-C reach the guest's terminal, the
// exit code comes back, and the user's terminal leaves raw mode afterwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;

// The steps after kPtyDriverPrelude, for banger (in the suite's namespace) on a 37x111 pty:
// waits for "37 111", resizes the pty to 50x160 (the kernel sends SIGWINCH to banger), types
// "go\r", waits for "got:go", then types Ctrl-C. Prints the output, then one line
// "exit=<code> echo_restored=<0|1>": the terminal's ECHO and ICANON flags (cleared by raw mode)
// after banger has exited.
constexpr const char* kPtySteps = R"PY(
ok = wait_for(b'37 111', 120)
if ok:
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 160, 0, 0))
    time.sleep(1)
    os.write(master, b'go\r')
    ok = wait_for(b'got:go', 60)
if ok:
    time.sleep(1)
    os.write(master, b'\x03')
wait_for(b'\xff-never', 30 if ok else 1)
if not ok:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
mode = termios.tcgetattr(master)
restored = int(bool(mode[3] & termios.ECHO) and bool(mode[3] & termios.ICANON))
sys.stdout.write(out.decode('utf-8', 'replace'))
print('\nexit=%d echo_restored=%d' % (os.waitstatus_to_exitcode(status), restored))
)PY";

TEST_F(VmSuite, ExecItGivesATerminalWithItsSizeInputAndCtrlCAndRestoresTheUsersTerminal) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "tty"}).exit_code, 0);
  auto driven = run_on_pty(kPtySteps, 37, 111,
                           {"vm", "exec", "-it", "tty", "--", "sh", "-c",
                            "stty size; read x; stty size; echo got:$x; sleep 300"});
  ASSERT_TRUE(driven);
  const std::string& out = driven->out;
  EXPECT_THAT(out, HasSubstr("37 111")) << out << driven->err;
  EXPECT_THAT(out, HasSubstr("50 160")) << out;  // SIGWINCH became a resize frame
  EXPECT_THAT(out, HasSubstr("got:go")) << out;
  // Ctrl-C interrupted `sleep 300` in the guest; banger exits with the guest's 130.
  EXPECT_THAT(out, HasSubstr("exit=130 echo_restored=1")) << out;

  // Not a terminal on stdin: -it is refused with a way out, -i pipes input instead.
  auto refused = run({"vm", "exec", "-it", "tty", "--", "true"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("needs a terminal on stdin"));
  sys::PosixCommandRunner runner;
  auto piped = runner.run({.argv = {"ip", "netns", "exec", ns_, bin("banger"), "vm", "exec", "-i",
                                    "tty", "--", "sh", "-c", "tr a-z A-Z; exit 4"},
                           .stdin_data = "shout\n",
                           .env_overrides = {{"BANGER_HOME", home_->dir()},
                                             {"HOME", home_->dir() + "/home"},
                                             {"BANGER_REQUIRE_NETNS", "1"}}});
  ASSERT_TRUE(piped);
  EXPECT_EQ(piped->exit_code, 4) << piped->err;
  EXPECT_EQ(piped->out, "SHOUT\n");
  EXPECT_EQ(run({"vm", "delete", "tty"}).exit_code, 0);
}

}  // namespace
}  // namespace banger::itest
