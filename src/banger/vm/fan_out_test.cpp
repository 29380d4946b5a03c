#include "banger/vm/fan_out.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace banger::vm {
namespace {

TEST(FanOut, CallsEveryIndexOnceAndNeverMoreThanTheBoundAtOnce) {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::vector<int> calls(20, 0);
  for_each_index(calls.size(), 3, [&](std::size_t i) {
    int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ++calls[i];
    --running;
  });
  EXPECT_EQ(calls, std::vector<int>(20, 1));
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 1);
}

TEST(FanOut, NothingToDoStartsNothing) {
  bool called = false;
  for_each_index(0, 8, [&](std::size_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(FanOut, ABoundOfZeroStillRunsSerially) {
  std::vector<int> order;
  std::mutex mutex;
  for_each_index(3, 0, [&](std::size_t i) {
    std::lock_guard lock(mutex);
    order.push_back(static_cast<int>(i));
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(FanOut, ResultsComeBackInNameOrder) {
  auto results = for_each<std::string>(
      {"a", "b", "c"}, [](const std::string& name) { return Expected<std::string>(name + "!"); });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(*results[0], "a!");
  EXPECT_EQ(*results[2], "c!");
}

TEST(FanOut, JoinsEveryFailureUnderTheFirstCode) {
  std::vector<Expected<int>> results;
  results.emplace_back(1);
  results.emplace_back(tl::unexpected(Error{Errc::not_found, "vm \"x\" not found", 0, {}}));
  results.emplace_back(tl::unexpected(Error{Errc::timeout, "vm y timed out", 0, {}}));
  auto joined = all_or_joined_error(std::move(results));
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code, Errc::not_found);
  EXPECT_EQ(joined.error().message, "vm \"x\" not found; vm y timed out");

  std::vector<Expected<int>> fine;
  fine.emplace_back(1);
  fine.emplace_back(2);
  EXPECT_EQ(*all_or_joined_error(std::move(fine)), (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace banger::vm
