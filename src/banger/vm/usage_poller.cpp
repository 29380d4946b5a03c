#include "banger/vm/usage_poller.hpp"

#include <utility>

namespace banger::vm {

UsagePoller::UsagePoller(std::function<void()> poll, std::chrono::milliseconds interval)
    : poll_(std::move(poll)), interval_(interval) {
  if (interval_.count() > 0) {
    thread_ = std::thread([this] { run(); });
  }
}

UsagePoller::~UsagePoller() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void UsagePoller::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    poll_();
    lock.lock();
  }
}

}  // namespace banger::vm
