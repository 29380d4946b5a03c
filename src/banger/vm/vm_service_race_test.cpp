// VmService against concurrent lifecycle operations: touch() and prune() run beside
// stop/start and must never undo or override them. Made deterministic by running the other
// operation from a hook at the exact point between the service's read and its write.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "banger/store/database.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_vm_host.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::vm {
namespace {

// A FakeClock whose next now() first runs a one-shot hook: touch() reads the clock between
// resolving the VM and writing touched_at.
class HookClock final : public base::Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    if (on_now) {
      auto hook = std::move(on_now);
      on_now = nullptr;
      hook();
    }
    return inner.now();
  }
  std::chrono::steady_clock::time_point steady_now() const override { return inner.steady_now(); }
  void sleep_for(std::chrono::milliseconds duration) override { inner.sleep_for(duration); }

  testkit::FakeClock inner;
  mutable std::function<void()> on_now;
};

// FakeVmHost with a one-shot hook on destroy(): prune destroys one VM before it gets to the next.
class HookHost final : public VmHost {
 public:
  Expected<Prepared> prepare(const model::Vm& vm, const base::ProgressFn& progress,
                             const base::CancelFn& cancel) override {
    return inner.prepare(vm, progress, cancel);
  }
  Expected<Launched> launch(const model::Vm& vm) override { return inner.launch(vm); }
  Status wait_ready(const model::Vm& vm, const base::CancelFn& cancel) override {
    return inner.wait_ready(vm, cancel);
  }
  Status shutdown(const model::Vm& vm, std::chrono::seconds grace) override {
    return inner.shutdown(vm, grace);
  }
  Status kill(const model::Vm& vm) override { return inner.kill(vm); }
  Status release(const model::Vm& vm) override { return inner.release(vm); }
  Status destroy(const model::Vm& vm) override {
    if (on_destroy) {
      auto hook = std::move(on_destroy);
      on_destroy = nullptr;
      hook();
    }
    return inner.destroy(vm);
  }
  bool alive(const model::Vm& vm) override { return inner.alive(vm); }
  std::string console_tail(const model::Vm& vm, std::size_t lines) override {
    return inner.console_tail(vm, lines);
  }
  Status verify_host_key(const model::Vm& vm) override { return inner.verify_host_key(vm); }
  std::string console_log_path(const model::Vm& vm) override { return inner.console_log_path(vm); }
  Status reconcile(const std::vector<model::Vm>& vms) override { return inner.reconcile(vms); }
  Expected<GuestHealth> guest_health(const model::Vm& vm) override {
    return inner.guest_health(vm);
  }
  Expected<std::vector<GuestPort>> guest_ports(const model::Vm& vm) override {
    return inner.guest_ports(vm);
  }
  Expected<GuestExecResult> guest_exec(const model::Vm& vm, const GuestExec& command) override {
    return inner.guest_exec(vm, command);
  }
  Expected<VmUsage> usage(const model::Vm& vm) override { return inner.usage(vm); }
  Status set_nat(const model::Vm& vm, bool enabled) override { return inner.set_nat(vm, enabled); }

  testkit::FakeVmHost inner;
  std::function<void()> on_destroy;
};

struct Fixture {
  Fixture() : db(*store::Database::open_in_memory()), repo(db), random(1) {}
  store::Database db;
  store::VmRepository repo;
  HookClock clock;
  base::Mt19937Random random;
  HookHost host;
  VmService service{{.vms = repo, .clock = clock, .random = random, .host = host}};
};

CreateSpec spec(std::string name) {
  return CreateSpec{.name = std::move(name),
                    .image = "tiny",
                    .kernel = "k",
                    .vcpu = 1,
                    .memory_mib = 256,
                    .disk_size_mib = 64,
                    .nat = false};
}

// Regression for M4 (security review): a touch() racing a stop cannot write the running
// record back over the stopped one. Fails on 8f38f5a: ran with touch() restored to
// show + whole-row VmRepository::update (8f38f5a's vm_service.cpp:347-351): the record read
// `running`, tap `tap-fc-0`, pid 4242 after the successful stop.
TEST(VmServiceRace, TouchDuringAStopDoesNotUndoIt) {
  Fixture f;
  auto vm = f.service.create(spec("web"));
  ASSERT_TRUE(vm);
  ASSERT_TRUE(f.service.start("web"));
  f.clock.inner.advance(std::chrono::seconds(30));
  // touch() has resolved the running VM; the stop completes before it writes.
  bool stopped = false;
  f.clock.on_now = [&] { stopped = f.service.stop("web").has_value(); };
  ASSERT_TRUE(f.service.touch("web"));
  ASSERT_TRUE(stopped);
  auto now = f.repo.get(vm->id);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->state, model::VmState::stopped);
  EXPECT_EQ(now->tap_name, "");
  EXPECT_EQ(now->vmm_pid, 0);
  EXPECT_EQ(now->touched_at, 1'800'000'030);  // the touch itself still counts
}

// Regression for M4 (security review): a whole-row update written from a record read before a
// touch() does not move touched_at back (so the stale reaper does not stop a VM in use).
// Fails on 8f38f5a: ran with VmRepository::update writing touched_at as given: touched_at was
// 1'800'000'000 again.
TEST(VmServiceRace, ALifecycleWriteFromAnOlderReadKeepsANewerTouch) {
  Fixture f;
  auto vm = f.service.create(spec("web"));
  ASSERT_TRUE(vm);
  f.clock.inner.advance(std::chrono::seconds(30));
  ASSERT_TRUE(f.service.touch("web"));
  ASSERT_TRUE(f.repo.update(*vm));  // vm holds the touched_at read before the touch
  EXPECT_EQ(f.repo.get(vm->id)->touched_at, 1'800'000'030);
  EXPECT_EQ(f.repo.touch("0123456789abcdef", 1).error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::vm
