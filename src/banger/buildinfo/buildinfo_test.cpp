#include "banger/buildinfo/buildinfo.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace banger::buildinfo {
namespace {

using ::testing::MatchesRegex;

TEST(BuildInfo, BuildTimeIsUtcRfc3339) {
  EXPECT_THAT(std::string(build_time()),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
}

TEST(BuildInfo, VersionLineNamesVersionCommitAndBuildTimeOnOneLine) {
  const std::string line = version_line("banger");
  EXPECT_EQ(line, "banger " + std::string(version()) + " (commit " + std::string(commit()) +
                      ", built " + std::string(build_time()) + ")");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace banger::buildinfo
