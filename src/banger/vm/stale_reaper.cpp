#include "banger/vm/stale_reaper.hpp"

#include <algorithm>

#include "banger/base/log.hpp"

namespace banger::vm {

StaleReaper::StaleReaper(VmService& vms, std::chrono::seconds after) : vms_(vms), after_(after) {
  if (after_.count() > 0) {
    BANGER_LOG_INFO("stopping vms untouched for {} s (auto_stop_stale_after), checked every {} s",
                    after_.count(), interval_for(after_).count());
    thread_ = std::thread([this] { run(); });
  }
}

StaleReaper::~StaleReaper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::chrono::seconds StaleReaper::interval_for(std::chrono::seconds after) {
  return std::clamp(after / 4, std::chrono::seconds(1), std::chrono::seconds(60));
}

void StaleReaper::run() {
  auto interval = interval_for(after_);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    auto stopped = vms_.stop_stale(after_);
    if (!stopped.empty()) {
      BANGER_LOG_INFO("stopped {} stale vm(s)", stopped.size());
    }
    lock.lock();
  }
}

}  // namespace banger::vm
