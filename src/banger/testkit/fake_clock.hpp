// FakeClock: time that moves only when a test (or sleep_for) advances it.
#pragma once

#include <atomic>

#include "banger/base/clock.hpp"

namespace banger::testkit {

class FakeClock final : public base::Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1'800'000'000'000) +
                                                 elapsed());
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point(elapsed());
  }
  void sleep_for(std::chrono::milliseconds duration) override { advance(duration); }
  void advance(std::chrono::milliseconds duration) { elapsed_ms_ += duration.count(); }

 private:
  std::chrono::milliseconds elapsed() const { return std::chrono::milliseconds(elapsed_ms_); }
  std::atomic<long long> elapsed_ms_{0};
};

}  // namespace banger::testkit
