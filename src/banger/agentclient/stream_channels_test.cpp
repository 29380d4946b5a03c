#include "banger/agentclient/stream_channels.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "banger/agentclient/agent_client.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/stream_pump.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/testkit/unix_peer.hpp"

namespace banger::agentclient {
namespace {

using namespace std::chrono_literals;

const std::string kToken = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::vector<std::unique_ptr<Dialer>> dialers_to(const std::string& path, std::size_t count = 4) {
  std::vector<std::unique_ptr<Dialer>> dialers;
  for (std::size_t i = 0; i < count; ++i) {
    dialers.push_back(std::make_unique<UnixSocketDialer>(path));
  }
  return dialers;
}

// The real banger-agent serving the control channel and stream sessions on unix sockets.
class StreamProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = dir_.path() + "/agent.sock";
    stream_ = dir_.path() + "/stream.sock";
    ASSERT_TRUE(sys::write_file_atomic(dir_.path() + "/agent.token", kToken + "\n", 0600));
    sys::PosixProcessLauncher launcher;
    auto process = launcher.launch(sys::LaunchSpec{
        .argv = {BANGER_AGENT_BINARY, "--listen-unix", control_, "--listen-stream-unix", stream_,
                 "--token-file", dir_.path() + "/agent.token"},
        .cwd = dir_.path(),
        .log_path = dir_.path() + "/agent.log",
    });
    ASSERT_TRUE(process.has_value()) << process.error().message;
    process_ = std::move(*process);
    ASSERT_TRUE(testkit::eventually([&] {
      return UnixSocketDialer(control_).dial(1s).has_value() &&
             UnixSocketDialer(stream_).dial(1s).has_value();
    }));
  }
  void TearDown() override {
    if (process_) {
      (void)process_->signal(SIGKILL);
      (void)process_->wait_for(5s);
    }
  }
  StreamChannels channels(const std::string& token = kToken) {
    return StreamChannels("test", dialers_to(stream_), token);
  }
  std::string log() const { return sys::read_file(dir_.path() + "/agent.log").value_or(""); }

  testkit::TempDir dir_;
  std::string control_;
  std::string stream_;
  std::unique_ptr<sys::Process> process_;
};

TEST_F(StreamProcessTest, FiftyMebibytesOfEveryByteValueRoundTripThroughCat) {
  std::string data(50 << 20, '\0');
  std::uint32_t x = 12345;
  for (auto& c : data) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  for (int i = 0; i < 256; ++i) {
    data[static_cast<std::size_t>(i)] = static_cast<char>(i);
  }
  ASSERT_TRUE(sys::write_file_atomic(dir_.path() + "/in", data, 0600));
  auto c = channels();
  auto session = c.open({.argv = {"cat"}}, 10s, {});
  ASSERT_TRUE(session.has_value()) << session.error().message;
  EXPECT_GT(session->pid, 0);
  EXPECT_EQ(c.busy(), 1u);
  const int in = ::open((dir_.path() + "/in").c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open((dir_.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  auto outcome =
      agentproto::pump_host_session(session->channel.get(), {.stdin_fd = in, .stdout_fd = out});
  ::close(in);
  ::close(out);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 0);
  const auto back = sys::read_file(dir_.path() + "/out");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->size(), data.size());
  EXPECT_TRUE(*back == data);
  *session = {};
  EXPECT_EQ(c.busy(), 0u);
}

// ADR 0009: four sessions at once; a fifth waits for a free channel up to its deadline, then is
// unavailable; and the control channel answers health meanwhile (M9).
TEST_F(StreamProcessTest, FourSessionsAtOnceAFifthWaitsAndHealthStillAnswers) {
  auto c = channels();
  std::vector<StreamSession> sessions;
  for (int i = 0; i < 4; ++i) {
    auto session = c.open({.argv = {"sleep", "60"}}, 5s, {});
    ASSERT_TRUE(session.has_value()) << session.error().message;
    sessions.push_back(std::move(*session));
  }
  EXPECT_EQ(c.busy(), 4u);
  const auto start = std::chrono::steady_clock::now();
  auto fifth = c.open({.argv = {"true"}}, 300ms, {});
  ASSERT_FALSE(fifth.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_EQ(fifth.error().code, Errc::unavailable);
  EXPECT_EQ(fifth.error().message, "all 4 stream channels of vm test are busy (waited 300ms)");

  AgentClient control(std::make_unique<UnixSocketDialer>(control_), kToken);
  auto health = control.health(2s);
  EXPECT_TRUE(health.has_value()) << health.error().message;

  // A fifth that is waiting gets the channel a finished session frees.
  std::thread freer([&] {
    std::this_thread::sleep_for(200ms);
    sessions.pop_back();
  });
  auto waited = c.open({.argv = {"sh", "-c", "exit 4"}}, 5s, {});
  freer.join();
  ASSERT_TRUE(waited.has_value()) << waited.error().message;
  auto outcome = agentproto::pump_host_session(waited->channel.get(), {});
  EXPECT_EQ(outcome.exit_code, 4);
}

TEST_F(StreamProcessTest, WrongTokenIsPermissionDeniedAndNothingRuns) {
  auto c = channels(std::string(64, 'a'));
  const std::string marker = dir_.path() + "/ran";
  auto session = c.open({.argv = {"touch", marker}}, 5s, {});
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code, Errc::permission_denied);
  EXPECT_NE(session.error().message.find("unauthorized: wrong token"), std::string::npos);
  EXPECT_FALSE(sys::path_exists(marker));
  EXPECT_EQ(c.busy(), 0u);
}

TEST_F(StreamProcessTest, AMissingProgramIsAnAgentErrorWithOrWithoutAPty) {
  auto c = channels();
  auto missing = c.open({.argv = {"no-such-program-y"}}, 5s, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "agent: executable \"no-such-program-y\" not found in PATH");
  auto pty = c.open({.argv = {"no-such-program-y"}, .pty = agentproto::StreamPty{}}, 5s, {});
  ASSERT_FALSE(pty.has_value());
  EXPECT_EQ(pty.error().code, Errc::not_found);
}

TEST_F(StreamProcessTest, APtySessionRunsOnATerminal) {
  auto c = channels();
  auto session = c.open(
      {.argv = {"sh", "-c", "test -t 1 && stty size"}, .pty = agentproto::StreamPty{7, 9}}, 5s, {});
  ASSERT_TRUE(session.has_value()) << session.error().message;
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  auto outcome = agentproto::pump_host_session(session->channel.get(), {.stdout_fd = out[1]});
  ::close(out[1]);
  char buffer[64] = {};
  const ssize_t n = ::read(out[0], buffer, sizeof buffer - 1);
  ::close(out[0]);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0), "7 9\r\n");
}

