#include "banger/sys/process_launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Process> launch_ok(const LaunchSpec& spec) {
  PosixProcessLauncher launcher;
  auto p = launcher.launch(spec);
  EXPECT_TRUE(p) << p.error().message;
  return p ? std::move(*p) : nullptr;
}

TEST(PosixProcessLauncher, AppliesCwdUmaskEnvAndAppendsOutputToLog) {
  testkit::TempDir dir;
  std::string log = dir.path() + "/out.log";
  ASSERT_TRUE(write_file_atomic(log, "old\n", 0600));
  auto p = launch_ok({.argv = {"sh", "-c", "echo $BANGER_X; pwd; umask; echo err >&2"},
                      .cwd = dir.path(),
                      .umask = 027,
                      .env_overrides = {{"BANGER_X", "42"}},
                      .log_path = log});
  ASSERT_TRUE(p);
  auto status = p->wait_for(10s);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, std::optional<int>(0));
  EXPECT_EQ(*read_file(log), "old\n42\n" + dir.path() + "\n0027\nerr\n");
}

TEST(PosixProcessLauncher, DefaultUmaskIsPrivate) {
  testkit::TempDir dir;
  auto p = launch_ok({.argv = {"sh", "-c", "umask"}, .log_path = dir.path() + "/log"});
  ASSERT_TRUE(p);
  ASSERT_EQ(*p->wait_for(10s), std::optional<int>(0));
  EXPECT_EQ(*read_file(dir.path() + "/log"), "0077\n");
}

TEST(PosixProcessLauncher, StdinIsDevNull) {
  testkit::TempDir dir;
  auto p = launch_ok({.argv = {"sh", "-c", "cat; echo done"}, .log_path = dir.path() + "/log"});
  ASSERT_TRUE(p);
  ASSERT_EQ(*p->wait_for(10s), std::optional<int>(0));
  EXPECT_EQ(*read_file(dir.path() + "/log"), "done\n");
}

TEST(PosixProcessLauncher, ReportsExitCode) {
  auto p = launch_ok({.argv = {"sh", "-c", "exit 3"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(*p->wait_for(10s), std::optional<int>(3));
  EXPECT_FALSE(p->alive());
  // The status is kept: asking again gives the same answer.
  EXPECT_EQ(*p->wait_for(0ms), std::optional<int>(3));
}

TEST(PosixProcessLauncher, WaitForTimesOutWhileRunningThenSeesSignalExit) {
  auto p = launch_ok({.argv = {"sleep", "30"}});
  ASSERT_TRUE(p);
  auto running = p->wait_for(50ms);
  ASSERT_TRUE(running);
  EXPECT_EQ(*running, std::nullopt);
  EXPECT_TRUE(p->alive());
  ASSERT_TRUE(p->signal(SIGKILL));
  EXPECT_EQ(*p->wait_for(10s), std::optional<int>(128 + SIGKILL));
  EXPECT_FALSE(p->alive());
  // Signalling an exited child is a no-op, never a signal to a reused pid.
  EXPECT_TRUE(p->signal(SIGKILL));
}

TEST(PosixProcessLauncher, ChildRunsInItsOwnSession) {
  auto p = launch_ok({.argv = {"sleep", "30"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(::getsid(p->pid()), p->pid());
  EXPECT_NE(::getsid(p->pid()), ::getsid(0));
  ASSERT_TRUE(p->signal(SIGKILL));
  EXPECT_EQ(*p->wait_for(10s), std::optional<int>(128 + SIGKILL));
}

TEST(PosixProcessLauncher, ChildGetsDefaultSignalsEvenWhenDaemonBlocksThem) {
  sigset_t block;
  sigset_t old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  auto p = launch_ok({.argv = {"sleep", "30"}});
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->signal(SIGTERM));
  EXPECT_EQ(*p->wait_for(10s), std::optional<int>(128 + SIGTERM));
}

TEST(PosixProcessLauncher, DoesNotLeakDescriptors) {
  testkit::TempDir dir;
  int leaky = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaky, 0);
  auto p = launch_ok({.argv = {"sh", "-c", "ls /proc/$$/fd"}, .log_path = dir.path() + "/log"});
  ::close(leaky);
  ASSERT_TRUE(p);
  ASSERT_EQ(*p->wait_for(10s), std::optional<int>(0));
  EXPECT_EQ(*read_file(dir.path() + "/log"), "0\n1\n2\n");
}

TEST(PosixProcessLauncher, MissingProgramIsNotFound) {
  PosixProcessLauncher launcher;
  auto p = launcher.launch({.argv = {"banger-no-such-tool-xyz"}});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::not_found);
  EXPECT_EQ(p.error().message, "banger-no-such-tool-xyz: command not found");
}

// M10 (security review): the child's output goes through the log writer (the daemon's capped
// console writer); once wait_for reports the exit, the writer has written everything, so a
// start-up error can quote the log at once.
TEST(PosixProcessLauncher, LogWriterReceivesAllOutputBeforeTheExitIsReported) {
  testkit::TempDir dir;
  std::string log = dir.path() + "/console.log";
  auto p = launch_ok({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"},
                      .cwd = dir.path(),
                      .umask = 077,
                      .env_overrides = {},
                      .log_path = dir.path() + "/unused.log",
                      .log_writer = {"sh", "-c", "sleep 0.3; cat > \"$0\"", log}});
  ASSERT_TRUE(p);
  auto status = p->wait_for(std::chrono::seconds(10));
  ASSERT_TRUE(status && status->has_value());
  EXPECT_EQ(**status, 3);
  EXPECT_EQ(read_file(log).value_or("<missing>"), "out\nerr\n");
  EXPECT_FALSE(path_exists(dir.path() + "/unused.log"));
}

TEST(PosixProcessLauncher, MissingLogWriterIsNotFoundAndStartsNothing) {
  PosixProcessLauncher launcher;
  auto p = launcher.launch({.argv = {"true"}, .log_writer = {"banger-no-such-writer-xyz"}});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::not_found);
  EXPECT_EQ(p.error().message, "banger-no-such-writer-xyz: command not found");
}

TEST(PosixProcessLauncher, EmptyArgvIsInvalid) {
  PosixProcessLauncher launcher;
  auto p = launcher.launch({});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::invalid_argument);
  EXPECT_EQ(p.error().message, "empty command");
}

TEST(PosixProcessLauncher, MissingCwdIsNotFound) {
  PosixProcessLauncher launcher;
  auto p = launcher.launch({.argv = {"true"}, .cwd = "/nonexistent-banger-dir"});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::not_found);
  EXPECT_EQ(p.error().message,
            "starting true: changing to /nonexistent-banger-dir: No such file or directory");
}

