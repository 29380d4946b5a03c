#include "banger/vm/usage_poller.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace banger::vm {
namespace {

using namespace std::chrono_literals;

TEST(UsagePoller, PollsEveryIntervalUntilDestroyed) {
  std::atomic<int> polls{0};
  auto started = std::chrono::steady_clock::now();
  {
    UsagePoller poller([&] { ++polls; }, 50ms);
    while (polls.load() < 3 && std::chrono::steady_clock::now() - started < 5s) {
      std::this_thread::sleep_for(5ms);
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - started;
  int seen = polls.load();
  EXPECT_GE(seen, 3);
  // The first poll comes one interval after start: three polls take at least 150 ms.
  EXPECT_GE(elapsed, 150ms);
  std::this_thread::sleep_for(120ms);
  EXPECT_EQ(polls.load(), seen) << "no poll after the poller is destroyed";
}

TEST(UsagePoller, LongIntervalDoesNotPollBeforeItAndStopsAtOnce) {
  std::atomic<int> polls{0};
  auto started = std::chrono::steady_clock::now();
  {
    UsagePoller poller([&] { ++polls; }, 10s);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(polls.load(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(UsagePoller, ZeroIntervalNeverPolls) {
  std::atomic<int> polls{0};
  {
    UsagePoller poller([&] { ++polls; }, 0ms);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(polls.load(), 0);
}

}  // namespace
}  // namespace banger::vm
