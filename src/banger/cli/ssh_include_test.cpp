#include "banger/cli/ssh_include.hpp"

#include <gtest/gtest.h>

namespace banger::cli {
namespace {

const std::string kPath = "/home/u/.local/state/banger/ssh_config";
const std::string kBlock =
    "# >>> banger ssh-config >>>\n"
    "Include \"/home/u/.local/state/banger/ssh_config\"\n"
    "# <<< banger ssh-config <<<\n";

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
