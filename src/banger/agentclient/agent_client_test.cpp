#include "banger/agentclient/agent_client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/testkit/unix_peer.hpp"

namespace banger::agentclient {
namespace {

using namespace std::chrono_literals;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// The real banger-agent in test mode (--listen-unix) in a fresh TempDir; killed by pid at the end.
class AgentProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.path() + "/agent.sock";
    sys::PosixProcessLauncher launcher;
    auto process = launcher.launch(sys::LaunchSpec{
        .argv = {BANGER_AGENT_BINARY, "--listen-unix", socket_},
        .cwd = dir_.path(),
        .log_path = dir_.path() + "/agent.log",
    });
    ASSERT_TRUE(process.has_value()) << process.error().message;
    process_ = std::move(*process);
    // The socket file appears at bind(), before listen(): wait until a connection is accepted.
    ASSERT_TRUE(testkit::eventually([&] { return UnixSocketDialer(socket_).dial(1s).has_value(); }))
        << log();
  }
  void TearDown() override {
    if (process_) {
      (void)process_->signal(SIGKILL);
      (void)process_->wait_for(5s);
    }
  }
  std::string log() const { return sys::read_file(dir_.path() + "/agent.log").value_or(""); }
  AgentClient client() { return AgentClient(std::make_unique<UnixSocketDialer>(socket_)); }
  // A raw connection to the agent.
  base::UniqueFd raw() {
    auto fd = UnixSocketDialer(socket_).dial(1s);
    EXPECT_TRUE(fd.has_value());
    return fd ? std::move(*fd) : base::UniqueFd();
  }

  testkit::TempDir dir_;
  std::string socket_;
  std::unique_ptr<sys::Process> process_;
};

TEST_F(AgentProcessTest, HealthReportsThisBoot) {
  auto c = client();
  auto health = c.health(5s);
  ASSERT_TRUE(health.has_value()) << health.error().message;
  EXPECT_EQ(health->boot_id, trimmed(*sys::read_file("/proc/sys/kernel/random/boot_id")));
  EXPECT_GT(health->uptime_s, 0);
  EXPECT_FALSE(health->version.empty());
}

TEST_F(AgentProcessTest, PortsListsOurListenerWithOwner) {
  base::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const auto port = ntohs(addr.sin_port);

  auto c = client();
  auto ports = c.ports(10s);
  ASSERT_TRUE(ports.has_value()) << ports.error().message;
  const agentproto::PortEntry* found = nullptr;
  for (const auto& entry : ports->ports) {
    if (entry.proto == "tcp" && entry.port == port && entry.address == "127.0.0.1") {
      found = &entry;
    }
  }
  ASSERT_NE(found, nullptr) << "port " << port << " not listed";
  EXPECT_EQ(found->family, "ipv4");
  EXPECT_EQ(found->pid, ::getpid());
  EXPECT_EQ(found->process, trimmed(*sys::read_file("/proc/self/comm")));
}

TEST_F(AgentProcessTest, ExecRoundTripsElevenMebibytes) {
  std::mt19937 gen(7);
  ExecRequest request;
  request.argv = {"sh", "-c", "cat; echo \"$GREETING\" >&2; exit 4"};
  request.env = {{"GREETING", "hello"}};
  request.stdin_data.resize(11 * 1024 * 1024 + 3);
  for (auto& ch : request.stdin_data) {
    ch = static_cast<char>(gen() & 0xff);
  }
  auto c = client();
  auto result = c.exec(request, 60s);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->exit_code, 4);
  EXPECT_EQ(result->stderr_data, "hello\n");
  ASSERT_EQ(result->stdout_data.size(), request.stdin_data.size());
  EXPECT_TRUE(result->stdout_data == request.stdin_data);
}

TEST_F(AgentProcessTest, ExecOfMissingProgramIsNotFound) {
  ExecRequest request;
  request.argv = {"banger-no-such-program"};
  auto c = client();
  auto result = c.exec(request, 5s);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::not_found);
  EXPECT_EQ(result.error().message,
            "agent: executable \"banger-no-such-program\" not found in PATH");
}

