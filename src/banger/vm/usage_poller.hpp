// UsagePoller: the background sampling behind `stats_poll_interval` (SPEC S3; the original
// banger's metrics_poll_interval). Every interval it calls poll (the daemon: VmService::
// poll_usage, which records a CPU/RSS sample of each running VM's VMM), so `vm stats` reports
// CPU% over the time since the last sample instead of sleeping for a short window.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace banger::vm {

// Owns: its thread. Thread-safety: construct and destroy from one thread.
class UsagePoller {
 public:
  // Starts the thread: poll runs every interval (the first time one interval after start).
  // Does nothing (no thread) when interval <= 0.
  UsagePoller(std::function<void()> poll, std::chrono::milliseconds interval);
  UsagePoller(const UsagePoller&) = delete;
  UsagePoller& operator=(const UsagePoller&) = delete;
  // Stops the thread (waiting for a poll in progress).
  ~UsagePoller();

 private:
  void run();

  std::function<void()> poll_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banger::vm
