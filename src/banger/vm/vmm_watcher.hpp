// VmmWatcher: notices at once when a running VM's VMM process exits on its own (a guest panic,
// a guest poweroff, the OOM killer, a QEMU crash), so VmService can release the VM's TAP, DNS
// record and NAT rule and record what happened (the `crash` and `guest_poweroff` events).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "banger/base/fd.hpp"
#include "banger/vm/vm_host.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::vm {

// Owns: its thread and one exit descriptor (VmHost::vmm_exit_fd, a pidfd) per running VM.
// Thread-safety: construct, start and destroy from one thread; poll_once() is for tests that
// do not start() the thread.
class VmmWatcher {
 public:
  // rescan: how often the set of running VMs is re-read (a VM that started since the last
  // round is watched from the next one; a VMM that exits before that is still noticed then,
  // because its record names a process that is gone).
  VmmWatcher(VmService& vms, VmHost& host,
             std::chrono::milliseconds rescan = std::chrono::milliseconds(1000));
  VmmWatcher(const VmmWatcher&) = delete;
  VmmWatcher& operator=(const VmmWatcher&) = delete;
  // Stops the thread (a round in progress finishes first).
  ~VmmWatcher();

  // Starts the thread that calls poll_once(rescan) until destruction.
  void start();

  // One round: watches running VMs not watched yet (and forgets the others), waits up to wait
  // for a VMM to exit, and reports each exited one to VmService::vmm_exited with its exit
  // status when known. Returns how many exits were reported.
  int poll_once(std::chrono::milliseconds wait);

 private:
  struct Watched {
    int pid = 0;
    std::uint64_t start_time = 0;
    base::UniqueFd exit_fd;
  };
  void rescan();
  void report(const std::string& vm_id, const Watched& watched, const VmmExit& how);

  VmService& vms_;
  VmHost& host_;
  std::chrono::milliseconds rescan_;
  std::map<std::string, Watched> watched_;  // by VM id; touched only by the polling thread
  base::UniqueFd wake_;                     // eventfd: wakes the thread to stop
  std::mutex mutex_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banger::vm