TEST(PosixProcessLauncher, UnopenableLogIsAnError) {
  PosixProcessLauncher launcher;
  auto p = launcher.launch({.argv = {"true"}, .log_path = "/nonexistent-banger-dir/log"});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::not_found);
  EXPECT_EQ(p.error().message,
            "opening log file /nonexistent-banger-dir/log: No such file or directory");
}

TEST(PosixProcessLauncher, NonExecutableProgramFailsToExec) {
  testkit::TempDir dir;
  std::string script = dir.path() + "/not-exec";
  ASSERT_TRUE(write_file_atomic(script, "#!/bin/sh\n", 0644));
  PosixProcessLauncher launcher;
  auto p = launcher.launch({.argv = {script}});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::not_found);
  EXPECT_EQ(p.error().message, script + ": command not found");
}

TEST(ProcessStartTime, MatchesTheHandleAndIdentifiesTheProcess) {
  auto p = launch_ok({.argv = {"sleep", "30"}});
  ASSERT_TRUE(p);
  auto start = process_start_time(p->pid());
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_EQ(*start, p->start_time());
  EXPECT_GT(p->start_time(), 0U);
  EXPECT_TRUE(process_matches(p->pid(), p->start_time()));
  EXPECT_FALSE(process_matches(p->pid(), p->start_time() + 1));
  ASSERT_TRUE(p->signal(SIGKILL));
  ASSERT_EQ(*p->wait_for(10s), std::optional<int>(128 + SIGKILL));
  EXPECT_FALSE(process_matches(p->pid(), p->start_time()));
}

TEST(ProcessStartTime, ZombieDoesNotMatch) {
  auto p = launch_ok({.argv = {"true"}});
  ASSERT_TRUE(p);
  // Not reaped yet: the pid is a zombie, which is not a running VMM.
  EXPECT_TRUE(testkit::eventually([&] { return !process_matches(p->pid(), p->start_time()); }));
  EXPECT_EQ(*p->wait_for(10s), std::optional<int>(0));
}

TEST(ProcessStartTime, MissingProcessIsNotFound) {
  auto p = launch_ok({.argv = {"true"}});
  ASSERT_TRUE(p);
  ASSERT_EQ(*p->wait_for(10s), std::optional<int>(0));
  auto start = process_start_time(p->pid());
  ASSERT_FALSE(start);
  EXPECT_EQ(start.error().code, Errc::not_found);
  EXPECT_EQ(start.error().message, fmt::format("no process with pid {}", p->pid()));
  EXPECT_FALSE(process_matches(0, 0));
}

TEST(ProcessStartTime, WorksForProcessesThatAreNotOurChildren) {
  // pid 1 is never our child; its start time is stable.
  auto start = process_start_time(1);
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_TRUE(process_matches(1, *start));
}

TEST(PosixProcessLauncher, DestroyingTheHandleLeavesTheChildRunning) {
  pid_t pid = 0;
  std::uint64_t start = 0;
  {
    auto p = launch_ok({.argv = {"sleep", "30"}});
    ASSERT_TRUE(p);
    pid = p->pid();
    start = p->start_time();
  }
  EXPECT_TRUE(process_matches(pid, start));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST(ListProcesses, FindsThisProcessWithItsArgvAndStartTime) {
  auto processes = list_processes();
  auto self = std::find_if(processes.begin(), processes.end(),
                           [](const ProcessInfo& p) { return p.pid == ::getpid(); });
  ASSERT_NE(self, processes.end());
  ASSERT_FALSE(self->argv.empty());
  EXPECT_NE(self->argv[0].find("banger_sys_tests"), std::string::npos) << self->argv[0];
  EXPECT_EQ(self->start_time, process_start_time(::getpid()).value_or(0));
  EXPECT_TRUE(list_processes("/nonexistent-proc").empty());
}

TEST(CheckIdsUnused, NamesTheAccountThatHoldsAnId) {
  auto root = check_ids_unused(0, 0);
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error().code, Errc::failed_precondition);
  EXPECT_NE(root.error().message.find("\"root\""), std::string::npos) << root.error().message;
  EXPECT_TRUE(check_ids_unused(0x0BAFFFF0, 0x0BAFFFF0));
}

}  // namespace
}  // namespace banger::sys
