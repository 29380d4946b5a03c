#include "banger/posix/env.hpp"

#include <gtest/gtest.h>

namespace banger::posix {
namespace {

TEST(BuildEnv, OverridesReplaceBaseEntriesAndComeLast) {
  const std::vector<std::string> base{"PATH=/bin", "HOME=/root", "EMPTY"};
  EXPECT_EQ(build_env(base, {{"HOME", "/home/x"}, {"A", "1"}}),
            (std::vector<std::string>{"PATH=/bin", "EMPTY", "A=1", "HOME=/home/x"}));
  EXPECT_EQ(build_env(base, {}), base);
}

TEST(CStrings, IsNullTerminatedAndPointsIntoTheStrings) {
  const std::vector<std::string> strings{"a", "bc"};
  const auto c = c_strings(strings);
  ASSERT_EQ(c.size(), 3U);
  EXPECT_EQ(c[0], strings[0].c_str());
  EXPECT_STREQ(c[1], "bc");
  EXPECT_EQ(c[2], nullptr);
}

TEST(CurrentEnv, HasThisProcessEnvironment) {
  ::setenv("BANGER_POSIX_ENV_TEST", "yes", 1);
  const auto env = current_env();
  EXPECT_NE(std::find(env.begin(), env.end(), "BANGER_POSIX_ENV_TEST=yes"), env.end());
}

}  // namespace
}  // namespace banger::posix
