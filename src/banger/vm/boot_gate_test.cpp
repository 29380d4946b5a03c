#include "banger/vm/boot_gate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

namespace banger::vm {
namespace {

TEST(BootGate, AtMostSlotsBootAtOnceAndAFreedSlotLetsTheNextIn) {
  BootGate gate(2);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::thread> boots;
  for (int i = 0; i < 6; ++i) {
    boots.emplace_back([&] {
      auto slot = gate.enter({});
      ASSERT_TRUE(slot);
      int now = ++inside;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --inside;
    });
  }
  for (auto& boot : boots) {
    boot.join();
  }
  EXPECT_EQ(most.load(), 2);
  EXPECT_EQ(gate.booting(), 0u);
}

TEST(BootGate, AWaitingStartCanBeCancelledAndTakesNoSlot) {
  BootGate gate(1);
  auto first = gate.enter({});
  ASSERT_TRUE(first);
  std::atomic<bool> cancel{false};
  std::optional<Expected<BootGate::Slot>> second;
  std::thread waiter([&] { second.emplace(gate.enter([&] { return cancel.load(); })); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  cancel = true;
  waiter.join();
  ASSERT_TRUE(second.has_value());
  ASSERT_FALSE(*second);
  EXPECT_EQ(second->error().code, Errc::cancelled);
  EXPECT_EQ(gate.booting(), 1u);
}

TEST(BootGate, ZeroSlotsNeverWaits) {
  BootGate gate(0);
  std::vector<BootGate::Slot> held;
  for (int i = 0; i < 50; ++i) {
    auto slot = gate.enter([] { return true; });  // even a cancelled start gets in
    ASSERT_TRUE(slot);
    held.push_back(std::move(*slot));
  }
  EXPECT_EQ(gate.booting(), 50u);
  held.clear();
  EXPECT_EQ(gate.booting(), 0u);
}

}  // namespace
}  // namespace banger::vm
