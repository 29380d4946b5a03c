#include "banger/vm/vm_locks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace banger::vm {
namespace {

TEST(VmLocks, OperationsOnOneVmSerialize) {
  VmLocks locks;
  constexpr int kThreads = 8;
  constexpr int kRounds = 500;
  int counter = 0;  // plain int: lost updates would show if two holders overlapped
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        auto lock = locks.acquire("0123456789abcdef");
        int now = ++inside;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        ++counter;
        --inside;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(counter, kThreads * kRounds);
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(locks.size_for_test(), 0u);
}

TEST(VmLocks, DifferentVmsDoNotBlockEachOther) {
  VmLocks locks;
  auto a = locks.acquire("aaaa");
  auto b = locks.acquire("bbbb");  // would deadlock if keys shared a mutex
  EXPECT_EQ(locks.size_for_test(), 2u);
  std::thread other([&] { auto c = locks.acquire("cccc"); });
  other.join();
  EXPECT_EQ(locks.size_for_test(), 2u);
}

TEST(VmLocks, ReleasedLocksLeaveNoEntries) {
  VmLocks locks;
  {
    auto a = locks.acquire("aaaa");
    auto moved = std::move(a);
    EXPECT_EQ(locks.size_for_test(), 1u);
  }
  EXPECT_EQ(locks.size_for_test(), 0u);
  auto again = locks.acquire("aaaa");
  EXPECT_EQ(locks.size_for_test(), 1u);
}

}  // namespace
}  // namespace banger::vm
