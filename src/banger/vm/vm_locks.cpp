#include "banger/vm/vm_locks.hpp"

namespace banger::vm {

VmLocks::Lock::Lock(VmLocks* owner, std::string key, std::shared_ptr<std::mutex> mutex)
    : owner_(owner), key_(std::move(key)), mutex_(std::move(mutex)), lock_(*mutex_) {}

VmLocks::Lock::~Lock() {
  if (mutex_ == nullptr) {
    return;  // moved from
  }
  lock_.unlock();
  owner_->release(key_, mutex_);
}

VmLocks::Lock VmLocks::acquire(const std::string& key) {
  auto mutex = mutexes_.with_lock([&](auto& map) {
    auto& slot = map[key];
    if (slot == nullptr) {
      slot = std::make_shared<std::mutex>();
    }
    return slot;
  });
  // Blocks outside the map lock, so other VMs are not held up.
  return Lock(this, key, std::move(mutex));
}

void VmLocks::release(const std::string& key, std::shared_ptr<std::mutex>& mutex) {
  mutexes_.with_lock([&](auto& map) {
    // Copies are only made under this map lock, so use_count() is stable here: 2 means only
    // the map and this Lock know the mutex, and nobody is waiting for it.
    auto it = map.find(key);
    if (it != map.end() && it->second == mutex && mutex.use_count() == 2) {
      map.erase(it);
    }
    mutex.reset();
  });
}

std::size_t VmLocks::size_for_test() const {
  return mutexes_.with_lock([](const auto& map) { return map.size(); });
}

}  // namespace banger::vm
