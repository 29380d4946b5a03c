#include "banger/hostnat/nat_service.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "banger/testkit/fake_command_runner.hpp"

namespace banger::hostnat {
namespace {

using Lines = std::vector<std::string>;

// FakeCommandRunner records command lines only; this also keeps each command's stdin (the nft
// scripts) and can fail a run as if nft could not be started.
class ScriptRecordingRunner final : public sys::CommandRunner {
 public:
  testkit::FakeCommandRunner fake;

  Expected<sys::CommandResult> run(const sys::Command& command) override {
    {
      std::lock_guard lock(mutex_);
      scripts_.push_back(command.stdin_data);
      if (spawn_error_) {
        return tl::unexpected(*spawn_error_);
      }
    }
    return fake.run(command);
  }
  Lines scripts() const {
    std::lock_guard lock(mutex_);
    return scripts_;
  }
  void fail_spawn(Error error) {
    std::lock_guard lock(mutex_);
    spawn_error_ = std::move(error);
  }

 private:
  mutable std::mutex mutex_;
  Lines scripts_;
  std::optional<Error> spawn_error_;
};

class FakeIpForwarding final : public IpForwarding {
 public:
  Status enable() override {
    std::lock_guard lock(mutex_);
    ++calls_;
    if (error_) {
      return tl::unexpected(*error_);
    }
    on_ = true;
    return {};
  }
  void fail_with(Error error) { error_ = std::move(error); }
  int calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  bool on() const {
    std::lock_guard lock(mutex_);
    return on_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<Error> error_;
  int calls_ = 0;
  bool on_ = false;
};

const NatNetwork kNetwork{.bridge_name = "br-fc", .bridge_cidr = "172.16.0.1/24"};

NatVm V(std::string id, std::string ip, std::string tap, bool nat = true) {
  return {.vm_id = std::move(id), .ip = std::move(ip), .tap = std::move(tap), .nat = nat};
}

// The script NatService must apply for vms (the exact text is nat_ruleset_test's business).
std::string table(const std::vector<NatVm>& vms) {
  auto script = render_nat_ruleset(kNetwork, vms);
  EXPECT_TRUE(script) << script.error().message;
  return script.value_or("");
}

std::string describe(const Status& status) {
  return status ? "ok"
                : std::string(errc_name(status.error().code)) + ": " + status.error().message;
}

struct Fixture {
  ScriptRecordingRunner runner;
  FakeIpForwarding forwarding;
  NatService nat{{.runner = runner,
                  .ip_forwarding = forwarding,
                  .bridge_name = "br-fc",
                  .bridge_cidr = "172.16.0.1/24"}};
};

TEST(NatService, EnableAppliesTheTableWithNftAndTurnsOnForwarding) {
  Fixture f;
  ASSERT_EQ(describe(f.nat.enable("v1", "172.16.0.2", "tap-fc-0")), "ok");
  EXPECT_EQ(f.runner.fake.ran(), (Lines{"nft -f -"}));
  EXPECT_EQ(f.runner.scripts(), (Lines{table({V("v1", "172.16.0.2", "tap-fc-0")})}));
  EXPECT_EQ(f.forwarding.calls(), 1);
  EXPECT_TRUE(f.forwarding.on());
  EXPECT_TRUE(f.nat.enabled("v1"));
  EXPECT_FALSE(f.nat.enabled("v2"));
  EXPECT_EQ(f.nat.vms(),
            (std::vector<NatVm>{{.vm_id = "v1", .ip = "172.16.0.2", .tap = "tap-fc-0"}}));
}

TEST(NatService, AdmitPinsAVmWithoutNatAndLeavesForwardingAlone) {
  Fixture f;
  ASSERT_EQ(describe(f.nat.admit(V("v1", "172.16.0.2", "tap-fc-0", false))), "ok");
  EXPECT_EQ(f.runner.scripts(), (Lines{table({V("v1", "172.16.0.2", "tap-fc-0", false)})}));
  EXPECT_EQ(f.forwarding.calls(), 0);
  EXPECT_FALSE(f.nat.enabled("v1"));
  // Enabling NAT later keeps the same entry and turns forwarding on.
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  EXPECT_EQ(f.runner.scripts().back(), table({V("v1", "172.16.0.2", "tap-fc-0")}));
  EXPECT_EQ(f.forwarding.calls(), 1);
}

TEST(NatService, EvictTakesEveryRuleOfAStoppedVmAway) {
  Fixture f;
  ASSERT_TRUE(f.nat.admit(V("v1", "172.16.0.2", "tap-fc-0", false)));
  ASSERT_TRUE(f.nat.enable("v2", "172.16.0.3", "tap-fc-1"));
  ASSERT_EQ(describe(f.nat.evict("v2")), "ok");
  EXPECT_EQ(f.runner.scripts().back(), table({V("v1", "172.16.0.2", "tap-fc-0", false)}));
  EXPECT_FALSE(f.nat.enabled("v2"));
  auto before = f.runner.scripts().size();
  ASSERT_EQ(describe(f.nat.evict("v2")), "ok");  // not admitted: nothing runs
  EXPECT_EQ(f.runner.scripts().size(), before);
}

TEST(NatService, RejectsATapHeldByAnotherVm) {
  Fixture f;
  ASSERT_TRUE(f.nat.admit(V("v1", "172.16.0.2", "tap-fc-0", false)));
  EXPECT_EQ(describe(f.nat.admit(V("v2", "172.16.0.3", "tap-fc-0", false))),
            "invalid_argument: admitting vm v2: tap tap-fc-0 is already used by vm v1");
}

TEST(NatService, TablesExistWhenNftListsEither) {
  Fixture f;
  f.runner.fake.on("nft list table", {.exit_code = 1});
  EXPECT_EQ(f.nat.tables_exist(), false);
  f.runner.fake.on("nft list table bridge banger", {});
  EXPECT_EQ(f.nat.tables_exist(), true);
  EXPECT_EQ(f.runner.fake.ran(),
            (Lines{"nft list table ip banger", "nft list table bridge banger",
                   "nft list table ip banger", "nft list table bridge banger"}));
  f.runner.fail_spawn(Error{Errc::not_found, "nft: command not found", 0, {}});
  EXPECT_EQ(f.nat.tables_exist(), false);  // no nft, no tables
}

TEST(NatService, EnablingTwiceAppliesTheSameTableAgain) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  auto scripts = f.runner.scripts();
  ASSERT_EQ(scripts.size(), 2U);
  EXPECT_EQ(scripts[0], scripts[1]);
  EXPECT_EQ(f.nat.vms().size(), 1U);
}

TEST(NatService, EnableReplacesTheEntryOfTheSameVm) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.3", "tap-fc-1"));
  EXPECT_EQ(f.runner.scripts().back(), table({V("v1", "172.16.0.3", "tap-fc-1")}));
  EXPECT_EQ(f.nat.vms(),
            (std::vector<NatVm>{{.vm_id = "v1", .ip = "172.16.0.3", .tap = "tap-fc-1"}}));
}

TEST(NatService, KeepsEveryVmInOneTableSortedByAddress) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("zz", "172.16.0.3", "tap-fc-1"));
  ASSERT_TRUE(f.nat.enable("aa", "172.16.0.20", "tap-fc-2"));
  EXPECT_EQ(f.runner.scripts().back(),
            table({V("zz", "172.16.0.3", "tap-fc-1"), V("aa", "172.16.0.20", "tap-fc-2")}));
}