TEST_F(StreamProcessTest, ClosingTheSessionKillsTheCommand) {
  auto c = channels();
  auto session = c.open({.argv = {"sleep", "60"}}, 5s, {});
  ASSERT_TRUE(session.has_value()) << session.error().message;
  const auto pid = static_cast<pid_t>(session->pid);
  EXPECT_EQ(::kill(pid, 0), 0);
  *session = {};
  EXPECT_TRUE(testkit::eventually([&] {
    // Gone, or a zombie the agent has not reaped yet.
    const auto stat = sys::read_file("/proc/" + std::to_string(pid) + "/stat");
    return !stat || stat->find(") Z") != std::string::npos;
  })) << log();
}

// --- hostile or old agents ---

TEST(StreamChannels, AgentWithoutStreamExecSaysRebuildTheImage) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/s.sock", [](int fd) {
    testkit::accept_auth(fd);
    const std::string line = testkit::read_request(fd);
    testkit::write_text(fd, agentproto::make_error_line(testkit::request_id(line),
                                                        agentproto::ErrorCode::unknown_method,
                                                        "unknown method \"stream_exec\": known "
                                                        "are health, ports, sync, poweroff, exec"));
    testkit::swallow_until_close(fd, 5000);
  });
  StreamChannels c("old", dialers_to(dir.path() + "/s.sock"), kToken);
  auto session = c.open({.argv = {"true"}}, 5s, {});
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code, Errc::failed_precondition);
  EXPECT_NE(session.error().message.find("predates stream channels"), std::string::npos);
  EXPECT_EQ(c.busy(), 0u);
}

TEST(StreamChannels, SilentChannelTimesOutWithAHint) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/s.sock",
                         [](int fd) { testkit::swallow_until_close(fd, 5000); });
  StreamChannels c("quiet", dialers_to(dir.path() + "/s.sock"), kToken);
  const auto start = std::chrono::steady_clock::now();
  auto session = c.open({.argv = {"true"}}, 300ms, {});
  ASSERT_FALSE(session.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(session.error().code, Errc::timeout);
  EXPECT_NE(session.error().message.find("rebuild"), std::string::npos);
}

TEST(StreamChannels, OversizeAnswerLineIsRefusedWithBoundedReads) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/s.sock", [](int fd) {
    testkit::read_request(fd);
    testkit::write_text(fd, std::string(200 * 1024, 'x'));
    testkit::swallow_until_close(fd, 5000);
  });
  StreamChannels c("junk", dialers_to(dir.path() + "/s.sock"), kToken);
  auto session = c.open({.argv = {"true"}}, 5s, {});
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code, Errc::io);
  EXPECT_NE(session.error().message.find("longer than 65536 bytes"), std::string::npos);
}

TEST(StreamChannels, EndlessStaleLinesExhaustTheBudget) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/s.sock", [](int fd) {
    testkit::read_request(fd);
    std::string chunk;
    while (chunk.size() < 64 * 1024) {
      chunk += "{\"id\":1,\"result\":{}}\n";
    }
    for (int i = 0; i < 40; ++i) {
      testkit::write_text(fd, chunk);
    }
    testkit::swallow_until_close(fd, 5000);
  });
  StreamChannels c("junk", dialers_to(dir.path() + "/s.sock"), kToken);
  auto session = c.open({.argv = {"true"}}, 10s, {});
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code, Errc::io);
  EXPECT_NE(session.error().message.find("without answering auth"), std::string::npos);
}

TEST(StreamChannels, CancelEndsTheWaitForAChannel) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/s.sock",
                         [](int fd) { testkit::swallow_until_close(fd, 5000); });
  StreamChannels c("quiet", dialers_to(dir.path() + "/s.sock", 1), kToken);
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  auto session = c.open({.argv = {"true"}}, 10s, [&] { return cancel.load(); });
  canceller.join();
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code, Errc::cancelled);
}

TEST(StreamChannels, MissingSocketIsUnavailableAndFreesTheSlot) {
  testkit::TempDir dir;
  StreamChannels c("gone", dialers_to(dir.path() + "/none.sock"), kToken);
  auto session = c.open({.argv = {"true"}}, 1s, {});
  ASSERT_FALSE(session.has_value());
  EXPECT_EQ(session.error().code, Errc::unavailable);
  EXPECT_EQ(c.busy(), 0u);
}

}  // namespace
}  // namespace banger::agentclient
