#include "banger/sys/command_runner.hpp"

#include <gtest/gtest.h>

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
