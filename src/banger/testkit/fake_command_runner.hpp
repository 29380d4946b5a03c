// FakeCommandRunner: records every command line and returns scripted results matched by prefix.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "banger/sys/command_runner.hpp"

namespace banger::testkit {

class FakeCommandRunner final : public sys::CommandRunner {
 public:
  // Commands whose display line starts with prefix get result (the latest matching rule wins).
  void on(std::string prefix, sys::CommandResult result) {
    std::lock_guard lock(mutex_);
    rules_.emplace_back(std::move(prefix), std::move(result));
  }
  // Display lines of every command run so far, in order.
  std::vector<std::string> ran() const {
    std::lock_guard lock(mutex_);
    return ran_;
  }
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    std::lock_guard lock(mutex_);
    std::string line = sys::to_display(command.argv);
    ran_.push_back(line);
    for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
      if (line.rfind(it->first, 0) == 0) {
        return it->second;
      }
    }
    return sys::CommandResult{};
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, sys::CommandResult>> rules_;
  std::vector<std::string> ran_;
};

}  // namespace banger::testkit