TEST(NatService, DisableKeepsTheDropRulesAndForwarding) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  ASSERT_EQ(describe(f.nat.disable("v1")), "ok");
  // The VM stays admitted (its TAP may still send), only its NAT goes.
  EXPECT_EQ(f.runner.scripts(), (Lines{table({V("v1", "172.16.0.2", "tap-fc-0")}),
                                       table({V("v1", "172.16.0.2", "tap-fc-0", false)})}));
  EXPECT_FALSE(f.nat.enabled("v1"));
  EXPECT_EQ(f.nat.vms(), (std::vector<NatVm>{V("v1", "172.16.0.2", "tap-fc-0", false)}));
  // ip_forward is never turned off; the table's drop rule keeps VMs without NAT in.
  EXPECT_EQ(f.forwarding.calls(), 1);
  EXPECT_TRUE(f.forwarding.on());
}

TEST(NatService, DisableOfAVmWithoutNatRunsNothing) {
  Fixture f;
  ASSERT_EQ(describe(f.nat.disable("v1")), "ok");
  EXPECT_TRUE(f.runner.fake.ran().empty());
}

TEST(NatService, RollsBackTheSetWhenNftFails) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  f.runner.fake.on("nft -f -", {.exit_code = 1,
                                .err = "/dev/stdin:7:5-8: Error: Could not process rule: No such "
                                       "file or directory\n"});
  EXPECT_EQ(
      describe(f.nat.enable("v2", "172.16.0.3", "tap-fc-1")),
      "command_failed: enabling nat for vm v2: applying tables ip/bridge banger: nft exited 1: "
      "/dev/stdin:7:5-8: Error: Could not process rule: No such file or directory");
  EXPECT_FALSE(f.nat.enabled("v2"));
  EXPECT_EQ(
      describe(f.nat.disable("v1")),
      "command_failed: disabling nat for vm v1: applying tables ip/bridge banger: nft exited 1: "
      "/dev/stdin:7:5-8: Error: Could not process rule: No such file or directory");
  EXPECT_TRUE(f.nat.enabled("v1"));
  EXPECT_EQ(f.forwarding.calls(), 1);

  // Once nft works again, the failed VM is not in the next table.
  f.runner.fake.on("nft -f -", {});
  ASSERT_TRUE(f.nat.enable("v3", "172.16.0.4", "tap-fc-2"));
  EXPECT_EQ(f.runner.scripts().back(),
            table({V("v1", "172.16.0.2", "tap-fc-0"), V("v3", "172.16.0.4", "tap-fc-2")}));
}

