// Clock seam: wall and monotonic time; tests use testkit::FakeClock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace banger::base {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() const = 0;
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override;
  std::chrono::steady_clock::time_point steady_now() const override;
  void sleep_for(std::chrono::milliseconds duration) override;
};

// RFC 3339 UTC with seconds ("2026-11-28T03:48:41Z").
std::string format_rfc3339(std::chrono::system_clock::time_point t);
// Unix seconds of a time point.
std::int64_t to_unix_seconds(std::chrono::system_clock::time_point t);

}  // namespace banger::base
