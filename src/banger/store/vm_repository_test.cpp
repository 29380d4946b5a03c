#include "banger/store/vm_repository.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "banger/testkit/temp_dir.hpp"

namespace banger::store {
namespace {

model::Vm sample_vm(std::string id, std::string name, std::int64_t created_at = 100) {
  model::Vm vm;
  vm.id = std::move(id);
  vm.name = std::move(name);
  vm.image = "debian-bookworm";
  vm.kernel = "debian-cloud";
  vm.vcpu = 2;
  vm.memory_mib = 1024;
  vm.disk_size_mib = 8192;
  vm.rootfs_overlay_size_mib = 4096;
  vm.nat = true;
  vm.guest_ip = "172.31.0.5";
  vm.mac = "02:42:ac:1f:00:05";
  vm.agent_cid = 17;
  vm.agent_port = 1024;
  vm.state = model::VmState::running;
  vm.last_error = "";
  vm.created_at = created_at;
  vm.touched_at = created_at + 5;
  vm.workspace_path = "/home/me/repo";
  vm.workspace_repo = "repo";
  vm.workspace_head = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
  vm.workspace_branch = "main";
  vm.workspace_prepared_at = created_at + 3;
  vm.tap_name = "bg-tap-3f2a";
  vm.overlay_path = "/var/lib/banger/vms/" + vm.id + "/overlay.ext4";
  vm.vmm_pid = 4242;
  vm.vmm_start_time = 123456789012ULL;
  vm.rootfs_strategy = "overlay";
  vm.vmm = model::VmmBackend::firecracker;  // round-trips, though it cannot run yet
  vm.publish = {{"127.0.0.1", 8080, 80}, {"0.0.0.0", 0, 22}};
  return vm;
}

struct Fixture {
  Fixture() : db(*Database::open_in_memory()), vms(db) {}
  Database db;
  VmRepository vms;
};

TEST(VmRepository, InsertThenGetAndFindByNameReturnEveryField) {
  Fixture f;
  model::Vm vm = sample_vm("0123456789abcdef", "web");
  ASSERT_TRUE(f.vms.insert(vm));
  EXPECT_EQ(f.vms.get(vm.id), vm);
  EXPECT_EQ(f.vms.find_by_name("web"), vm);
  EXPECT_EQ(f.vms.name_taken("web"), true);
  EXPECT_EQ(f.vms.name_taken("db"), false);
}

TEST(VmRepository, InsertOfATakenNameIsAlreadyExistsNamingTheVm) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(sample_vm("0123456789abcdef", "web")));
  auto status = f.vms.insert(sample_vm("fedcba9876543210", "web"));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::already_exists);
  EXPECT_EQ(status.error().message, "vm \"web\" already exists");
}

TEST(VmRepository, InsertOfATakenIdIsAlreadyExistsNamingTheId) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(sample_vm("0123456789abcdef", "web")));
  auto status = f.vms.insert(sample_vm("0123456789abcdef", "db"));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::already_exists);
  EXPECT_EQ(status.error().message, "vm id 0123456789abcdef already exists");
}

TEST(VmRepository, MissingVmIsNotFound) {
  Fixture f;
  auto by_name = f.vms.find_by_name("x");
  ASSERT_FALSE(by_name);
  EXPECT_EQ(by_name.error().code, Errc::not_found);
  EXPECT_EQ(by_name.error().message, "vm \"x\" not found");
  auto by_id = f.vms.get("0123456789abcdef");
  ASSERT_FALSE(by_id);
  EXPECT_EQ(by_id.error().code, Errc::not_found);
  EXPECT_EQ(by_id.error().message, "vm \"0123456789abcdef\" not found");
}

TEST(VmRepository, ListIsOrderedByCreationTimeThenName) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(sample_vm("0000000000000001", "zeta", 200)));
  ASSERT_TRUE(f.vms.insert(sample_vm("0000000000000002", "beta", 100)));
  ASSERT_TRUE(f.vms.insert(sample_vm("0000000000000003", "alpha", 200)));
  auto list = f.vms.list();
  ASSERT_TRUE(list);
  std::vector<std::string> names;
  for (const auto& vm : *list) {
    names.push_back(vm.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"beta", "alpha", "zeta"}));
}

TEST(VmRepository, FindByIdPrefixMatchesOnlyLeadingCharacters) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(sample_vm("abcd000000000001", "one")));
  ASSERT_TRUE(f.vms.insert(sample_vm("abcd000000000002", "two")));
  ASSERT_TRUE(f.vms.insert(sample_vm("0000abcd00000003", "three")));
  auto both = f.vms.find_by_id_prefix("abcd");
  ASSERT_TRUE(both);
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].name, "one");
  EXPECT_EQ((*both)[1].name, "two");
  EXPECT_EQ(f.vms.find_by_id_prefix("abcd000000000002")->size(), 1u);
  EXPECT_EQ(f.vms.find_by_id_prefix("%")->size(), 0u);
  EXPECT_EQ(f.vms.find_by_id_prefix("")->size(), 0u);
}

