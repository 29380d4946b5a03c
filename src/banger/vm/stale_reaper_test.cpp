#include "banger/vm/stale_reaper.hpp"

#include <gtest/gtest.h>

namespace banger::vm {
namespace {

TEST(StaleReaper, SweepsAQuarterOfTheLimitBetweenOneSecondAndAMinute) {
  using std::chrono::seconds;
  EXPECT_EQ(StaleReaper::interval_for(seconds(2)), seconds(1));
  EXPECT_EQ(StaleReaper::interval_for(seconds(120)), seconds(30));
  EXPECT_EQ(StaleReaper::interval_for(std::chrono::hours(2)), seconds(60));
}

}  // namespace
}  // namespace banger::vm
