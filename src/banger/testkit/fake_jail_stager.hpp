// FakeJailStager: an in-memory model of Firecracker jails behind vmm::firecracker::JailStager,
// for FirecrackerVmm tests. Header-only (ADR 0007): tests that link banger::vmm include it.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/vmm/firecracker/jail.hpp"

namespace banger::testkit {

class FakeJailStager final : public vmm::firecracker::JailStager {
 public:
  // The next stage() fails with error (once); nothing is staged.
  void fail_next_stage(Error error) {
    std::lock_guard lock(mutex_);
    next_error_ = std::move(error);
  }
  // Adds a jail as a crash would have left it.
  void add_leftover(const std::string& dir) {
    std::lock_guard lock(mutex_);
    jails_[dir] = {};
  }
  // The jails that exist now, by dir, with the plan that staged them (default for leftovers).
  std::map<std::string, vmm::firecracker::JailPlan> jails() const {
    std::lock_guard lock(mutex_);
    return jails_;
  }
  // Every dir remove() was called for, in order.
  std::vector<std::string> removed() const {
    std::lock_guard lock(mutex_);
    return removed_;
  }

  Status stage(const vmm::firecracker::JailPlan& plan) override {
    std::lock_guard lock(mutex_);
    if (next_error_) {
      Error error = std::move(*next_error_);
      next_error_.reset();
      return tl::unexpected(std::move(error));
    }
    jails_[plan.layout.dir] = plan;  // replaces a leftover, as the real one does
    return {};
  }
  Status remove(const vmm::firecracker::JailLayout& layout) override {
    std::lock_guard lock(mutex_);
    removed_.push_back(layout.dir);
    jails_.erase(layout.dir);
    return {};
  }
  Expected<std::vector<std::string>> list(const std::string& chroot_base,
                                          const std::string& exec_file_name) override {
    std::lock_guard lock(mutex_);
    std::string prefix = chroot_base + "/" + exec_file_name + "/";
    std::vector<std::string> ids;
    for (const auto& [dir, plan] : jails_) {
      if (dir.starts_with(prefix)) {
        ids.push_back(dir.substr(prefix.size()));
      }
    }
    return ids;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<Error> next_error_;
  std::map<std::string, vmm::firecracker::JailPlan> jails_;
  std::vector<std::string> removed_;
};

}  // namespace banger::testkit