TEST_F(AgentProcessTest, AgentErrorCodesMapToErrc) {
  auto c = client();
  auto bad = c.call("exec", {{"argv", nlohmann::json::array()}}, 5s);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "agent: field \"argv\": expected a non-empty array of strings");
  auto unknown = c.call("reboot", nlohmann::json::object(), 5s);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, Errc::unknown_method);
}

TEST_F(AgentProcessTest, SyncSucceeds) {
  auto c = client();
  auto status = c.sync(5s);
  EXPECT_TRUE(status.has_value()) << status.error().message;
}

TEST_F(AgentProcessTest, MalformedFrameThenGoodRequestOnOneConnection) {
  auto fd = raw();
  testkit::write_text(fd.get(), "{oops\n" + agentproto::make_request_line(11, "sync", {}));
  EXPECT_EQ(testkit::read_line(fd.get()),
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"request is not valid "
            "json\"},\"id\":null}\n");
  EXPECT_EQ(testkit::read_line(fd.get()), "{\"id\":11,\"result\":{}}\n");
}

TEST_F(AgentProcessTest, ClientLeavingMidRequestDoesNotDisturbNextCall) {
  {
    auto fd = raw();
    testkit::write_text(fd.get(), "{\"v\":1,\"id\":3,\"meth");
  }
  auto c = client();
  auto health = c.health(5s);
  EXPECT_TRUE(health.has_value()) << health.error().message;
}

TEST_F(AgentProcessTest, OversizedLineIsAnsweredAndStreamResynchronises) {
  auto fd = raw();
  std::thread writer([&fd] {
    testkit::write_text(fd.get(), std::string(agentproto::kMaxFrameBytes + 1, 'x') + "\n" +
                                      agentproto::make_request_line(12, "sync", {}));
  });
  const auto first = testkit::read_line(fd.get(), 30000);
  const auto second = testkit::read_line(fd.get(), 30000);
  writer.join();
  EXPECT_EQ(first,
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"request line longer than "
            "67108864 bytes\"},\"id\":null}\n");
  EXPECT_EQ(second, "{\"id\":12,\"result\":{}}\n");
}

TEST_F(AgentProcessTest, PoweroffAnswersThenAgentEnds) {
  auto c = client();
  auto status = c.poweroff(5s);
  EXPECT_TRUE(status.has_value()) << status.error().message;
  auto exited = process_->wait_for(5s);
  ASSERT_TRUE(exited.has_value());
  EXPECT_EQ(*exited, std::optional<int>(0));
}

TEST_F(AgentProcessTest, WaitHealthyReturnsHealth) {
  auto c = client();
  auto health = c.wait_healthy(10s, {});
  EXPECT_TRUE(health.has_value()) << health.error().message;
}

TEST_F(AgentProcessTest, FirecrackerDialerThroughRelay) {
  // Plays Firecracker's vsock muxer: answers the CONNECT handshake, then relays to the agent.
  const std::string fc_socket = dir_.path() + "/fc.sock";
  const std::string agent_socket = socket_;
  std::string hello;
  testkit::UnixPeer muxer(fc_socket, [&hello, agent_socket](int host) {
    hello = testkit::read_line(host);
    auto agent = UnixSocketDialer(agent_socket).dial(1s);
    if (!agent) {
      return;
    }
    testkit::write_text(host, "OK 52\n");
    char buffer[65536];
    bool open = true;
    while (open) {
      pollfd fds[2] = {{host, POLLIN, 0}, {agent->get(), POLLIN, 0}};
      if (::poll(fds, 2, 5000) <= 0) {
        break;
      }
      for (int i = 0; i < 2 && open; ++i) {
        if (fds[i].revents == 0) {
          continue;
        }
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
          open = n < 0 && (errno == EAGAIN || errno == EINTR);
          continue;
        }
        testkit::write_text(fds[1 - i].fd, std::string(buffer, static_cast<std::size_t>(n)));
      }
    }
  });
  AgentClient c(std::make_unique<FirecrackerVsockDialer>(fc_socket, 1024));
  auto health = c.health(5s);
  ASSERT_TRUE(health.has_value()) << health.error().message;
  EXPECT_FALSE(health->boot_id.empty());
  EXPECT_EQ(hello, "CONNECT 1024\n");
}

