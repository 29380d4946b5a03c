#include "banger/vm/boot_gate.hpp"

#include <chrono>

namespace banger::vm {

BootGate::Slot::~Slot() {
  if (gate_ != nullptr) {
    gate_->leave();
  }
}

Expected<BootGate::Slot> BootGate::enter(const base::CancelFn& cancel) {
  std::unique_lock lock(mutex_);
  while (slots_ != 0 && held_ >= slots_) {
    if (base::is_cancelled(cancel)) {
      return fail(Errc::cancelled, "cancelled while waiting for a free CPU to boot on");
    }
    freed_.wait_for(lock, std::chrono::milliseconds(100));
  }
  ++held_;
  return Slot(this);
}

std::size_t BootGate::booting() const {
  std::lock_guard lock(mutex_);
  return held_;
}

void BootGate::leave() {
  {
    std::lock_guard lock(mutex_);
    --held_;
  }
  freed_.notify_one();
}

}  // namespace banger::vm
