// Component tests: a real Daemon (real store, real rpc::Server on a temp socket) driven by a
// real rpc::Client.
#include "banger/daemon/daemon.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "banger/api/daemon.hpp"
#include "banger/api/vm.hpp"
#include "banger/rpc/client.hpp"
#include "banger/rpc/doc_check.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::daemon {
namespace {

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // These tests run in the main network namespace: never let them create links.
    ::setenv("BANGER_REQUIRE_NETNS", "1", 1);
    paths::Environment env;
    env.vars["BANGER_HOME"] = dir_.path();
    env.uid = ::getuid();
    auto p = paths::resolve_paths(env);
    ASSERT_TRUE(p) << p.error().message;
    paths_ = *p;
    config_ = config::default_config(paths_);
    config_.dns_listen = "127.0.0.1:0";  // tests run side by side: any free loopback port
    config_.vm_defaults.vcpu = 2;
    config_.vm_defaults.memory_mib = 1024;
  }
  void TearDown() override { stop(); }

  void start() {
    auto d = Daemon::start({.paths = paths_, .config = config_, .owner_uid = ::getuid()});
    ASSERT_TRUE(d) << d.error().message;
    daemon_ = std::move(*d);
    thread_ = std::thread([this] { served_ = daemon_->run(); });
  }
  void stop() {
    if (daemon_) {
      daemon_->stop();
      thread_.join();
      daemon_.reset();
    }
  }
  rpc::Client client() {
    auto c = rpc::Client::connect(paths_.socket);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }

  testkit::TempDir dir_;
  paths::Paths paths_;
  config::Config config_;
  std::unique_ptr<Daemon> daemon_;
  std::thread thread_;
  Status served_;
};

TEST_F(DaemonTest, AnswersPingAndVersion) {
  start();
  auto c = client();
  auto ping = c.call<api::Ping>({});
  ASSERT_TRUE(ping) << ping.error().message;
  EXPECT_TRUE(ping->pong);
  EXPECT_EQ(ping->pid, ::getpid());
  auto version = c.call<api::Version>({});
  ASSERT_TRUE(version);
  EXPECT_EQ(version->protocol, 1);
}

TEST_F(DaemonTest, SecondInstanceRefusesWhileOneRuns) {
  start();
  auto second = Daemon::start({.paths = paths_, .config = config_, .owner_uid = ::getuid()});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::failed_precondition);
  EXPECT_EQ(second.error().message, "another bangerd is running (pid " +
                                        std::to_string(::getpid()) +
                                        "); stop it with `banger daemon stop`");
}

TEST_F(DaemonTest, ShutdownMethodRepliesThenStops) {
  start();
  auto c = client();
  ASSERT_TRUE(c.call<api::Shutdown>({}));
  thread_.join();
  EXPECT_TRUE(served_);
  daemon_.reset();
  EXPECT_FALSE(rpc::Client::connect(paths_.socket));
}

TEST_F(DaemonTest, CreateListShowDeleteRecords) {
  start();
  auto c = client();
  api::VmCreate::Request create;
  create.name = "web";
  create.no_start = true;
  auto created = c.call<api::VmCreate>(create);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->vm.state, "created");
  EXPECT_EQ(created->vm.vcpu, 2);
  EXPECT_EQ(created->vm.memory_mib, 1024);
  EXPECT_EQ(created->vm.disk_size_mib, 4096);
  EXPECT_EQ(created->vm.image, "debian-bookworm");

  auto again = c.call<api::VmCreate>(create);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
  EXPECT_EQ(again.error().message, "vm \"web\" already exists");
  EXPECT_EQ(again.error().op_id.rfind("op-", 0), 0u);

  auto listed = c.call<api::VmList>({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->vms.size(), 1u);
  EXPECT_EQ(listed->vms[0].name, "web");

  auto shown = c.call<api::VmShow>({.name = created->vm.id.substr(0, 6)});
  ASSERT_TRUE(shown) << shown.error().message;
  EXPECT_EQ(shown->vm.name, "web");

  auto deleted = c.call<api::VmDelete>({.names = {"web"}});
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->deleted, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(c.call<api::VmList>({})->vms.empty());
}

TEST_F(DaemonTest, DeleteWithAnUnknownNameDeletesNothing) {
  start();
  auto c = client();
  ASSERT_TRUE(c.call<api::VmCreate>({.name = "a", .no_start = true}));
  auto deleted = c.call<api::VmDelete>({.names = {"a", "nope"}});
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, Errc::not_found);
  EXPECT_EQ(c.call<api::VmList>({})->vms.size(), 1u);
}

TEST_F(DaemonTest, StartFailureLeavesTheVmInErrorWithTheReason) {
  // Given an image that does not exist and is no known recipe, the start fails in prepare.
  start();
  auto c = client();
  auto created = c.call<api::VmCreate>({.name = "web", .image = "no-such-image"});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::not_found);
  auto shown = c.call<api::VmShow>({.name = "web"});
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->vm.state, "error");
  EXPECT_NE(shown->vm.last_error.find("starting vm \"web\": "), std::string::npos)
      << shown->vm.last_error;
  EXPECT_EQ(shown->vm.tap, "");
  EXPECT_EQ(shown->vm.pid, 0);
}

TEST_F(DaemonTest, InvalidNameIsABadRequestSayingWhatIsAllowed) {
  start();
  auto c = client();
  auto created = c.call<api::VmCreate>({.name = "Web_1", .no_start = true});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::invalid_argument);
  EXPECT_EQ(created.error().message,
            "invalid vm name \"Web_1\": use 1-63 characters: lowercase letters, digits and '-', "
            "starting with a letter or digit");
}

TEST_F(DaemonTest, ParallelCreatesOfOneNameYieldOneVm) {
  start();
  std::atomic<int> ok{0};
  std::atomic<int> exists{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&] {
      auto c = rpc::Client::connect(paths_.socket);
      ASSERT_TRUE(c);
      auto r = c->call<api::VmCreate>({.name = "web", .no_start = true});
      if (r) {
        ++ok;
      } else if (r.error().code == Errc::already_exists) {
        ++exists;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(exists.load(), 19);
  EXPECT_EQ(client().call<api::VmList>({})->vms.size(), 1u);
}

TEST_F(DaemonTest, DoctorReportsEveryCheck) {
  start();
  auto report = client().call<api::Doctor>({});
  ASSERT_TRUE(report) << report.error().message;
  std::vector<std::string> names;
  for (const auto& check : report->checks) {
    names.push_back(check.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"architecture", "kvm", "vmm", "host tools",
                                             "/dev/net/tun", "runtime dir", "store", "vm defaults",
                                             "rootfs strategy", "vhost", "bridge", "guest agent",
                                             "dns listener", "dns routing", "nat", "ssh-config"}));
  EXPECT_EQ(report->checks[7].detail,
            "vcpu 2 (config), memory 1024 MiB (config), disk 4096 MiB (built-in floor)");
}

TEST_F(DaemonTest, EveryRegisteredMethodIsDocumented) {
  start();
  auto documented = rpc::check_methods_documented(daemon_->methods(),
                                                  std::string(BANGER_SOURCE_DIR) + "/docs/rpc.md");
  EXPECT_TRUE(documented) << documented.error().message;
}

}  // namespace
}  // namespace banger::daemon
