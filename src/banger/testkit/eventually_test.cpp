#include "banger/testkit/eventually.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace banger::testkit {
namespace {

using namespace std::chrono_literals;

TEST(Eventually, ReturnsTrueOnceTheConditionHolds) {
  int calls = 0;
  EXPECT_TRUE(eventually([&] { return ++calls == 3; }));
  EXPECT_EQ(calls, 3);
}

TEST(Eventually, ReturnsFalseAfterTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(eventually([] { return false; }, 20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST(Eventually, ChecksOnceMoreAtTheDeadline) {
  // Given a zero timeout, then the condition is still asked once.
  EXPECT_TRUE(eventually([] { return true; }, 0ms));
}

}  // namespace
}  // namespace banger::testkit
