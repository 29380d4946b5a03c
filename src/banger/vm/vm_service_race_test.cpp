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

struct Fixture {
  Fixture() : db(*store::Database::open_in_memory()), repo(db), random(1) {}
  store::Database db;
  store::VmRepository repo;
  HookClock clock;
  base::Mt19937Random random;
  testkit::FakeVmHost host;
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

bool called(const testkit::FakeVmHost& host, const std::string& call) {
  auto calls = host.calls();
  return std::find(calls.begin(), calls.end(), call) != calls.end();
}

std::vector<std::string> names(const std::vector<model::Vm>& vms) {
  std::vector<std::string> out;
  for (const auto& vm : vms) {
    out.push_back(vm.name);
  }
  return out;
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

// Regression for M5 (security review): prune re-reads each VM under its lock and leaves one
// that was started after the listing alone (not killed, not deleted, reported as kept). Fails
// on 8f38f5a: ran with prune restored to list + remove(id) (8f38f5a's vm_service.cpp:330-345):
// prune returned {a, b}, nothing was skipped and b was gone.
TEST(VmServiceRace, PruneLeavesAVmStartedAfterTheListingAlone) {
  Fixture f;
  ASSERT_TRUE(f.service.create(spec("a")));
  ASSERT_TRUE(f.service.create(spec("b")));
  // While prune deletes "a", somebody starts "b" (idle when prune listed it).
  f.host.on_next_destroy([&] { ASSERT_TRUE(f.service.start("b")); });
  auto pruned = f.service.prune(false);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(names(pruned->deleted), (std::vector<std::string>{"a"}));
  ASSERT_EQ(pruned->skipped.size(), 1u);
  EXPECT_EQ(pruned->skipped[0].name, "b");
  EXPECT_EQ(pruned->skipped[0].reason, "it is running now");
  EXPECT_FALSE(called(f.host, "kill b"));
  EXPECT_FALSE(called(f.host, "destroy b"));
  auto b = f.service.show("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state, model::VmState::running);
}

// Regression for M5 (security review): with the confirmed ids, prune deletes only those VMs,
// not one that became idle after the dry run. Fails on 8f38f5a: ran with prune restored to
// 8f38f5a's list + remove(id) (which had no ids, so they were ignored): it deleted {a, b}.
TEST(VmServiceRace, PruneOfConfirmedIdsDeletesNothingElse) {
  Fixture f;
  auto a = f.service.create(spec("a"));
  auto b = f.service.create(spec("b"));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(f.service.start("b"));
  auto planned = f.service.prune(true);
  ASSERT_TRUE(planned);
  ASSERT_EQ(names(planned->deleted), (std::vector<std::string>{"a"}));
  EXPECT_EQ(f.service.list()->size(), 2u);  // a dry run deletes nothing
  // After the user saw the table, "b" stops (another terminal, the stale reaper).
  ASSERT_TRUE(f.service.stop("b"));
  auto pruned = f.service.prune(false, std::vector<std::string>{a->id});
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(names(pruned->deleted), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(pruned->skipped.empty());
  EXPECT_TRUE(f.service.show("b"));
  EXPECT_FALSE(f.service.show("a"));

  // A confirmed VM that is gone, or running now, is reported and left alone.
  ASSERT_TRUE(f.service.start("b"));
  pruned = f.service.prune(false, std::vector<std::string>{a->id, b->id});
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_TRUE(pruned->deleted.empty());
  ASSERT_EQ(pruned->skipped.size(), 2u);
  EXPECT_EQ(pruned->skipped[0].name, a->id);
  EXPECT_EQ(pruned->skipped[0].reason, "it no longer exists");
  EXPECT_EQ(pruned->skipped[1].name, "b");
  EXPECT_EQ(pruned->skipped[1].reason, "it is running now");
  EXPECT_FALSE(called(f.host, "kill b"));
  EXPECT_TRUE(f.service.show("b"));
}

TEST(VmServiceRace, PruneRejectsSomethingThatIsNotAnId) {
  Fixture f;
  ASSERT_TRUE(f.service.create(spec("a")));
  auto pruned = f.service.prune(false, std::vector<std::string>{"a"});
  ASSERT_FALSE(pruned);
  EXPECT_EQ(pruned.error().code, Errc::invalid_argument);
  EXPECT_EQ(pruned.error().message, "vm.prune: \"a\" is not a vm id (16 hex digits)");
  EXPECT_TRUE(f.service.show("a"));
}

}  // namespace
}  // namespace banger::vm
