// eventually(): the one poll-with-deadline helper of the tests (STYLE §2.10: no sleeps except
// inside it). Header-only and std-only, so every test binary can use it (agentd's included).
#pragma once

#include <chrono>
#include <thread>

namespace banger::testkit {

// Calls `done` every millisecond until it returns true or `timeout` has passed. Returns whether
// it held; `done` is checked once more at the deadline, so a slow scheduler never turns a
// condition that holds into a false negative.
template <class Pred>
bool eventually(Pred&& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return static_cast<bool>(done());
}

}  // namespace banger::testkit