TEST(NatService, ReportsAMissingNft) {
  Fixture f;
  f.runner.fail_spawn(Error{Errc::not_found, "nft: command not found", 0, {}});
  EXPECT_EQ(describe(f.nat.enable("v1", "172.16.0.2", "tap-fc-0")),
            "unavailable: enabling nat for vm v1: nft not found: install the nftables package");
  EXPECT_EQ(describe(f.nat.check_prerequisites()),
            "unavailable: nft not found: install the nftables package");
  EXPECT_FALSE(f.nat.enabled("v1"));
  EXPECT_EQ(f.forwarding.calls(), 0);
}

TEST(NatService, ReportsAnNftTimeout) {
  Fixture f;
  f.runner.fail_spawn(Error{Errc::timeout, "nft timed out after 30000 ms", 0, {}});
  EXPECT_EQ(describe(f.nat.remove_all()),
            "timeout: removing nat rules: deleting tables ip/bridge banger: nft timed out after "
            "30000 ms");
}

TEST(NatService, RestoresThePreviousTableWhenForwardingFails) {
  Fixture f;
  ASSERT_TRUE(f.nat.rebuild({}));
  f.forwarding.fail_with(Error{
      Errc::permission_denied, "writing /proc/sys/net/ipv4/ip_forward: Permission denied", 13, {}});
  EXPECT_EQ(describe(f.nat.enable("v1", "172.16.0.2", "tap-fc-0")),
            "permission_denied: enabling nat for vm v1: enabling ip forwarding: writing "
            "/proc/sys/net/ipv4/ip_forward: Permission denied");
  EXPECT_EQ(f.runner.scripts(),
            (Lines{table({}), table({V("v1", "172.16.0.2", "tap-fc-0")}), table({})}));
  EXPECT_FALSE(f.nat.enabled("v1"));
}

