#include "banger/vm/vm_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "banger/namegen/namegen.hpp"
#include "banger/store/database.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vm {
namespace {

CreateSpec spec(std::string name) {
  return CreateSpec{.name = std::move(name),
                    .image = "debian-bookworm",
                    .kernel = "debian-cloud",
                    .vcpu = 2,
                    .memory_mib = 1024,
                    .disk_size_mib = 8192,
                    .nat = true};
}

model::Vm record(std::string id, std::string name, model::VmState state) {
  model::Vm vm;
  vm.id = std::move(id);
  vm.name = std::move(name);
  vm.image = "tiny";
  vm.kernel = "k";
  vm.vcpu = 1;
  vm.memory_mib = 256;
  vm.disk_size_mib = 1024;
  vm.state = state;
  return vm;
}

// A service over a fresh in-memory store, a FakeClock and a seeded random.
struct Fixture {
  Fixture() : db(*store::Database::open_in_memory()), repo(db), random(1) {}
  store::Database db;
  store::VmRepository repo;
  testkit::FakeClock clock;
  base::Mt19937Random random;
  VmService service{{.vms = repo, .clock = clock, .random = random}};
};

TEST(VmService, CreateRecordsACreatedVmWithClockTimesAndAHexId) {
  Fixture f;
  auto vm = f.service.create(spec("web"));
  ASSERT_TRUE(vm) << vm.error().message;
  EXPECT_EQ(vm->name, "web");
  EXPECT_TRUE(model::is_vm_id(vm->id)) << vm->id;
  EXPECT_EQ(vm->state, model::VmState::created);
  EXPECT_EQ(vm->created_at, 1'800'000'000);
  EXPECT_EQ(vm->touched_at, 1'800'000'000);
  EXPECT_EQ(vm->image, "debian-bookworm");
  EXPECT_EQ(vm->kernel, "debian-cloud");
  EXPECT_EQ(vm->vcpu, 2);
  EXPECT_EQ(vm->memory_mib, 1024);
  EXPECT_EQ(vm->disk_size_mib, 8192);
  EXPECT_TRUE(vm->nat);
  EXPECT_EQ(f.repo.get(vm->id), *vm);
}

TEST(VmService, CreateWithATakenNameIsAlreadyExists) {
  Fixture f;
  ASSERT_TRUE(f.service.create(spec("web")));
  auto again = f.service.create(spec("web"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
  EXPECT_EQ(again.error().message, "vm \"web\" already exists");
  EXPECT_EQ(f.service.list()->size(), 1u);
}

TEST(VmService, CreateRejectsAnInvalidName) {
  Fixture f;
  auto vm = f.service.create(spec("Web_1"));
  ASSERT_FALSE(vm);
  EXPECT_EQ(vm.error().code, Errc::invalid_argument);
  EXPECT_EQ(vm.error().message,
            "invalid vm name \"Web_1\": use 1-63 characters: lowercase letters, digits and '-', "
            "starting with a letter or digit");
  EXPECT_EQ(f.service.list()->size(), 0u);
}

TEST(VmService, CreateRejectsNonPositiveSizes) {
  Fixture f;
  auto no_cpu = spec("web");
  no_cpu.vcpu = 0;
  auto no_memory = spec("web");
  no_memory.memory_mib = -1;
  auto no_disk = spec("web");
  no_disk.disk_size_mib = 0;
  const std::vector<std::pair<CreateSpec, std::string>> cases = {
      {no_cpu, "invalid vcpu count 0: use 1 or more"},
      {no_memory, "invalid memory size -1 MiB: use 1 MiB or more"},
      {no_disk, "invalid disk size 0 MiB: use 1 MiB or more"},
  };
  for (const auto& [bad, message] : cases) {
    auto vm = f.service.create(bad);
    ASSERT_FALSE(vm) << message;
    EXPECT_EQ(vm.error().code, Errc::invalid_argument);
    EXPECT_EQ(vm.error().message, message);
  }
}

TEST(VmService, CreateWithoutANameGeneratesValidUniqueNames) {
  Fixture f;
  std::set<std::string> names;
  for (int i = 0; i < 50; ++i) {
    auto vm = f.service.create(spec(""));
    ASSERT_TRUE(vm) << vm.error().message;
    EXPECT_TRUE(model::validate_vm_name(vm->name)) << vm->name;
    EXPECT_TRUE(names.insert(vm->name).second) << "duplicate " << vm->name;
  }
  EXPECT_EQ(f.service.list()->size(), 50u);
}

TEST(VmService, EveryGeneratableNameIsAValidVmName) {
  for (std::string_view adjective : namegen::adjectives()) {
    for (std::string_view noun : namegen::nouns()) {
      std::string name = std::string(adjective) + "-" + std::string(noun) + "-9999";
      ASSERT_TRUE(model::validate_vm_name(name)) << name;
    }
  }
}

TEST(VmService, ListIsOrderedByCreationTime) {
  Fixture f;
  ASSERT_TRUE(f.service.create(spec("zeta")));
  f.clock.advance(std::chrono::seconds(1));
  ASSERT_TRUE(f.service.create(spec("alpha")));
  auto list = f.service.list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "zeta");
  EXPECT_EQ((*list)[1].name, "alpha");
}

TEST(VmService, ShowFindsByNameThenFullIdThenUniquePrefix) {
  Fixture f;
  ASSERT_TRUE(f.repo.insert(record("abcd000000000001", "web", model::VmState::created)));
  ASSERT_TRUE(f.repo.insert(record("ef01000000000002", "abcd", model::VmState::created)));
  // "abcd" is a name and also an id prefix of "web": the exact name wins.
  EXPECT_EQ(f.service.show("abcd")->id, "ef01000000000002");
  EXPECT_EQ(f.service.show("web")->id, "abcd000000000001");
  EXPECT_EQ(f.service.show("ef01000000000002")->name, "abcd");
  EXPECT_EQ(f.service.show("ef01")->name, "abcd");
  EXPECT_EQ(f.service.show("abcd0000")->name, "web");
}

TEST(VmService, ShowRejectsAnAmbiguousIdPrefix) {
  Fixture f;
  ASSERT_TRUE(f.repo.insert(record("abcd000000000001", "one", model::VmState::created)));
  ASSERT_TRUE(f.repo.insert(record("abcd000000000002", "two", model::VmState::created)));
  auto vm = f.service.show("abcd");
  ASSERT_FALSE(vm);
  EXPECT_EQ(vm.error().code, Errc::invalid_argument);
  EXPECT_EQ(vm.error().message,
            "vm id prefix \"abcd\" matches 2 vms (one, two): use more of the id");
}

TEST(VmService, ShowOfAnUnknownOrTooShortReferenceIsNotFound) {
  Fixture f;
  ASSERT_TRUE(f.repo.insert(record("abcd000000000001", "web", model::VmState::created)));
  for (std::string ref : {"abc", "db", "ffff"}) {
    auto vm = f.service.show(ref);
    ASSERT_FALSE(vm) << ref;
    EXPECT_EQ(vm.error().code, Errc::not_found);
    EXPECT_EQ(vm.error().message, "vm \"" + ref + "\" not found");
  }
}

TEST(VmService, RemoveDeletesAStoppedVmByNameOrId) {
  Fixture f;
  auto web = f.service.create(spec("web"));
  ASSERT_TRUE(web);
  ASSERT_TRUE(f.repo.insert(record("abcd000000000001", "db", model::VmState::stopped)));
  ASSERT_TRUE(f.service.remove("web"));
  ASSERT_TRUE(f.service.remove("abcd"));
  EXPECT_EQ(f.service.list()->size(), 0u);
  auto gone = f.service.show("web");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
}

TEST(VmService, RemoveOfARunningVmIsFailedPrecondition) {
  Fixture f;
  ASSERT_TRUE(f.repo.insert(record("abcd000000000001", "web", model::VmState::running)));
  auto status = f.service.remove("web");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::failed_precondition);
  EXPECT_EQ(status.error().message,
            "removing vm \"web\": cannot remove vm in state running: stop it first");
  EXPECT_EQ(f.service.list()->size(), 1u);
}

TEST(VmService, RemoveOfAnUnknownVmIsNotFound) {
  Fixture f;
  auto status = f.service.remove("web");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::not_found);
  EXPECT_EQ(status.error().message, "vm \"web\" not found");
}

TEST(VmService, TwentyConcurrentCreatesOfOneNameYieldOneVm) {
  // Given one service over a WAL file database, then exactly one of 20 creates of "web" wins.
  testkit::TempDir dir;
  auto db = store::Database::open(dir.path() + "/state.db");
  ASSERT_TRUE(db) << db.error().message;
  store::VmRepository repo(*db);
  testkit::FakeClock clock;
  base::Mt19937Random random(9);
  VmService service({.vms = repo, .clock = clock, .random = random});

  constexpr int kThreads = 20;
  std::atomic<int> successes{0};
  std::vector<Error> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto vm = service.create(spec("web"));
      if (vm) {
        ++successes;
      } else {
        errors[i] = vm.error();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(successes.load(), 1);
  int clashes = 0;
  for (const auto& error : errors) {
    if (!error.message.empty()) {
      EXPECT_EQ(error.code, Errc::already_exists);
      EXPECT_EQ(error.message, "vm \"web\" already exists");
      ++clashes;
    }
  }
  EXPECT_EQ(clashes, kThreads - 1);
  EXPECT_EQ(service.list()->size(), 1u);
}

}  // namespace
}  // namespace banger::vm
