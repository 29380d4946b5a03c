#include "banger/base/strings.hpp"

#include <gtest/gtest.h>

namespace banger::base {
namespace {

TEST(Strings, SplitKeepsEmptyFields) {
  EXPECT_EQ(split("a::b", ':'), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split("", ':'), (std::vector<std::string>{""}));
}

TEST(Strings, JoinAndTrim) {
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(trim("   "), "");
}

TEST(Strings, TailLinesReturnsLastLines) {
  EXPECT_EQ(tail_lines("1\n2\n3\n4\n", 2), "3\n4");
  EXPECT_EQ(tail_lines("1\n2", 5), "1\n2");
  EXPECT_EQ(tail_lines("", 3), "");
}

}  // namespace
}  // namespace banger::base
