// The agent's stream channels with a real guest (ADR 0009), below the RPC layer: the test
// process dials the VM's org.banger.stream.<n> sockets itself with the VM's token, as the daemon
// does, so the virtio-serial path (attach, session, detach, the next host) is proved on the real
// guest kernel. The end-to-end `vm.stream` test sits with the RPC method.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "vm_suite.hpp"

#include "banger/agentclient/stream_channels.hpp"
#include "banger/agentproto/stream_pump.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

agentclient::StreamChannels channels_of(const std::string& home, const std::string& name,
                                        const std::string& id) {
  std::vector<std::unique_ptr<agentclient::Dialer>> dialers;
  for (int n = 0; n < 4; ++n) {
    dialers.push_back(std::make_unique<agentclient::UnixSocketDialer>(home + "/run/" + id + ".s" +
                                                                      std::to_string(n)));
  }
  auto token = sys::read_file(home + "/state/vms/" + id + "/agent.token").value_or("");
  while (!token.empty() && token.back() == '\n') {
    token.pop_back();
  }
  return agentclient::StreamChannels(name, std::move(dialers), token);
}

TEST_F(VmSuite, StreamChannelsCarryBinaryDataAndServeHostAfterHost) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "st"}).exit_code, 0);
  const std::string id = show("st")["id"];
  auto channels = channels_of(home_->dir(), "st", id);
  // The agent's lines of the console, for failure messages.
  const auto agent_log = [&] {
    const auto console = sys::read_file(home_->dir() + "/state/vms/" + id + "/console.log");
    std::string lines;
    for (const auto& line : base::split(console.value_or(""), '\n')) {
      if (line.find("banger-agent") != std::string::npos) {
        lines += line + "\n";
      }
    }
    return lines;
  };

  // Every byte value, 4 MiB, through cat in the guest and back.
  std::string data(4 << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 131 + i / 256) & 0xff);
  }
  const std::string in_path = home_->dir() + "/stream.in";
  const std::string out_path = home_->dir() + "/stream.out";
  ASSERT_TRUE(sys::write_file_atomic(in_path, data, 0600));
  {
    auto session = channels.open({.argv = {"cat"}}, 30s, {});
    ASSERT_TRUE(session.has_value()) << session.error().message << agent_log();
    const int in = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    auto outcome =
        agentproto::pump_host_session(session->channel.get(), {.stdin_fd = in, .stdout_fd = out});
    ::close(in);
    ::close(out);
    EXPECT_EQ(outcome.error, "");
    EXPECT_EQ(outcome.exit_code, 0);
    auto back = sys::read_file(out_path);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->size(), data.size());
    EXPECT_TRUE(*back == data);
  }

  // Host after host on the same ports: each session authenticates on a port the previous host
  // just left (6 sessions over 4 ports), with exit codes and stderr intact.
  for (int i = 0; i < 6; ++i) {
    auto session = channels.open(
        {.argv = {"sh", "-c", "echo e$0 >&2; exit $0", std::to_string(i + 1)}}, 30s, {});
    ASSERT_TRUE(session.has_value()) << i << ": " << session.error().message << agent_log();
    int err[2];
    ASSERT_EQ(::pipe(err), 0);
    auto outcome = agentproto::pump_host_session(session->channel.get(), {.stderr_fd = err[1]});
    ::close(err[1]);
    char buffer[16] = {};
    (void)::read(err[0], buffer, sizeof buffer - 1);
    ::close(err[0]);
    EXPECT_EQ(outcome.error, "") << i;
    EXPECT_EQ(outcome.exit_code, i + 1);
    EXPECT_EQ(std::string(buffer), "e" + std::to_string(i + 1) + "\n");
  }

  // Four sessions at once, and the control channel still answers (M9).
  std::vector<agentclient::StreamSession> running;
  for (int i = 0; i < 4; ++i) {
    auto session = channels.open({.argv = {"sleep", "600"}}, 30s, {});
    ASSERT_TRUE(session.has_value()) << session.error().message << agent_log();
    running.push_back(std::move(*session));
  }
  auto health = run({"vm", "health", "st"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  // The host leaving kills the command in the guest.
  const auto pid = running.front().pid;
  running.clear();
  EXPECT_TRUE(testkit::eventually(
      [&] {
        auto checked = run({"vm", "exec", "st", "--", "sh", "-c",
                            "kill -0 " + std::to_string(pid) +
                                " 2>/dev/null && echo alive || "
                                "echo gone"});
        return checked.out.find("gone") != std::string::npos;
      },
      30s));
  std::printf("%s", agent_log().c_str());  // the agent's view of the sessions, for the record
  ASSERT_EQ(run({"vm", "delete", "st"}).exit_code, 0);
}

}  // namespace
}  // namespace banger::itest
