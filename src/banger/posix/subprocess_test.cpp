#include "banger/posix/subprocess.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "banger/posix/env.hpp"

namespace banger::posix {
namespace {

using namespace std::chrono_literals;

SpawnOptions sh(const std::string& script) {
  return SpawnOptions{.argv = {"/bin/sh", "-c", script}, .env = current_env()};
}

// True while pid exists and is not a zombie.
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return false;
  }
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

PumpResult run(const SpawnOptions& options, const PumpOptions& pump = {}) {
  auto child = Subprocess::spawn(options);
  EXPECT_TRUE(child) << child.error().message();
  auto result = child->pump(pump);
  EXPECT_TRUE(result) << result.error().message();
  return *result;
}

TEST(Subprocess, CollectsOutputAndExitCode) {
  const auto r = run(sh("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit.code, 3);
  EXPECT_EQ(r.exit.signal, 0);
  EXPECT_FALSE(r.timed_out);
}

TEST(Subprocess, ReportsDeathBySignal) {
  const auto r = run(sh("kill -TERM $$"));
  EXPECT_EQ(r.exit.signal, SIGTERM);
  EXPECT_EQ(r.exit.code, 128 + SIGTERM);
}

TEST(Subprocess, PumpsLargeStdinStdoutAndStderrConcurrently) {
  // cat echoes 8 MiB while the shell also writes 8 MiB to stderr: with sequential I/O either
  // side would block on a full pipe.
  const std::string input(8 << 20, 'i');
  const auto r = run(sh("head -c 8388608 /dev/zero >&2 & cat; wait"), {.stdin_data = input});
  EXPECT_EQ(r.exit.code, 0);
  EXPECT_EQ(r.out, input);
  EXPECT_EQ(r.err.size(), 8U << 20);
}

TEST(Subprocess, ChildThatStopsReadingStdinIsNotAnError) {
  const auto r = run(sh("exit 0"), {.stdin_data = std::string(4 << 20, 'x')});
  EXPECT_EQ(r.exit.code, 0);
}

TEST(Subprocess, KillsTheChildAtTheDeadline) {
  const auto start = Clock::now();
  const auto r = run(sh("echo started; exec sleep 30"), {.deadline = deadline_in(200ms)});
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit.signal, SIGKILL);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST(Subprocess, NewSessionDeadlineKillsTheWholeGroup) {
  auto options = sh("sleep 30 & echo $!; wait");
  options.new_session = true;
  const auto r = run(options, {.deadline = deadline_in(300ms)});
  EXPECT_TRUE(r.timed_out);
  const pid_t background = std::stoi(r.out);
  // The background sleep was killed with its group (it may linger as a zombie of init).
  for (int i = 0; i < 100 && running(background); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(running(background));
}

TEST(Subprocess, UntilExitDoesNotWaitForDescendantsHoldingThePipes) {
  const auto start = Clock::now();
  const auto r = run(sh("sleep 30 & echo done"), {.until_exit = true});
  EXPECT_EQ(r.out, "done\n");
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST(Subprocess, WithoutUntilExitWaitsForEndOfStreamUpToTheDeadline) {
  const auto r = run(sh("(sleep 0.3; echo late) & echo early"), {.deadline = deadline_in(20s)});
  EXPECT_EQ(r.out, "early\nlate\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(Subprocess, TruncatesEachStreamAtMaxOutput) {
  const auto r = run(sh("printf 0123456789; printf ab >&2"), {.max_output = 4});
  EXPECT_EQ(r.out, "0123");
  EXPECT_TRUE(r.out_truncated);
  EXPECT_EQ(r.err, "ab");
  EXPECT_FALSE(r.err_truncated);
}

TEST(Subprocess, PassesStdoutToOnStdoutAsItArrives) {
  std::string seen;
  const auto r = run(sh("echo one; sleep 0.1; echo two; echo err >&2"),
                     {.on_stdout = [&seen](std::string_view chunk) {
                       seen += chunk;
                       return true;
                     }});
  EXPECT_EQ(seen, "one\ntwo\n");
  EXPECT_EQ(r.out, "one\ntwo\n");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.exit.code, 0);
}

TEST(Subprocess, OnStdoutReturningFalseKillsTheWholeGroup) {
  auto options = sh("sleep 30 & echo $!; wait");
  options.new_session = true;
  const auto start = Clock::now();
  const auto r = run(
      options, {.deadline = deadline_in(20s), .on_stdout = [](std::string_view) { return false; }});
  EXPECT_TRUE(r.stopped);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit.signal, SIGKILL);
  EXPECT_LT(Clock::now() - start, 10s);
  const pid_t background = std::stoi(r.out);
  for (int i = 0; i < 100 && running(background); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(running(background));
}

TEST(Subprocess, MissingProgramIsEnoent) {
  auto child = Subprocess::spawn({.argv = {"banger-no-such-program"}});
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().sys_errno, ENOENT);
  EXPECT_EQ(child.error().what, "spawn banger-no-such-program");
  child = Subprocess::spawn({.argv = {"x"}, .program = "/nonexistent/x"});
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().sys_errno, ENOENT);
}

TEST(Subprocess, UsesTheGivenEnvironmentAndCwd) {
  SpawnOptions options{
      .argv = {"/bin/sh", "-c", "echo \"$ONLY\"; pwd"}, .env = {"ONLY=value"}, .cwd = "/"};
  const auto r = run(options);
  EXPECT_EQ(r.out, "value\n/\n");
}

TEST(Subprocess, DoesNotLeakDescriptors) {
  Fd null(::open("/dev/null", O_RDONLY));
  Fd leaked(::fcntl(null.get(), F_DUPFD, 100));  // not close-on-exec
  const auto r = run(sh("ls /proc/self/fd"));
  EXPECT_EQ(r.out.find(std::to_string(leaked.get()) + "\n"), std::string::npos) << r.out;
}

TEST(Subprocess, WaitCollectsTheExitOfAnInheritedStdioChild) {
  auto child = Subprocess::spawn(
      {.argv = {"/bin/sh", "-c", "exit 7"}, .env = current_env(), .stdio = Stdio::inherit});
  ASSERT_TRUE(child);
  auto status = child->wait();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 7);
}

TEST(Subprocess, RedirectsStdioToTheGivenDescriptors) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe);
  Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  auto child = Subprocess::spawn({.argv = {"/bin/sh", "-c", "echo to-log; echo err >&2"},
                                  .env = current_env(),
                                  .stdio = Stdio::redirect,
                                  .redirect = {null.get(), pipe->write.get(), null.get()}});
  ASSERT_TRUE(child);
  pipe->write.reset();
  std::string line;
  EXPECT_EQ(read_until(pipe->read.get(), '\n', line, 64, deadline_in(10s)), ReadEnd::delimiter);
  EXPECT_EQ(line, "to-log");
  EXPECT_EQ(child->wait()->code, 0);
}

TEST(Subprocess, ReleasedChildIsNeitherKilledNorReaped) {
  pid_t pid = -1;
  {
    auto child = Subprocess::spawn(sh("exit 5"));
    ASSERT_TRUE(child);
    pid = child->release();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 5);
}

TEST(Subprocess, DestructorKillsAndReapsAChildNotWaitedFor) {
  pid_t pid = -1;
  {
    auto child = Subprocess::spawn(sh("exec sleep 30"));
    ASSERT_TRUE(child);
    pid = child->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid no longer exists
}

}  // namespace
}  // namespace banger::posix