// Fake agents for the client's own failure handling.

TEST(AgentClient, SkipsStaleRepliesAndGarbage) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/a.sock", [](int fd) {
    std::string line;
    do {
      line = testkit::read_line(fd);
    } while (line == "\n");
    const auto id = nlohmann::json::parse(line)["id"].get<std::int64_t>();
    testkit::write_text(
        fd, agentproto::make_result_line(id - 1, {{"stale", true}}) + "garbage\n" +
                agentproto::make_error_line(std::nullopt, agentproto::ErrorCode::bad_request, "x") +
                agentproto::make_result_line(id, nlohmann::json::object()));
  });
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/a.sock"));
  auto result = c.call("sync", nlohmann::json::object(), 5s);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(*result, nlohmann::json::object());
}

TEST(AgentClient, SilentAgentTimesOut) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/a.sock",
                         [](int fd) { testkit::swallow_until_close(fd, 2000); });
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/a.sock"));
  auto health = c.health(200ms);
  ASSERT_FALSE(health.has_value());
  EXPECT_EQ(health.error().code, Errc::timeout);
  EXPECT_EQ(health.error().message,
            "agent at unix socket " + dir.path() + "/a.sock did not answer health within 200ms");
}

TEST(AgentClient, ClosedConnectionIsUnavailable) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/a.sock", [](int) {});
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/a.sock"));
  auto health = c.health(2s);
  ASSERT_FALSE(health.has_value());
  EXPECT_EQ(health.error().code, Errc::unavailable);
}

TEST(AgentClient, MissingSocketIsUnavailable) {
  testkit::TempDir dir;
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/none.sock"));
  auto health = c.health(200ms);
  ASSERT_FALSE(health.has_value());
  EXPECT_EQ(health.error().code, Errc::unavailable);
}

TEST(AgentClient, WaitHealthyTimesOutOnSilentAgent) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/a.sock",
                         [](int fd) { testkit::swallow_until_close(fd, 1000); });
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/a.sock"));
  auto health = c.wait_healthy(300ms, {});
  ASSERT_FALSE(health.has_value());
  EXPECT_EQ(health.error().code, Errc::timeout);
  EXPECT_NE(health.error().message.find("agent did not become healthy within "), std::string::npos);
  EXPECT_NE(health.error().message.find("did not answer health within"), std::string::npos)
      << health.error().message;
}

TEST(AgentClient, WaitHealthyStopsWhenCancelled) {
  testkit::TempDir dir;
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/none.sock"));
  int attempts = 0;
  auto health = c.wait_healthy(10s, [&attempts] { return ++attempts > 2; });
  ASSERT_FALSE(health.has_value());
  EXPECT_EQ(health.error().code, Errc::cancelled);
  EXPECT_EQ(health.error().message, "waiting for the agent: cancelled");
}

TEST(AgentClient, OversizedRequestIsRefusedBeforeSending) {
  testkit::TempDir dir;
  AgentClient c(std::make_unique<UnixSocketDialer>(dir.path() + "/none.sock"));
  ExecRequest request;
  request.argv = {"cat"};
  request.stdin_data.assign(agentproto::kMaxFrameBytes, 'x');
  auto result = c.exec(request, 1s);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::invalid_argument);
  EXPECT_NE(result.error().message.find("the agent accepts at most 67108864"), std::string::npos);
}

}  // namespace
}  // namespace banger::agentclient
