// FakeProcessLauncher: records every launch and hands out FakeProcess children that a test can
// "exit" whenever it likes (and that exit on SIGKILL/SIGTERM like real ones, unless told not to).
#pragma once

#include <signal.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "banger/sys/process_launcher.hpp"

namespace banger::testkit {

// The state of one fake child, shared between the test and the handle the code under test holds.
class FakeProcess {
 public:
  FakeProcess(pid_t pid, std::uint64_t start_time, sys::LaunchSpec spec)
      : pid_(pid), start_time_(start_time), spec_(std::move(spec)) {
    exit_on_signal_[SIGKILL] = 128 + SIGKILL;
    exit_on_signal_[SIGTERM] = 128 + SIGTERM;
  }

  pid_t pid() const { return pid_; }
  std::uint64_t start_time() const { return start_time_; }
  const sys::LaunchSpec& spec() const { return spec_; }
  const std::vector<std::string>& argv() const { return spec_.argv; }

  // Makes the child exit with status (no-op when it already exited).
  void exit(int status) {
    std::lock_guard lock(mutex_);
    if (!exit_status_) {
      exit_status_ = status;
      exited_.notify_all();
    }
  }
  // Receiving sig makes the child exit with status; nullopt: the child ignores sig.
  void exit_on_signal(int sig, std::optional<int> status) {
    std::lock_guard lock(mutex_);
    if (status) {
      exit_on_signal_[sig] = *status;
    } else {
      exit_on_signal_.erase(sig);
    }
  }
  // Every signal sent while the child was running, in order.
  std::vector<int> signals() const {
    std::lock_guard lock(mutex_);
    return signals_;
  }
  bool exited() const {
    std::lock_guard lock(mutex_);
    return exit_status_.has_value();
  }

  Status signal(int sig) {
    std::lock_guard lock(mutex_);
    if (exit_status_) {
      return {};
    }
    signals_.push_back(sig);
    if (auto it = exit_on_signal_.find(sig); it != exit_on_signal_.end()) {
      exit_status_ = it->second;
      exited_.notify_all();
    }
    return {};
  }
  // Blocks up to timeout (real time) for exit(); returns immediately once exited.
  Expected<std::optional<int>> wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    exited_.wait_for(lock, timeout, [&] { return exit_status_.has_value(); });
    return exit_status_;
  }

 private:
  pid_t pid_;
  std::uint64_t start_time_;
  sys::LaunchSpec spec_;
  mutable std::mutex mutex_;
  std::condition_variable exited_;
  std::optional<int> exit_status_;
  std::map<int, int> exit_on_signal_;
  std::vector<int> signals_;
};

// The sys::Process handle given to the code under test; forwards to the shared FakeProcess.
class FakeProcessHandle final : public sys::Process {
 public:
  explicit FakeProcessHandle(std::shared_ptr<FakeProcess> process) : process_(std::move(process)) {}
  pid_t pid() const override { return process_->pid(); }
  std::uint64_t start_time() const override { return process_->start_time(); }
  Status signal(int sig) override { return process_->signal(sig); }
  Expected<std::optional<int>> wait_for(std::chrono::milliseconds timeout) override {
    return process_->wait_for(timeout);
  }
  bool alive() override { return !process_->exited(); }

 private:
  std::shared_ptr<FakeProcess> process_;
};

class FakeProcessLauncher final : public sys::ProcessLauncher {
 public:
  // Fake pids start far above any real pid_max default, so they never name a real process.
  static constexpr pid_t kFirstPid = 5'000'000;

  // The next launch fails with error (once).
  void fail_next(Error error) {
    std::lock_guard lock(mutex_);
    next_error_ = std::move(error);
  }
  // Runs for every new child before launch() returns (e.g. to make it exit at once).
  void on_launch(std::function<void(FakeProcess&)> hook) {
    std::lock_guard lock(mutex_);
    on_launch_ = std::move(hook);
  }
  // Every child launched so far, in order.
  std::vector<std::shared_ptr<FakeProcess>> processes() const {
    std::lock_guard lock(mutex_);
    return processes_;
  }
  // The most recent child; nullptr before the first launch.
  std::shared_ptr<FakeProcess> last() const {
    std::lock_guard lock(mutex_);
    return processes_.empty() ? nullptr : processes_.back();
  }

  Expected<std::unique_ptr<sys::Process>> launch(const sys::LaunchSpec& spec) override {
    std::function<void(FakeProcess&)> hook;
    std::shared_ptr<FakeProcess> process;
    {
      std::lock_guard lock(mutex_);
      if (next_error_) {
        Error error = std::move(*next_error_);
        next_error_.reset();
        return tl::unexpected(std::move(error));
      }
      if (spec.argv.empty()) {
        return fail(Errc::invalid_argument, "empty command");
      }
      auto n = static_cast<pid_t>(processes_.size());
      process =
          std::make_shared<FakeProcess>(kFirstPid + n, 1000 + static_cast<std::uint64_t>(n), spec);
      processes_.push_back(process);
      hook = on_launch_;
    }
    if (hook) {
      hook(*process);
    }
    return std::unique_ptr<sys::Process>(new FakeProcessHandle(process));
  }

 private:
  mutable std::mutex mutex_;
  std::optional<Error> next_error_;
  std::function<void(FakeProcess&)> on_launch_;
  std::vector<std::shared_ptr<FakeProcess>> processes_;
};

}  // namespace banger::testkit
