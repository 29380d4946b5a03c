#include "banger/vm/vmm_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "banger/base/log.hpp"
#include "banger/sys/process_watch.hpp"

namespace banger::vm {

VmmWatcher::VmmWatcher(VmService& vms, VmHost& host, std::chrono::milliseconds rescan)
    : vms_(vms), host_(host), rescan_(rescan), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

VmmWatcher::~VmmWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (wake_.valid()) {
    std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof one);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void VmmWatcher::start() {
  thread_ = std::thread([this] {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) {
          return;
        }
      }
      poll_once(rescan_);
    }
  });
}

void VmmWatcher::report(const std::string& vm_id, const Watched& watched, const VmmExit& how) {
  if (auto handled = vms_.vmm_exited(vm_id, watched.pid, watched.start_time, how); !handled) {
    BANGER_LOG_WARN("vm {}: handling the exit of its VMM (pid {}): {}", vm_id, watched.pid,
                    handled.error().message);
  }
}

void VmmWatcher::rescan() {
  auto vms = vms_.list();
  if (!vms) {
    BANGER_LOG_WARN("watching VMM processes: {}", vms.error().message);
    return;
  }
  std::map<std::string, Watched> next;
  for (const auto& vm : *vms) {
    if (vm.state != model::VmState::running || vm.vmm_pid <= 0) {
      continue;
    }
    auto known = watched_.find(vm.id);
    if (known != watched_.end() && known->second.pid == vm.vmm_pid &&
        known->second.start_time == vm.vmm_start_time) {
      next.emplace(vm.id, std::move(known->second));
      continue;
    }
    Watched watched{.pid = vm.vmm_pid, .start_time = vm.vmm_start_time, .exit_fd = {}};
    auto fd = host_.vmm_exit_fd(vm);
    if (fd) {
      watched.exit_fd = std::move(*fd);
      next.emplace(vm.id, std::move(watched));
    } else if (fd.error().code == Errc::not_running) {
      // Gone before we could watch it: the record names a process that no longer exists.
      report(vm.id, watched, VmmExit{});
    } else {
      BANGER_LOG_WARN("vm {}: cannot watch its VMM (pid {}): {}", vm.name, vm.vmm_pid,
                      fd.error().message);
    }
  }
  watched_ = std::move(next);
}

int VmmWatcher::poll_once(std::chrono::milliseconds wait) {
  rescan();
  std::vector<pollfd> fds;
  std::vector<std::string> ids;
  if (wake_.valid()) {
    fds.push_back({.fd = wake_.get(), .events = POLLIN, .revents = 0});
    ids.emplace_back();
  }
  for (const auto& [id, watched] : watched_) {
    fds.push_back({.fd = watched.exit_fd.get(), .events = POLLIN, .revents = 0});
    ids.push_back(id);
  }
  int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  if (ready < 0) {
    if (errno != EINTR) {
      BANGER_LOG_WARN("watching VMM processes: poll: {}", std::strerror(errno));
    }
    return 0;
  }
  int reported = 0;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (ids[i].empty() || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
      continue;
    }
    auto found = watched_.find(ids[i]);
    auto exit = sys::collect_process_exit(found->second.exit_fd.get());
    report(ids[i], found->second, VmmExit{.exit_code = exit.exit_code, .signal = exit.signal});
    watched_.erase(found);
    ++reported;
  }
  return reported;
}

}  // namespace banger::vm
