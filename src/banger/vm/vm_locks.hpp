// VmLocks: one mutex per VM so operations on one VM serialize while different VMs proceed in
// parallel (S4).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "banger/base/guarded.hpp"

namespace banger::vm {

// Thread-safety: all methods may be called concurrently. Entries exist only while a Lock for
// that key is held or awaited, so the map does not grow with every VM ever seen.
class VmLocks {
 public:
  // Holds the lock of one VM until destroyed. Move-only.
  class Lock {
   public:
    Lock(Lock&& other) noexcept = default;
    Lock& operator=(Lock&&) = delete;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    ~Lock();

   private:
    friend class VmLocks;
    Lock(VmLocks* owner, std::string key, std::shared_ptr<std::mutex> mutex);

    VmLocks* owner_;
    std::string key_;
    std::shared_ptr<std::mutex> mutex_;  // declared before lock_: lock_ unlocks first
    std::unique_lock<std::mutex> lock_;
  };

  VmLocks() = default;
  VmLocks(const VmLocks&) = delete;
  VmLocks& operator=(const VmLocks&) = delete;

  // Blocks until no other Lock for `key` (a VM id) is held, then returns one.
  [[nodiscard]] Lock acquire(const std::string& key);

  // Number of keys with a held or awaited lock (for tests).
  std::size_t size_for_test() const;

 private:
  void release(const std::string& key, std::shared_ptr<std::mutex>& mutex);

  base::Guarded<std::map<std::string, std::shared_ptr<std::mutex>>> mutexes_;
};

}  // namespace banger::vm