TEST(VmRepository, UpdateReplacesEveryField) {
  Fixture f;
  model::Vm vm = sample_vm("0123456789abcdef", "web");
  ASSERT_TRUE(f.vms.insert(vm));
  vm.name = "web2";
  vm.state = model::VmState::error;
  vm.last_error = "vmm exited with status 1";
  vm.vcpu = 4;
  vm.nat = false;
  vm.vmm_pid = 0;
  vm.vmm_start_time = 0;
  vm.publish = {{"127.0.0.1", 9090, 90}};
  ASSERT_TRUE(f.vms.update(vm));
  EXPECT_EQ(f.vms.get(vm.id), vm);
  vm.publish.clear();
  ASSERT_TRUE(f.vms.update(vm));
  EXPECT_EQ(f.vms.get(vm.id), vm);
}

TEST(VmRepository, AnUnreadablePublishColumnIsAnInternalErrorNamingTheVm) {
  Fixture f;
  model::Vm vm = sample_vm("0123456789abcdef", "web");
  ASSERT_TRUE(f.vms.insert(vm));
  ASSERT_TRUE(f.db.exec("UPDATE vms SET publish = '127.0.0.1:99999:80'"));
  auto got = f.vms.get(vm.id);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::internal);
  EXPECT_NE(got.error().message.find("vm \"web\" has unreadable published ports"),
            std::string::npos);
}

TEST(VmRepository, UpdateOfAMissingVmIsNotFound) {
  Fixture f;
  auto status = f.vms.update(sample_vm("0123456789abcdef", "web"));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::not_found);
  EXPECT_EQ(status.error().message, "vm \"web\" not found");
}

TEST(VmRepository, RenameOntoATakenNameIsAlreadyExists) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(sample_vm("0000000000000001", "web")));
  model::Vm db_vm = sample_vm("0000000000000002", "db");
  ASSERT_TRUE(f.vms.insert(db_vm));
  db_vm.name = "web";
  auto status = f.vms.update(db_vm);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::already_exists);
  EXPECT_EQ(status.error().message, "vm \"web\" already exists");
}

TEST(VmRepository, RemoveDeletesAndFreesTheName) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(sample_vm("0123456789abcdef", "web")));
  ASSERT_TRUE(f.vms.remove("0123456789abcdef"));
  EXPECT_EQ(f.vms.name_taken("web"), false);
  auto again = f.vms.remove("0123456789abcdef");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
  EXPECT_EQ(again.error().message, "vm \"0123456789abcdef\" not found");
  EXPECT_TRUE(f.vms.insert(sample_vm("fedcba9876543210", "web")));
}

TEST(VmRepository, ConcurrentInsertsOfOneNameFromTwentyConnectionsYieldOneVm) {
  // Given 20 connections to one WAL file database, then exactly one insert of "web" wins.
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  constexpr int kThreads = 20;
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < kThreads; ++i) {
    auto db = Database::open(path);
    ASSERT_TRUE(db) << db.error().message;
    connections.push_back(std::make_unique<Database>(std::move(*db)));
  }
  std::atomic<int> ready{0};
  std::vector<Error> errors(kThreads);
  std::vector<char> ok(kThreads, 0);  // not vector<bool>: threads write neighbouring elements
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      VmRepository repo(*connections[i]);
      ++ready;
      while (ready.load() < kThreads) {
        std::this_thread::yield();
      }
      char id[17];
      std::snprintf(id, sizeof id, "%016x", i);
      auto status = repo.insert(sample_vm(id, "web"));
      ok[i] = status.has_value() ? 1 : 0;
      if (!status) {
        errors[i] = status.error();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  int successes = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (ok[i]) {
      ++successes;
    } else {
      EXPECT_EQ(errors[i].code, Errc::already_exists) << errors[i].message;
      EXPECT_EQ(errors[i].message, "vm \"web\" already exists");
    }
  }
  EXPECT_EQ(successes, 1);
  VmRepository check(*connections[0]);
  EXPECT_EQ(check.list()->size(), 1u);
}

TEST(VmRepository, ConcurrentInsertsThroughOneSharedDatabaseYieldOneVm) {
  testkit::TempDir dir;
  auto db = Database::open(dir.path() + "/state.db");
  ASSERT_TRUE(db);
  VmRepository repo(*db);
  constexpr int kThreads = 20;
  std::atomic<int> successes{0};
  std::atomic<int> clashes{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      char id[17];
      std::snprintf(id, sizeof id, "%016x", i);
      auto status = repo.insert(sample_vm(id, "web"));
      if (status) {
        ++successes;
      } else if (status.error().code == Errc::already_exists) {
        ++clashes;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(successes.load(), 1);
  EXPECT_EQ(clashes.load(), kThreads - 1);
}

}  // namespace
}  // namespace banger::store
