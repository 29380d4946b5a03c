#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "banger/store/database.hpp"
#include "banger/store/vm_repository.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_vm_host.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::vm {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kHead = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

struct Fixture {
  Fixture() : db(*store::Database::open_in_memory()), repo(db), random(1) {
    model::Vm vm;
    vm.id = "0123456789abcdef";
    vm.name = "web";
    vm.image = "tiny";
    vm.kernel = "k";
    vm.vcpu = 1;
    vm.memory_mib = 256;
    vm.disk_size_mib = 1024;
    vm.state = model::VmState::running;
    EXPECT_TRUE(repo.insert(vm));
  }
  store::Database db;
  store::VmRepository repo;
  testkit::FakeClock clock;
  base::Mt19937Random random;
  testkit::FakeVmHost host;
  VmService service{{.vms = repo, .clock = clock, .random = random, .host = host}, {}};
};

WorkspaceRecord good() {
  return {.path = "/home/me/my repo",
          .repo = "my-repo",
          .head = std::string(kHead),
          .branch = "feature/x"};
}

TEST(VmWorkspace, RecordIsStoredWithTheClockTimeAndAnEmptyPathClearsIt) {
  Fixture f;
  auto vm = f.service.record_workspace("web", good());
  ASSERT_TRUE(vm) << vm.error().message;
  auto stored = f.repo.get("0123456789abcdef");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->workspace_path, "/home/me/my repo");
  EXPECT_EQ(stored->workspace_repo, "my-repo");
  EXPECT_EQ(stored->workspace_head, kHead);
  EXPECT_EQ(stored->workspace_branch, "feature/x");
  EXPECT_EQ(stored->workspace_prepared_at, 1'800'000'000);
  EXPECT_EQ(stored->state, model::VmState::running);

  ASSERT_TRUE(f.service.record_workspace("web", {.repo = "ignored"}));
  stored = f.repo.get("0123456789abcdef");
  EXPECT_EQ(stored->workspace_path, "");
  EXPECT_EQ(stored->workspace_repo, "");
  EXPECT_EQ(stored->workspace_prepared_at, 0);
}

// The record comes from a CLI that read it from a repository: whatever the repository's
// branch or directory names hold must not reach `vm list` as terminal escapes or paths.
TEST(VmWorkspace, BadFieldsAreRefusedNamingTheField) {
  Fixture f;
  struct Case {
    WorkspaceRecord record;
    std::string field;
  };
  auto with = [](auto change) {
    WorkspaceRecord record = good();
    change(record);
    return record;
  };
  std::vector<Case> cases = {
      {with([](auto& r) { r.path = "relative/dir"; }), "workspace path"},
      {with([](auto& r) { r.path = "/" + std::string(5000, 'a'); }), "workspace path"},
      {with([](auto& r) { r.repo = ""; }), "workspace repo"},
      {with([](auto& r) { r.repo = "../etc"; }), "workspace repo"},
      {with([](auto& r) { r.repo = ".."; }), "workspace repo"},
      {with([](auto& r) { r.repo = "a b"; }), "workspace repo"},
      {with([](auto& r) { r.head = "HEAD"; }), "workspace head"},
      {with([](auto& r) { r.head = std::string(40, 'G'); }), "workspace head"},
      {with([](auto& r) { r.branch = "main\x1b[2J"; }), "workspace branch"},
      {with([](auto& r) { r.branch = std::string(300, 'b'); }), "workspace branch"},
  };
  for (const auto& c : cases) {
    auto refused = f.service.record_workspace("web", c.record);
    ASSERT_FALSE(refused) << c.field;
    EXPECT_EQ(refused.error().code, Errc::invalid_argument);
    EXPECT_THAT(refused.error().message, HasSubstr(c.field));
    EXPECT_THAT(refused.error().message, ::testing::Not(HasSubstr("\x1b")));
  }
  EXPECT_EQ(f.repo.get("0123456789abcdef")->workspace_path, "");
}

TEST(VmWorkspace, RecordingForAnUnknownVmIsNotFound) {
  Fixture f;
  auto missing = f.service.record_workspace("nope", good());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::vm
