// `vm forward` and `--publish` against a scripted in-process daemon (a real rpc::Server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "banger/api/vm.hpp"
#include "banger/base/random.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/forward_flags.hpp"
#include "banger/cli/vm_support.hpp"
#include "banger/rpc/registry.hpp"
#include "banger/rpc/server.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::cli {
namespace {

using ::testing::HasSubstr;
using Strings = std::vector<std::string>;

class VmForwardCommandTest : public ::testing::Test {
 protected:
  ~VmForwardCommandTest() override {
    if (server) {
      server->stop();
    }
    if (thread.joinable()) {
      thread.join();
    }
  }
  void start() {
    server = std::make_unique<rpc::Server>(
        rpc::ServerOptions{.socket_path = dir.path() + "/s.sock", .allowed_uid = ::getuid()},
        registry, random);
    ASSERT_TRUE(server->listen());
    thread = std::thread([this] { (void)server->run(); });
  }
  int banger(Strings args) {
    args.insert(args.begin(), "banger");
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    return run_command_line(static_cast<int>(argv.size()), argv.data(), ctx);
  }
  template <class M, class F>
  void on(F handler) {
    registry.add<M>(typename rpc::Registry::Handler<M>(handler));
  }

  testkit::TempDir dir;
  base::Mt19937Random random{11};
  rpc::Registry registry{random};
  std::unique_ptr<rpc::Server> server;
  std::thread thread;
  CapturePrinter printer;
  Context ctx{printer, [this](Connect) { return rpc::Client::connect(dir.path() + "/s.sock"); }};
};

TEST(ForwardFlags, ParsesSpecsWithTheGivenAddress) {
  auto specs = parse_forward_specs({"8080:80", "0:22", "10.0.0.1:53:53"}, "0.0.0.0");
  ASSERT_TRUE(specs) << specs.error().message;
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].host_address, "0.0.0.0");
  EXPECT_EQ((*specs)[0].host_port, 8080);
  EXPECT_EQ((*specs)[1].host_port, 0);
  EXPECT_EQ((*specs)[2].host_address, "10.0.0.1");
  EXPECT_FALSE(parse_forward_specs({"80", "x"}));
  EXPECT_EQ(
      forward_line(
          "web",
          {.host_address = "127.0.0.1", .host_port = 8080, .guest_port = 80, .published = true}),
      "127.0.0.1:8080 -> web:80 (published)");
}

TEST_F(VmForwardCommandTest, ForwardSendsThePortsAndPrintsWhatWasBound) {
  on<api::VmForwardMethod>([](const api::VmForwardMethod::Request& r, rpc::CallContext&) {
    EXPECT_EQ(r.name, "web");
    api::VmForwardMethod::Response response{.name = "web", .bound = {}, .forwards = {}};
    for (const auto& p : r.ports) {
      response.bound.push_back({.host_address = p.host_address,
                                .host_port = p.host_port == 0 ? 41000 : p.host_port,
                                .guest_port = p.guest_port});
    }
    return Expected<api::VmForwardMethod::Response>(response);
  });
  start();
  EXPECT_EQ(banger({"vm", "forward", "web", "8080:80", "0:22"}), 0) << printer.err_text();
  EXPECT_EQ(printer.out_text(), "127.0.0.1:8080 -> web:80\n127.0.0.1:41000 -> web:22\n");
}

TEST_F(VmForwardCommandTest, ATakenPortIsReportedAndBadSpecsAreUsageErrors) {
  on<api::VmForwardMethod>([](const api::VmForwardMethod::Request&, rpc::CallContext&) {
    return Expected<api::VmForwardMethod::Response>(
        fail(Errc::already_exists,
             "forwarding ports to vm \"web\": host port 127.0.0.1:8080 is "
             "already in use"));
  });
  start();
  EXPECT_EQ(banger({"vm", "forward", "web", "8080:80"}), 1);
  EXPECT_THAT(printer.err_text(), HasSubstr("host port 127.0.0.1:8080 is already in use"));
  EXPECT_EQ(banger({"vm", "forward", "web", "70000:80"}), 2);
  EXPECT_EQ(banger({"vm", "forward", "web", "80", "--address", "localhost"}), 2);
  EXPECT_EQ(banger({"vm", "forward", "web", "--remove"}), 2);
  EXPECT_EQ(banger({"vm", "forward", "web", "--remove", "80:80:80"}), 2);
}

TEST_F(VmForwardCommandTest, RemoveSendsHostPorts) {
  api::VmUnforwardMethod::Request seen;
  on<api::VmUnforwardMethod>([&](const api::VmUnforwardMethod::Request& r, rpc::CallContext&) {
    seen = r;
    return Expected<api::VmUnforwardMethod::Response>(
        api::VmUnforwardMethod::Response{.name = "web", .forwards = {}});
  });
  start();
  EXPECT_EQ(banger({"vm", "forward", "web", "--remove", "8080", "0.0.0.0:9090"}), 0)
      << printer.err_text();
  ASSERT_EQ(seen.ports.size(), 2u);
  EXPECT_EQ(seen.ports[0].host_address, "127.0.0.1");
  EXPECT_EQ(seen.ports[0].host_port, 8080);
  EXPECT_EQ(seen.ports[1].host_address, "0.0.0.0");
  EXPECT_EQ(seen.ports[1].host_port, 9090);
}

TEST_F(VmForwardCommandTest, CreatePublishTravelsInTheRequest) {
  api::VmCreate::Request seen;
  on<api::VmCreate>([&](const api::VmCreate::Request& r, rpc::CallContext&) {
    seen = r;
    api::VmInfo vm;
    vm.name = r.name;
    vm.state = "created";
    return Expected<api::VmCreate::Response>(api::VmCreate::Response{vm});
  });
  start();
  EXPECT_EQ(banger({"vm", "create", "web", "--no-start", "-p", "8080:80", "--publish", "443"}), 0)
      << printer.err_text();
  ASSERT_EQ(seen.publish.size(), 2u);
  EXPECT_EQ(seen.publish[0].host_port, 8080);
  EXPECT_EQ(seen.publish[1].host_port, 443);
  EXPECT_EQ(seen.publish[1].guest_port, 443);
  EXPECT_EQ(banger({"vm", "create", "db", "--no-start", "-p", "99999"}), 2);
}

}  // namespace
}  // namespace banger::cli
