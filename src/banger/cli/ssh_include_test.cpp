#include "banger/cli/ssh_include.hpp"

#include <gtest/gtest.h>

namespace banger::cli {
namespace {

const std::string kPath = "/home/u/.local/state/banger/ssh_config";
const std::string kBlock =
    "# >>> banger ssh-config >>>\n"
    "Include \"/home/u/.local/state/banger/ssh_config\"\n"
    "# <<< banger ssh-config <<<\n";

// Regression for H2 (security review): the Include path the daemon answers is accepted only
// when it is this user's own <state>/ssh_config, and never with a newline or quote in it.
// Fails on 8f38f5a: check_include_path did not exist, and ssh-config --install wrote whatever
// `path` the daemon sent (shown by CliDaemon.SquattedRuntimeDirIsRefusedAndNothingRuns run
// against the CLI with the checks disabled: ~/.ssh/config included the squatter's file).
TEST(SshInclude, CheckIncludePathAcceptsOnlyTheExpectedPlainPath) {
  EXPECT_TRUE(check_include_path(kPath, kPath));
  auto elsewhere = check_include_path("/tmp/poc-squat/evil_ssh_config", kPath);
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code, Errc::failed_precondition);
  EXPECT_EQ(elsewhere.error().message,
            "refusing to include \"/tmp/poc-squat/evil_ssh_config\" from ~/.ssh/config: "
            "banger's ssh config is \"" +
                kPath + "\", so the daemon that answered is not serving this user's state");
  std::string with_newline = "/home/u/x\nMatch exec \"touch /tmp/p\"/ssh_config";
  auto newline = check_include_path(with_newline, with_newline);
  ASSERT_FALSE(newline);
  EXPECT_NE(newline.error().message.find("holds a control character"), std::string::npos);
  EXPECT_FALSE(check_include_path("/home/u/a\"b/ssh_config", "/home/u/a\"b/ssh_config"));
}

TEST(SshInclude, InstallPutsTheBlockFirstAndKeepsTheRest) {
  std::string user = "Host gh\n  HostName github.com\n";
  EXPECT_EQ(install_ssh_include(user, kPath), kBlock + user);
}

TEST(SshInclude, InstallIntoAnEmptyFileIsJustTheBlock) {
  EXPECT_EQ(install_ssh_include("", kPath), kBlock);
}

TEST(SshInclude, InstallTwiceIsIdempotent) {
  std::string user = "# mine\nHost *\n  ServerAliveInterval 30";
  std::string once = install_ssh_include(user, kPath);
  EXPECT_EQ(install_ssh_include(once, kPath), once);
}

TEST(SshInclude, InstallReplacesABlockForAnotherPathWhereverItIs) {
  std::string user = "Host a\n" + std::string(kSshIncludeBegin) + "\nInclude \"/old\"\n" +
                     std::string(kSshIncludeEnd) + "\nHost b\n";
  EXPECT_EQ(install_ssh_include(user, kPath), kBlock + "Host a\nHost b\n");
}

TEST(SshInclude, UninstallRemovesOnlyTheMarkedBlock) {
  std::string user = "Host gh\n  User git\n";
  EXPECT_EQ(uninstall_ssh_include(kBlock + user), user);
  EXPECT_EQ(uninstall_ssh_include(user), user);
}

TEST(SshInclude, PathsWithQuotesAndSpacesAreEscaped) {
  EXPECT_EQ(
      ssh_include_block("/a b/\"x\""),
      "# >>> banger ssh-config >>>\nInclude \"/a b/\\\"x\\\"\"\n# <<< banger ssh-config <<<\n");
}

TEST(SshInclude, HasIncludeNamesTheExactPath) {
  EXPECT_TRUE(has_ssh_include("x\n" + kBlock, kPath));
  EXPECT_FALSE(has_ssh_include(kBlock, "/other"));
  EXPECT_FALSE(has_ssh_include("", kPath));
}

}  // namespace
}  // namespace banger::cli
