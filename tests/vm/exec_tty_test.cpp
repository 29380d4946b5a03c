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

// Runs argv (banger in the suite's namespace) on a new pty of 37x111 (pty.fork: the child is a
// session leader with the pty as its controlling terminal, as in a terminal emulator). Waits
// for "37 111", resizes the pty to 50x160 (the kernel sends SIGWINCH to banger), types
// "go\r", waits for "got:go", then types Ctrl-C. Prints the output, then one line
// "exit=<code> echo_restored=<0|1>": the terminal's ECHO and ICANON flags (cleared by raw mode)
// after banger has exited.
constexpr const char* kPtyDriver = R"PY(
import fcntl, os, pty, select, struct, sys, termios, time
argv = sys.argv[1:]
pid, master = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 37, 111, 0, 0))
    os.execvp(argv[0], argv)
out = b''
def wait_for(text, seconds):
    global out
    deadline = time.time() + seconds
    while text not in out and time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
    return text in out
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
  sys::PosixCommandRunner runner;
  auto driven = runner.run({.argv = {"python3", "-c", kPtyDriver, "ip", "netns", "exec", ns_,
                                     bin("banger"), "vm", "exec", "-it", "tty", "--", "sh", "-c",
                                     "stty size; read x; stty size; echo got:$x; sleep 300"},
                            .timeout = std::chrono::seconds(300),
                            .env_overrides = {{"BANGER_HOME", home_->dir()},
                                              {"HOME", home_->dir() + "/home"},
                                              {"NO_COLOR", "1"},
                                              {"TERM", "xterm"},
                                              {"BANGER_REQUIRE_NETNS", "1"}}});
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
