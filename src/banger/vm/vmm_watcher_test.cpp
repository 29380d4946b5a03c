#include "banger/vm/vmm_watcher.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "banger/store/database.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_vm_host.hpp"

namespace banger::vm {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// A VmService over an in-memory store and a FakeVmHost, with one VM started (pid 4242).
struct Fixture {
  Fixture() : db(*store::Database::open_in_memory()), repo(db), random(1) {
    auto created = service.create({.name = "web", .image = "tiny", .kernel = "k"});
    EXPECT_TRUE(created) << created.error().message;
    auto started = service.start("web");
    EXPECT_TRUE(started) << started.error().message;
    id = created->id;
  }
  model::Vm vm() { return *repo.get(id); }
  bool called(const std::string& call) {
    auto calls = host.calls();
    return std::find(calls.begin(), calls.end(), call) != calls.end();
  }
  store::Database db;
  store::VmRepository repo;
  testkit::FakeClock clock;
  base::Mt19937Random random;
  testkit::FakeVmHost host;
  VmService service{{.vms = repo, .clock = clock, .random = random, .host = host}};
  VmmWatcher watcher{service, host, 10ms};
  std::string id;
};

TEST(VmmWatcher, AVmmThatDiesOnItsOwnMovesTheVmToErrorAndReleasesItsNetwork) {
  Fixture f;
  EXPECT_EQ(f.watcher.poll_once(0ms), 0);  // watched from now on
  ASSERT_EQ(f.vm().state, model::VmState::running);
  ASSERT_FALSE(f.called("release web"));
  f.host.set_console_tail("Out of memory: Killed process 1 (init)");
  f.host.vmm_exits(f.id);
  EXPECT_EQ(f.watcher.poll_once(1000ms), 1);
  auto vm = f.vm();
  EXPECT_EQ(vm.state, model::VmState::error);
  EXPECT_THAT(vm.last_error, HasSubstr("the VMM (pid 4242) exited"));
  EXPECT_THAT(vm.last_error, HasSubstr("while the vm was running"));
  EXPECT_THAT(vm.last_error, HasSubstr("Out of memory"));
  EXPECT_EQ(vm.vmm_pid, 0);
  EXPECT_EQ(vm.tap_name, "");
  EXPECT_TRUE(f.called("release web"));
  // The VM can be started again.
  auto again = f.service.start("web");
  EXPECT_TRUE(again) << again.error().message;
}

TEST(VmmWatcher, AVmmThatIsAlreadyGoneWhenFirstSeenIsReportedToo) {
  Fixture f;
  f.host.vmm_exits(f.id);  // before the watcher ever looked
  EXPECT_EQ(f.watcher.poll_once(0ms), 0);
  EXPECT_EQ(f.vm().state, model::VmState::error);
  EXPECT_TRUE(f.called("release web"));
}

TEST(VmmWatcher, AStoppedVmIsNotReportedAsCrashed) {
  Fixture f;
  EXPECT_EQ(f.watcher.poll_once(0ms), 0);
  auto stopped = f.service.stop("web");
  ASSERT_TRUE(stopped) << stopped.error().message;
  f.host.vmm_exits(f.id);
  f.watcher.poll_once(100ms);
  auto vm = f.vm();
  EXPECT_EQ(vm.state, model::VmState::stopped);
  EXPECT_EQ(vm.last_error, "");
}

TEST(VmServiceVmmExited, ACleanExitWithoutAPanicIsAGuestPoweroff) {
  Fixture f;
  f.host.set_dead(f.id);
  auto before = f.vm();
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid, before.vmm_start_time,
                                   {.exit_code = 0, .signal = std::nullopt}));
  auto vm = f.vm();
  EXPECT_EQ(vm.state, model::VmState::stopped);
  EXPECT_EQ(vm.last_error, "");
  EXPECT_TRUE(f.called("release web"));
}

TEST(VmServiceVmmExited, ExitCodeZeroAfterAKernelPanicIsACrash) {
  Fixture f;
  f.host.set_dead(f.id);
  f.host.set_console_tail("Kernel panic - not syncing: sysrq triggered crash");
  auto before = f.vm();
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid, before.vmm_start_time,
                                   {.exit_code = 0, .signal = std::nullopt}));
  auto vm = f.vm();
  EXPECT_EQ(vm.state, model::VmState::error);
  EXPECT_THAT(vm.last_error, HasSubstr("exited with code 0"));
  EXPECT_THAT(vm.last_error, HasSubstr("Kernel panic"));
}

TEST(VmServiceVmmExited, APanicLineBeforeALongCallTraceIsStillFound) {
  Fixture f;
  f.host.set_dead(f.id);
  std::string console = "Kernel panic - not syncing: sysrq triggered crash\n";
  for (int i = 0; i < 40; ++i) {
    console += " trace line " + std::to_string(i) + "\n";
  }
  f.host.set_console_tail(console);
  auto before = f.vm();
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid, before.vmm_start_time,
                                   {.exit_code = 0, .signal = std::nullopt}));
  auto vm = f.vm();
  EXPECT_EQ(vm.state, model::VmState::error);
  EXPECT_THAT(vm.last_error, HasSubstr("guest Kernel panic - not syncing: sysrq triggered crash"));
  EXPECT_THAT(vm.last_error, HasSubstr("trace line 39"));
  EXPECT_THAT(vm.last_error, ::testing::Not(HasSubstr("trace line 5\n")));
}

TEST(VmServiceVmmExited, ASignalIsNamed) {
  Fixture f;
  f.host.set_dead(f.id);
  auto before = f.vm();
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid, before.vmm_start_time,
                                   {.exit_code = std::nullopt, .signal = 9}));
  EXPECT_THAT(f.vm().last_error, HasSubstr("killed by signal 9"));
}

TEST(VmServiceVmmExited, AnExitOfAnotherProcessOrOfALiveVmmChangesNothing) {
  Fixture f;
  auto before = f.vm();
  // The recorded process is still alive (a stale report).
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid, before.vmm_start_time, {}));
  EXPECT_EQ(f.vm().state, model::VmState::running);
  f.host.set_dead(f.id);
  // A report about an older process of this VM (another pid or start time).
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid + 1, before.vmm_start_time, {}));
  ASSERT_TRUE(f.service.vmm_exited(f.id, before.vmm_pid, before.vmm_start_time + 1, {}));
  EXPECT_EQ(f.vm().state, model::VmState::running);
  EXPECT_FALSE(f.called("release web"));
  // A VM that was deleted meanwhile.
  EXPECT_TRUE(f.service.vmm_exited("0123456789abcdef", 1, 1, {}));
}

TEST(VmmWatcher, TheThreadNoticesAnExitWithoutBeingPolled) {
  Fixture f;
  f.watcher.start();
  // Whether the thread watched the VM before it exits or only sees a gone process on its next
  // round, the exit is reported.
  f.host.vmm_exits(f.id);
  EXPECT_TRUE(testkit::eventually([&] { return f.vm().state == model::VmState::error; }, 5s));
}

}  // namespace
}  // namespace banger::vm
