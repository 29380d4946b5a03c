// parse_guest_status(): the guest's status report is guest input, parsed strictly.
#include <gtest/gtest.h>

#include <string>

#include "banger/workspace/workspace.hpp"

namespace banger::workspace {
namespace {

const std::string kHead(40, 'a');

TEST(WorkspaceGuestStatus, ParsesAFullReport) {
  auto status =
      parse_guest_status("banger-workspace-status 1\nunexported 1\ngit 1\nhead " + kHead +
                         "\nbranch feature/x\nbase " + kHead + "\nchanged 3\nuntracked 12\n");
  ASSERT_TRUE(status.has_value()) << status.error().message;
  EXPECT_TRUE(status->git);
  EXPECT_EQ(status->head, kHead);
  EXPECT_EQ(status->branch, "feature/x");
  EXPECT_EQ(status->base, kHead);
  EXPECT_EQ(status->changed, 3);
  EXPECT_EQ(status->untracked, 12);
  EXPECT_TRUE(status->unexported);
}

TEST(WorkspaceGuestStatus, ParsesAPlainWorkspaceAndADetachedHead) {
  auto plain = parse_guest_status("banger-workspace-status 1\nunexported 0\ngit 0\n");
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->git);
  EXPECT_FALSE(plain->unexported);
  auto detached = parse_guest_status("banger-workspace-status 1\nunexported 0\ngit 1\nhead " +
                                     kHead + "\nbranch \nbase \nchanged 0\nuntracked 0\n");
  ASSERT_TRUE(detached.has_value());
  EXPECT_EQ(detached->branch, "");
  EXPECT_EQ(detached->base, "");
}

TEST(WorkspaceGuestStatus, RejectsGarbage) {
  const std::string ok = "banger-workspace-status 1\ngit 1\n";
  for (const std::string& bad : {
           std::string(),
           std::string("garbage"),
           std::string("banger-workspace-status 2\ngit 1\n"),
           std::string("banger-workspace-status 1\n"),  // no git line
           ok + "changed -1\n",
           ok + "changed 99999999999999999999\n",
           ok + "changed 3x\n",
           ok + "changed \n",
           ok + "untracked many\n",
           ok + "head xyz\n",
           ok + "head " + std::string(41, 'a') + "\n",
           ok + "base ../../etc\n",
           ok + "branch a\033[31mred\n",
           ok + "branch " + std::string(300, 'b') + "\n",
           ok + "git 2\n",
           ok + "unexported yes\n",
           ok + "noline\n",
           ok + "surprise key\n",
           ok + "\n\n",
           ok + std::string(70000, 'x'),
           std::string("banger-workspace-status 1\0git 1\n", 32),
       }) {
    auto status = parse_guest_status(bad);
    EXPECT_FALSE(status.has_value()) << bad.substr(0, 80);
    if (!status) {
      EXPECT_EQ(status.error().code, Errc::invalid_argument);
    }
  }
}

}  // namespace
}  // namespace banger::workspace
