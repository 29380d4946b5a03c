#include "banger/testkit/probes.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace banger::testkit {
namespace {

TEST(Probes, RootSaysWhatItIsNeededFor) {
  EXPECT_EQ(probe_root("bind port 53"), ::geteuid() == 0 ? "" : "needs root to bind port 53");
}

TEST(Probes, ToolsNamesTheFirstMissingTool) {
  EXPECT_EQ(probe_tools({"sh"}), "");
  EXPECT_EQ(probe_tools({"sh", "banger-no-such-tool-xyz", "banger-no-such-tool-abc"}),
            "needs banger-no-such-tool-xyz in PATH");
}

TEST(Probes, FirstMissingIsTheFirstNonEmptyReason) {
  EXPECT_EQ(first_missing({"", "b", "c"}), "b");
  EXPECT_EQ(first_missing({"", ""}), "");
}

TEST(Probes, NetnsNeverMovesTheCaller) {
  // Given the probe (which unshares in a forked child), then this process keeps its namespace.
  char before[64] = {};
  char after[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", before, sizeof before - 1), 0);
  (void)probe_netns();
  ASSERT_GT(::readlink("/proc/self/ns/net", after, sizeof after - 1), 0);
  EXPECT_STREQ(before, after);
}

}  // namespace
}  // namespace banger::testkit
