#include "banger/vmm/qemu/qmp_client.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "banger/sys/fs.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/testkit/fake_qmp_server.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/vmm/host_caps.hpp"

namespace banger::vmm::qemu {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(QmpClient, SkipsEventsAndKeepsThem) {
  testkit::TempDir dir;
  std::string sock = dir.path() + "/qmp.sock";
  testkit::FakeQmpServer server(sock);
  server.on([](const std::string& command, const json&) -> std::vector<json> {
    if (command == "system_powerdown") {
      return {{{"event", "POWERDOWN"}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}},
              {{"return", json::object()}}};
    }
    return {{{"return", {{"status", "running"}, {"running", true}}}}};
  });
  auto qmp = QmpClient::connect(sock, 5s);
  ASSERT_TRUE(qmp) << qmp.error().message;
  EXPECT_EQ(qmp->greeting()["version"]["qemu"]["major"], 7);
  ASSERT_TRUE(qmp->system_powerdown());
  ASSERT_EQ(qmp->events().size(), 1U);
  EXPECT_EQ(qmp->events()[0]["event"], "POWERDOWN");
  auto status = qmp->query_status();
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, "running");
  EXPECT_EQ(server.commands(),
            (std::vector<std::string>{"qmp_capabilities", "system_powerdown", "query-status"}));
}

TEST(QmpClient, ErrorAnswerIsCommandFailedWithClassAndDescription) {
  testkit::TempDir dir;
  std::string sock = dir.path() + "/qmp.sock";
  testkit::FakeQmpServer server(sock);
  server.on([](const std::string&, const json&) -> std::vector<json> {
    return {{{"error",
              {{"class", "CommandNotFound"}, {"desc", "The command bogus has not been found"}}}}};
  });
  auto qmp = QmpClient::connect(sock, 5s);
  ASSERT_TRUE(qmp) << qmp.error().message;
  auto r = qmp->execute("bogus");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::command_failed);
  EXPECT_EQ(r.error().message, "qmp bogus: CommandNotFound: The command bogus has not been found");
}

TEST(QmpClient, PassesArguments) {
  testkit::TempDir dir;
  std::string sock = dir.path() + "/qmp.sock";
  testkit::FakeQmpServer server(sock);
  json seen;
  server.on([&](const std::string&, const json& request) -> std::vector<json> {
    seen = request;
    return {{{"return", json::object()}}};
  });
  auto qmp = QmpClient::connect(sock, 5s);
  ASSERT_TRUE(qmp) << qmp.error().message;
  ASSERT_TRUE(qmp->execute("human-monitor-command", {{"command-line", "info version"}}));
  EXPECT_EQ(seen["execute"], "human-monitor-command");
  EXPECT_EQ(seen["arguments"], (json{{"command-line", "info version"}}));
}

TEST(QmpClient, MissingSocketIsUnavailable) {
  testkit::TempDir dir;
  auto qmp = QmpClient::connect(dir.path() + "/none.sock", 1s);
  ASSERT_FALSE(qmp);
  EXPECT_EQ(qmp.error().code, Errc::unavailable);
  EXPECT_EQ(qmp.error().message,
            "connecting to qmp socket " + dir.path() + "/none.sock: No such file or directory");
}

TEST(QmpClient, OverlongPathIsInvalid) {
  std::string path = "/tmp/" + std::string(120, 'x');
  auto qmp = QmpClient::connect(path, 1s);
  ASSERT_FALSE(qmp);
  EXPECT_EQ(qmp.error().code, Errc::invalid_argument);
  EXPECT_EQ(qmp.error().message, "qmp socket path must be 1-107 bytes, got 125: " + path);
}

TEST(QmpClient, SilentPeerTimesOut) {
  testkit::TempDir dir;
  std::string sock = dir.path() + "/qmp.sock";
  testkit::FakeQmpServer server(sock, /*greet=*/false);
  auto qmp = QmpClient::connect(sock, 100ms);
  ASSERT_FALSE(qmp);
  EXPECT_EQ(qmp.error().code, Errc::timeout);
  EXPECT_EQ(qmp.error().message,
            "reading qmp greeting: no answer on qmp socket " + sock + " within 100 ms");
}

// Polls until QmpClient connects or the deadline passes.
Expected<QmpClient> connect_eventually(const std::string& sock,
                                       std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    auto qmp = QmpClient::connect(sock, 5s);
    if (qmp || std::chrono::steady_clock::now() >= end) {
      return qmp;
    }
    std::this_thread::sleep_for(20ms);
  }
}

TEST(QmpClient, TalksToRealQemu) {
  std::string qemu = sys::find_executable(kQemuBinaryName);
  if (qemu.empty()) {
    GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  }
  testkit::TempDir dir;
  std::string sock = dir.path() + "/qmp.sock";
  sys::PosixProcessLauncher launcher;
  // -S: microvm needs no kernel while it stays stopped before the first instruction.
  auto process = launcher.launch(
      {.argv = {qemu, "-M", "microvm", "-accel", "tcg", "-nodefaults", "-no-user-config",
                "-display", "none", "-S", "-qmp", "unix:" + sock + ",server=on,wait=off"},
       .cwd = dir.path(),
       .log_path = dir.path() + "/qemu.log"});
  ASSERT_TRUE(process) << process.error().message;
  auto qmp = connect_eventually(sock, 20s);
  if (!qmp) {
    (*process)->signal(SIGKILL);
    (*process)->wait_for(10s);
    FAIL() << qmp.error().message << "\n" << sys::read_file(dir.path() + "/qemu.log").value_or("");
  }
  EXPECT_TRUE(qmp->greeting()["version"]["qemu"].contains("major"));
  auto status = qmp->query_status();
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, "prelaunch");
  auto bogus = qmp->execute("bogus");
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().message,
            "qmp bogus: CommandNotFound: The command bogus has not been found");
  ASSERT_TRUE(qmp->quit());
  auto exited = (*process)->wait_for(20s);
  ASSERT_TRUE(exited);
  EXPECT_EQ(*exited, std::optional<int>(0));
}

}  // namespace
}  // namespace banger::vmm::qemu