TEST(NatService, RemovesTheTableWhenForwardingFailsOnTheFirstChange) {
  Fixture f;
  f.forwarding.fail_with(Error{Errc::io, "writing x: Input/output error", 5, {}});
  EXPECT_EQ(describe(f.nat.enable("v1", "172.16.0.2", "tap-fc-0")),
            "io: enabling nat for vm v1: enabling ip forwarding: writing x: Input/output error");
  EXPECT_EQ(f.runner.scripts(),
            (Lines{table({V("v1", "172.16.0.2", "tap-fc-0")}), render_nat_removal()}));
}

TEST(NatService, RejectsInvalidVmsWithoutRunningNft) {
  Fixture f;
  EXPECT_EQ(describe(f.nat.enable("v1", "10.0.0.2", "tap-fc-0")),
            "invalid_argument: enabling nat for vm v1: address 10.0.0.2 of vm v1 is not a host "
            "address of the vm network 172.16.0.0/24");
  EXPECT_EQ(describe(f.nat.enable("v1", "172.16.0.2", "tap\"x")),
            "invalid_argument: enabling nat for vm v1: tap \"tap\"x\" of vm v1 is not a banger "
            "tap: names look like tap-fc-<n>");
  EXPECT_TRUE(f.runner.fake.ran().empty());
}

TEST(NatService, RejectsAnAddressHeldByAnotherVm) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  EXPECT_EQ(
      describe(f.nat.enable("v2", "172.16.0.2", "tap-fc-1")),
      "invalid_argument: enabling nat for vm v2: address 172.16.0.2 is already used by vm v1");
  EXPECT_EQ(f.runner.scripts().size(), 1U);
}

TEST(NatService, RebuildIsIdempotentAndOrderIndependent) {
  Fixture f;
  NatVm a{.vm_id = "a", .ip = "172.16.0.2", .tap = "tap-fc-0"};
  NatVm b{.vm_id = "b", .ip = "172.16.0.3", .tap = "tap-fc-1"};
  ASSERT_EQ(describe(f.nat.rebuild({b, a})), "ok");
  ASSERT_EQ(describe(f.nat.rebuild({a, b})), "ok");
  std::string expected = table({a, b});
  EXPECT_EQ(f.runner.scripts(), (Lines{expected, expected}));
  EXPECT_EQ(f.nat.vms(), (std::vector<NatVm>{a, b}));
  EXPECT_EQ(f.forwarding.calls(), 2);
}

TEST(NatService, RebuildReplacesTheWholeSet) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("old", "172.16.0.2", "tap-fc-0"));
  ASSERT_TRUE(f.nat.rebuild({{.vm_id = "new", .ip = "172.16.0.5", .tap = "tap-fc-3"}}));
  EXPECT_FALSE(f.nat.enabled("old"));
  EXPECT_TRUE(f.nat.enabled("new"));
  EXPECT_EQ(f.runner.scripts().back(), table({V("new", "172.16.0.5", "tap-fc-3")}));
}

TEST(NatService, RebuildWithoutVmsInstallsOnlyTheDropRulesAndLeavesForwardingAlone) {
  Fixture f;
  ASSERT_TRUE(f.nat.rebuild({}));
  EXPECT_EQ(f.runner.scripts(), (Lines{table({})}));
  EXPECT_EQ(f.forwarding.calls(), 0);
}

TEST(NatService, RebuildRejectsAnInvalidListWithoutRunningNft) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  EXPECT_EQ(describe(f.nat.rebuild({{.vm_id = "a", .ip = "172.16.0.2", .tap = "tap-fc-0"},
                                    {.vm_id = "b", .ip = "172.16.0.2", .tap = "tap-fc-1"}})),
            "invalid_argument: rebuilding nat rules: vms a and b both use address 172.16.0.2");
  EXPECT_EQ(f.runner.scripts().size(), 1U);
  EXPECT_TRUE(f.nat.enabled("v1"));
}

