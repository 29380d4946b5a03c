// Integration-test harness: runs the real banger/bangerd binaries against a private
// BANGER_HOME, and stops any daemon it started (by pid) when the test ends.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "banger/sys/command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

// In SetUp() of a suite whose SetUpTestSuite decided once: skips every test with the reason a
// prerequisite is missing, or fails every test with the setup error (a regression, not a skip).
#define BANGER_ITEST_SUITE_GATE(skip_reason, setup_error) \
  do {                                                    \
    if (!(skip_reason).empty()) {                         \
      GTEST_SKIP() << (skip_reason);                      \
    }                                                     \
    if (!(setup_error).empty()) {                         \
      FAIL() << (setup_error);                            \
    }                                                     \
  } while (false)

namespace banger::itest {

class BangerHome {
 public:
  BangerHome();
  ~BangerHome();  // stops the daemon (banger daemon stop; then SIGKILL by pid) and prints its
                  // log when the test failed

  const std::string& dir() const { return dir_.path(); }
  std::string socket() const { return dir_.path() + "/run/bangerd.sock"; }
  std::string log_file() const { return dir_.path() + "/state/bangerd.log"; }
  std::string config_file() const { return dir_.path() + "/config/config.toml"; }

  // Runs `banger <args...>` with BANGER_HOME set; aborts the test on spawn failure.
  sys::CommandResult banger(const std::vector<std::string>& args,
                            const std::string& stdin_data = "",
                            const std::map<std::string, std::string>& extra_env = {});
  // Runs `ip netns exec <ns> banger <args...>` (the daemon it starts lives in that namespace).
  sys::CommandResult banger_in(const std::string& ns, const std::vector<std::string>& args,
                               std::chrono::seconds timeout = std::chrono::seconds(300));
  // Runs `bangerd <args...>` to completion (for refusal tests).
  sys::CommandResult bangerd(const std::vector<std::string>& args);
  // Writes config.toml.
  void write_config(const std::string& toml);

 private:
  testkit::TempDir dir_;
  sys::PosixCommandRunner runner_;
};

std::string bin(const std::string& name);

// For suites that boot VMs: a private network namespace "<prefix>-<pid>" with lo up. Returns
// its name, or "" with *error set when it cannot be made.
std::string add_test_netns(const std::string& prefix, std::string* error);
// The end of a suite that booted VMs in ns (either may be null/empty when its setup stopped
// early): deletes every VM home's daemon lists (talking to it inside ns), deletes home (which
// stops the daemon), then the namespace.
void end_vm_suite(BangerHome*& home, const std::string& ns);

}  // namespace banger::itest
