// StaleReaper: the background sweep behind `auto_stop_stale_after` (S13). Every interval it
// asks VmService to stop running VMs nobody touched (ssh, exec, run, ports) for that long.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "banger/vm/vm_service.hpp"

namespace banger::vm {

// Owns: its thread. Thread-safety: construct and destroy from one thread.
class StaleReaper {
 public:
  // Does nothing (no thread) when after <= 0. The sweep runs every min(after / 4, 60 s), at
  // least every second, so a VM stops at most a quarter of the limit late.
  StaleReaper(VmService& vms, std::chrono::seconds after);
  StaleReaper(const StaleReaper&) = delete;
  StaleReaper& operator=(const StaleReaper&) = delete;
  // Stops the thread (waiting for a sweep in progress).
  ~StaleReaper();

  // The sweep period chosen for after (see the constructor).
  static std::chrono::seconds interval_for(std::chrono::seconds after);

 private:
  void run();

  VmService& vms_;
  std::chrono::seconds after_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banger::vm