TEST(NatService, RebuildKeepsTheSetWhenNftFails) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  f.runner.fake.on("nft", {.exit_code = 1, .err = "Error: syntax error\n"});
  EXPECT_EQ(describe(f.nat.rebuild({})),
            "command_failed: rebuilding nat rules: applying tables ip/bridge banger: nft exited 1: "
            "Error: "
            "syntax error");
  EXPECT_TRUE(f.nat.enabled("v1"));
}

TEST(NatService, RemoveAllDeletesTheTableAndForgetsEveryVm) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  ASSERT_EQ(describe(f.nat.remove_all()), "ok");
  ASSERT_EQ(describe(f.nat.remove_all()), "ok");
  EXPECT_EQ(f.runner.scripts(), (Lines{table({V("v1", "172.16.0.2", "tap-fc-0")}),
                                       render_nat_removal(), render_nat_removal()}));
  EXPECT_TRUE(f.nat.vms().empty());
}

TEST(NatService, RemoveAllReportsNftsError) {
  Fixture f;
  ASSERT_TRUE(f.nat.enable("v1", "172.16.0.2", "tap-fc-0"));
  f.runner.fake.on("nft", {.exit_code = 1, .err = "Error: Operation not permitted\n"});
  EXPECT_EQ(
      describe(f.nat.remove_all()),
      "command_failed: removing nat rules: deleting tables ip/bridge banger: nft exited 1: Error: "
      "Operation not permitted");
  EXPECT_TRUE(f.nat.enabled("v1"));
}

TEST(NatService, ChecksPrerequisitesByListingTheRuleset) {
  Fixture f;
  ASSERT_EQ(describe(f.nat.check_prerequisites()), "ok");
  EXPECT_EQ(f.runner.fake.ran(), (Lines{"nft list ruleset"}));
  f.runner.fake.on(
      "nft list ruleset",
      {.exit_code = 1, .err = "Error: Could not process rule: Operation not permitted\n"});
  EXPECT_EQ(describe(f.nat.check_prerequisites()),
            "command_failed: listing the nftables ruleset: nft exited 1: Error: Could not process "
            "rule: Operation not permitted");
  f.runner.fake.on("nft list ruleset", {.exit_code = 1});
  EXPECT_EQ(describe(f.nat.check_prerequisites()),
            "command_failed: listing the nftables ruleset: nft exited 1");
}

TEST(NatService, RejectsAnInvalidConfigEverywhere) {
  ScriptRecordingRunner runner;
  FakeIpForwarding forwarding;
  NatService nat({.runner = runner,
                  .ip_forwarding = forwarding,
                  .bridge_name = "br-fc",
                  .bridge_cidr = "172.16.0.0/31"});
  EXPECT_EQ(describe(nat.check_config()),
            "invalid_argument: nat config: invalid prefix length 31 for the vm network: use 8-30");
  EXPECT_EQ(describe(nat.enable("v1", "172.16.0.2", "tap-fc-0")),
            "invalid_argument: enabling nat for vm v1: nat config: invalid prefix length 31 for "
            "the vm network: use 8-30");
  EXPECT_EQ(describe(nat.rebuild({})),
            "invalid_argument: rebuilding nat rules: nat config: invalid prefix length 31 for the "
            "vm network: use 8-30");
  EXPECT_TRUE(runner.fake.ran().empty());
}

TEST(NatService, EnablesVmsFromManyThreads) {
  Fixture f;
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&f, i] {
      EXPECT_TRUE(f.nat.enable("vm" + std::to_string(i), "172.16.0." + std::to_string(10 + i),
                               "tap-fc-" + std::to_string(i)));
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::vector<NatVm> all;
  all.reserve(8);
  for (int i = 0; i < 8; ++i) {
    all.push_back(V("vm" + std::to_string(i), "172.16.0." + std::to_string(10 + i),
                    "tap-fc-" + std::to_string(i)));
  }
  EXPECT_EQ(f.nat.vms().size(), 8U);
  // Each apply rendered from the latest set, so the last one holds every VM.
  EXPECT_EQ(f.runner.scripts().back(), table(all));
}

}  // namespace
}  // namespace banger::hostnat
