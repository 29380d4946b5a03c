#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "banger/store/database.hpp"
#include "banger/store/vm_repository.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_vm_host.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::vm {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

struct Fixture {
  Fixture() : db(*store::Database::open_in_memory()), repo(db), random(1) {}
  store::Database db;
  store::VmRepository repo;
  testkit::FakeClock clock;
  base::Mt19937Random random;
  testkit::FakeVmHost host;
  VmService service{{.vms = repo, .clock = clock, .random = random, .host = host}, {}};

  model::Vm started(const std::string& name, std::vector<model::PortForward> publish = {}) {
    auto vm = service.create(
        {.name = name, .image = "tiny", .kernel = "k", .publish = std::move(publish)});
    EXPECT_TRUE(vm) << vm.error().message;
    auto running = service.start(name);
    EXPECT_TRUE(running) << running.error().message;
    return running ? *running : model::Vm{};
  }
};

model::PortForward port(int host, int guest) { return {"127.0.0.1", host, guest}; }

TEST(VmForward, ForwardsToARunningVmUntilItStops) {
  Fixture f;
  f.started("web");
  auto bound = f.service.forward("web", {port(8080, 80), port(0, 22)});
  ASSERT_TRUE(bound) << bound.error().message;
  EXPECT_EQ(*bound, (std::vector<model::PortForward>{port(8080, 80), port(40000, 22)}));
  auto vm = f.service.show("web");
  auto listed = f.service.forwards(*vm);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2U);
  EXPECT_FALSE((*listed)[0].published);

  ASSERT_TRUE(f.service.stop("web"));
  EXPECT_TRUE(f.host.forwards(*vm).empty());  // release() closed them
  auto stopped = f.service.forwards(*f.service.show("web"));
  EXPECT_TRUE(stopped->empty());
}

TEST(VmForward, ATakenHostPortIsRefusedNamingIt) {
  Fixture f;
  f.started("web");
  f.host.take_host_port(8080);
  auto bound = f.service.forward("web", {port(8080, 80)});
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error().code, Errc::already_exists);
  EXPECT_EQ(bound.error().message,
            "forwarding ports to vm \"web\": host port 127.0.0.1:8080 is already in use");
}

TEST(VmForward, RefusesAStoppedVmAndInvalidForwards) {
  Fixture f;
  ASSERT_TRUE(f.service.create({.name = "web", .image = "tiny", .kernel = "k"}));
  auto stopped = f.service.forward("web", {port(8080, 80)});
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, Errc::not_running);
  ASSERT_TRUE(f.service.start("web"));
  for (const auto& bad : std::vector<std::vector<model::PortForward>>{
           {},
           {port(8080, 0)},
           {port(70000, 80)},
           {{"localhost", 80, 80}},
           {port(8080, 80), port(8080, 81)},
           std::vector<model::PortForward>(model::kMaxForwardsPerVm + 1, port(0, 80))}) {
    auto bound = f.service.forward("web", bad);
    ASSERT_FALSE(bound);
    EXPECT_EQ(bound.error().code, Errc::invalid_argument) << bound.error().message;
  }
  EXPECT_THAT(f.host.calls(), ::testing::Not(Contains("add_forwards web")));
}

TEST(VmForward, UnforwardClosesOneAndNamesAMissingOne) {
  Fixture f;
  f.started("web");
  ASSERT_TRUE(f.service.forward("web", {port(8080, 80), port(8081, 81)}));
  auto missing = f.service.unforward("web", {port(9999, 0)});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_THAT(missing.error().message, HasSubstr("no forward on 127.0.0.1:9999"));
  ASSERT_TRUE(f.service.unforward("web", {port(8080, 0)}));
  EXPECT_EQ(f.host.forwards(*f.service.show("web")),
            (std::vector<model::PortForward>{port(8081, 81)}));
}

TEST(VmForward, PublishedPortsAreRecordedAndForwardedAtEveryStart) {
  Fixture f;
  auto vm = f.started("web", {port(8080, 80)});
  EXPECT_EQ(f.repo.get(vm.id)->publish, (std::vector<model::PortForward>{port(8080, 80)}));
  auto listed = f.service.forwards(vm);
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_TRUE((*listed)[0].published);
  ASSERT_TRUE(f.service.stop("web"));
  ASSERT_TRUE(f.service.start("web"));
  EXPECT_EQ(f.host.forwards(vm), (std::vector<model::PortForward>{port(8080, 80)}));
}

TEST(VmForward, ATakenPublishedPortFailsTheStartBeforeTheBoot) {
  Fixture f;
  ASSERT_TRUE(f.service.create(
      {.name = "web", .image = "tiny", .kernel = "k", .publish = {port(8080, 80)}}));
  f.host.take_host_port(8080);
  auto started = f.service.start("web");
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, Errc::already_exists);
  EXPECT_THAT(started.error().message, HasSubstr("host port 127.0.0.1:8080 is already in use"));
  EXPECT_THAT(f.host.calls(), ::testing::Not(Contains("launch web")));
  EXPECT_EQ(f.service.show("web")->state, model::VmState::error);
}

TEST(VmForward, CreateRefusesInvalidPublishedPorts) {
  Fixture f;
  auto vm = f.service.create(
      {.name = "web", .image = "tiny", .kernel = "k", .publish = {port(1, 80), port(1, 81)}});
  ASSERT_FALSE(vm);
  EXPECT_EQ(vm.error().code, Errc::invalid_argument);
  EXPECT_FALSE(f.service.show("web"));
}

TEST(VmForward, ReconcileForwardsThePublishedPortsOfRunningVmsAgain) {
  Fixture f;
  auto vm = f.started("web", {port(8080, 80)});
  f.started("db");
  ASSERT_TRUE(f.service.forward("db", {port(5432, 5432)}));
  // A new daemon: its host has no forwards yet.
  testkit::FakeVmHost fresh;
  VmService after{{.vms = f.repo, .clock = f.clock, .random = f.random, .host = fresh}, {}};
  ASSERT_TRUE(after.reconcile());
  EXPECT_EQ(fresh.forwards(vm), (std::vector<model::PortForward>{port(8080, 80)}));
  EXPECT_TRUE(fresh.forwards(*f.service.show("db")).empty());  // runtime forwards are gone
}

}  // namespace
}  // namespace banger::vm
