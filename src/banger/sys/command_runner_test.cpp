#include "banger/sys/command_runner.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <thread>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

using namespace std::chrono_literals;

TEST(PosixCommandRunner, CapturesStdoutStderrAndExitCode) {
  PosixCommandRunner runner;
  auto r = runner.run({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(PosixCommandRunner, OnStdoutSeesOutputAndCanStopTheCommand) {
  PosixCommandRunner runner;
  std::string seen;
  auto r =
      runner.run({.argv = {"sh", "-c", "echo a; echo b"}, .on_stdout = [&](std::string_view c) {
                    seen += c;
                    return true;
                  }});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(seen, "a\nb\n");
  auto stopped = runner.run({.argv = {"sh", "-c", "echo a; exec sleep 30"},
                             .on_stdout = [](std::string_view) { return false; }});
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, Errc::cancelled);
  EXPECT_EQ(stopped.error().message, "sh was stopped");
}

TEST(PosixCommandRunner, FeedsStdinLargerThanAPipeBuffer) {
  PosixCommandRunner runner;
  std::string big(1 << 20, 'x');
  auto r = runner.run({.argv = {"wc", "-c"}, .stdin_data = big});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(std::stoul(r->out), big.size());
}

TEST(PosixCommandRunner, MissingProgramIsNotFound) {
  PosixCommandRunner runner;
  auto r = runner.run({.argv = {"banger-no-such-tool-xyz"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message, "banger-no-such-tool-xyz: command not found");
}

TEST(PosixCommandRunner, KillsCommandAtDeadline) {
  PosixCommandRunner runner;
  auto start = std::chrono::steady_clock::now();
  auto r = runner.run({.argv = {"sleep", "10"}, .timeout = 200ms});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// Whether pid names a live process (a zombie, or no process at all, is not).
bool alive(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) {
    return false;
  }
  auto end = stat->rfind(')');
  return end != std::string::npos && end + 2 < stat->size() && (*stat)[end + 2] != 'Z';
}

// Waits up to 5 s for pid to be gone; kills it (a process this test started) if it is not.
bool gone_soon(pid_t pid) {
  for (int i = 0; i < 100 && alive(pid); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  if (alive(pid)) {
    ::kill(pid, SIGKILL);
    return false;
  }
  return true;
}

// The pid a command's grandchild wrote to `file`.
pid_t read_pid(const std::string& file) {
  for (int i = 0; i < 100; ++i) {
    if (auto text = read_file(file); text && !text->empty() && text->back() == '\n') {
      return static_cast<pid_t>(std::stol(*text));
    }
    std::this_thread::sleep_for(50ms);
  }
  return 0;
}

// Regression for L9 (security review): a timeout kills the whole process group, including a
// grandchild that holds none of the pipes. Fails on 8f38f5a: ran with the runner's
// new_session and the group kill removed (only the direct child killed, as 8f38f5a's
// command_runner.cpp:196-201): the grandchild sleep was still alive 5 s after the timeout.
TEST(PosixCommandRunner, TimeoutKillsTheGrandchildrenToo) {
  testkit::TempDir dir;
  const std::string pid_file = dir.path() + "/pid";
  PosixCommandRunner runner;
  auto r = runner.run(
      {.argv = {"sh", "-c",
                "sleep 30 </dev/null >/dev/null 2>&1 & echo $! > " + pid_file + "; wait"},
       .timeout = 500ms});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  pid_t grandchild = read_pid(pid_file);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(gone_soon(grandchild)) << "grandchild " << grandchild << " survived the timeout";
}

// Regression for L9 (security review): when the tool exits but a descendant keeps its output
// pipe open, the run ends at the deadline and the descendant is killed too. Fails on 8f38f5a:
// ran with Subprocess::kill skipping the group once the leader was reaped (as before this fix):
// the grandchild was still alive 5 s after the timeout.
TEST(PosixCommandRunner, ADescendantHoldingTheOutputIsKilledAtTheDeadline) {
  testkit::TempDir dir;
  const std::string pid_file = dir.path() + "/pid";
  PosixCommandRunner runner;
  auto start = std::chrono::steady_clock::now();
  auto r = runner.run({.argv = {"sh", "-c", "sleep 30 & echo $! > " + pid_file}, .timeout = 500ms});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  pid_t grandchild = read_pid(pid_file);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(gone_soon(grandchild)) << "grandchild " << grandchild << " survived the timeout";
}

// Regression for L9 (security review): a tool that closes its output and keeps running is
// still bound by the deadline (no wait without one after the pipes close). Fails on 8f38f5a:
// checked by reading only (8f38f5a's command_runner.cpp:196-201 called a blocking waitpid after
// the pipes closed); the current Subprocess::pump already polls the exit against the deadline.
TEST(PosixCommandRunner, AToolThatClosesItsPipesIsStillKilledAtTheDeadline) {
  PosixCommandRunner runner;
  auto start = std::chrono::steady_clock::now();
  auto r = runner.run(
      {.argv = {"sh", "-c", "exec </dev/null >/dev/null 2>&1; sleep 30"}, .timeout = 500ms});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(PosixCommandRunner, AppliesEnvAndCwd) {
  PosixCommandRunner runner;
  auto r = runner.run({.argv = {"sh", "-c", "echo $BANGER_X; pwd"},
                       .env_overrides = {{"BANGER_X", "42"}},
                       .cwd = "/"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "42\n/\n");
}

TEST(RunChecked, NonZeroExitBecomesCommandFailedWithStderr) {
  PosixCommandRunner runner;
  auto r = run_checked(runner, {.argv = {"sh", "-c", "echo boom >&2; exit 2"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::command_failed);
  EXPECT_EQ(r.error().message, "sh exited 2: boom");
}

}  // namespace
}  // namespace banger::sys
