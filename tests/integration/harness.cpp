#include "harness.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "banger/sys/fs.hpp"

namespace banger::itest {

std::string bin(const std::string& name) { return std::string(BANGER_BIN_DIR) + "/" + name; }

std::string add_test_netns(const std::string& prefix, std::string* error) {
  std::string ns = prefix + "-" + std::to_string(::getpid());
  sys::PosixCommandRunner runner;
  auto added = runner.run({.argv = {"ip", "netns", "add", ns}});
  if (!added || added->exit_code != 0) {
    *error = "ip netns add " + ns + " failed: " + (added ? added->err : added.error().message);
    return "";
  }
  (void)runner.run({.argv = {"ip", "-n", ns, "link", "set", "lo", "up"}});
  return ns;
}

void end_vm_suite(BangerHome*& home, const std::string& ns) {
  if (home != nullptr && !ns.empty()) {
    auto listed = home->banger_in(ns, {"vm", "list", "--json"});
    auto vms = nlohmann::json::parse(listed.out, nullptr, false);
    if (vms.is_array()) {
      for (const auto& vm : vms) {
        home->banger_in(ns, {"vm", "delete", vm["name"].get<std::string>()});
      }
    }
  }
  delete home;  // stops the daemon (by pid as a last resort)
  home = nullptr;
  if (!ns.empty()) {
    sys::PosixCommandRunner runner;
    (void)runner.run({.argv = {"ip", "netns", "del", ns}});
  }
}

BangerHome::BangerHome() = default;

BangerHome::~BangerHome() {
  // The daemon's lock file holds its pid; stop it politely, then for sure.
  auto pid_text = sys::read_file(dir_.path() + "/run/bangerd.lock");
  banger({"daemon", "stop", "--timeout", "10"});
  if (pid_text && !pid_text->empty()) {
    int pid = std::atoi(pid_text->c_str());
    if (pid > 0 && ::kill(pid, 0) == 0) {
      ::kill(pid, SIGKILL);
    }
  }
  if (::testing::Test::HasFailure()) {
    if (auto log = sys::read_file(log_file())) {
      std::fprintf(stderr, "---- bangerd.log ----\n%s---- end ----\n", log->c_str());
    }
  }
}

sys::CommandResult BangerHome::banger(const std::vector<std::string>& args,
                                      const std::string& stdin_data,
                                      const std::map<std::string, std::string>& extra_env) {
  sys::Command command{.argv = {bin("banger")},
                       .stdin_data = stdin_data,
                       .timeout = std::chrono::seconds(60),
                       .env_overrides = {{"BANGER_HOME", dir_.path()},
                                         {"HOME", dir_.path() + "/home"},
                                         {"NO_COLOR", "1"},
                                         {"BANGER_REQUIRE_NETNS", "1"}}};
  for (const auto& [name, value] : extra_env) {
    command.env_overrides[name] = value;
  }
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner_.run(command);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : sys::CommandResult{-1, "", ""};
}

sys::CommandResult BangerHome::banger_in(const std::string& ns,
                                         const std::vector<std::string>& args,
                                         std::chrono::seconds timeout) {
  sys::Command command{.argv = {"ip", "netns", "exec", ns, bin("banger")},
                       .timeout = timeout,
                       .env_overrides = {{"BANGER_HOME", dir_.path()},
                                         {"HOME", dir_.path() + "/home"},
                                         {"NO_COLOR", "1"},
                                         {"BANGER_REQUIRE_NETNS", "1"}}};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner_.run(command);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : sys::CommandResult{-1, "", ""};
}

sys::CommandResult BangerHome::bangerd(const std::vector<std::string>& args) {
  sys::Command command{.argv = {bin("bangerd")},
                       .timeout = std::chrono::seconds(30),
                       .env_overrides = {{"BANGER_HOME", dir_.path()},
                                         {"HOME", dir_.path() + "/home"},
                                         {"BANGER_REQUIRE_NETNS", "1"}}};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner_.run(command);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : sys::CommandResult{-1, "", ""};
}

void BangerHome::write_config(const std::string& toml) {
  ASSERT_TRUE(sys::make_dirs(dir_.path() + "/config"));
  ASSERT_TRUE(sys::write_file_atomic(config_file(), toml));
}

}  // namespace banger::itest
