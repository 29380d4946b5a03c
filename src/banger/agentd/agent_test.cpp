#include "banger/agentd/agent.hpp"

#include <gtest/gtest.h>

#include "banger/agentproto/message.hpp"
#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

class FakeSystemControl final : public SystemControl {
 public:
  void sync() override { ++syncs; }
  void poweroff() override { ++poweroffs; }
  int syncs = 0;
  int poweroffs = 0;
};

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() {
    testkit::write_fixture(proc_.path() + "/uptime", "42.5 1\n");
    testkit::write_fixture(proc_.path() + "/sys/kernel/random/boot_id", "boot-1\n");
  }
  Reply handle(std::string line) {
    return agent_.handle(agentproto::Frame{agentproto::Frame::Kind::line, std::move(line)});
  }
  testkit::TempDir proc_;
  FakeSystemControl system_;
  Agent agent_{AgentDeps{.system = system_, .proc_root = proc_.path(), .version = "1.2.3"}};
};

TEST_F(AgentTest, AnswersHealth) {
  const auto reply = handle(R"({"v":1,"id":5,"method":"health"})");
  const auto j = nlohmann::json::parse(reply.line);
  EXPECT_EQ(j["id"], 5);
  EXPECT_EQ(j["result"]["uptime_s"], 42.5);
  EXPECT_EQ(j["result"]["boot_id"], "boot-1");
  EXPECT_EQ(j["result"]["version"], "1.2.3");
  EXPECT_FALSE(reply.after);
}

TEST_F(AgentTest, AnswersPortsFromProcRoot) {
  EXPECT_EQ(handle(R"({"id":1,"method":"ports"})").line, "{\"id\":1,\"result\":{\"ports\":[]}}\n");
}

TEST_F(AgentTest, SyncCallsSystem) {
  EXPECT_EQ(handle(R"({"id":2,"method":"sync"})").line, "{\"id\":2,\"result\":{}}\n");
  EXPECT_EQ(system_.syncs, 1);
}

TEST_F(AgentTest, PoweroffRepliesFirstThenActs) {
  const auto reply = handle(R"({"id":3,"method":"poweroff"})");
  EXPECT_EQ(reply.line, "{\"id\":3,\"result\":{}}\n");
  EXPECT_EQ(system_.poweroffs, 0);
  ASSERT_TRUE(reply.after);
  reply.after();
  EXPECT_EQ(system_.poweroffs, 1);
}

TEST_F(AgentTest, ExecRunsCommand) {
  const auto reply =
      handle(R"({"id":4,"method":"exec","params":{"argv":["sh","-c","printf hi; exit 2"]}})");
  const auto j = nlohmann::json::parse(reply.line);
  EXPECT_EQ(j["result"]["exit_code"], 2);
  EXPECT_EQ(j["result"]["stdout_b64"], "aGk=");
}

TEST_F(AgentTest, ExecWithBadParamsIsBadRequest) {
  EXPECT_EQ(handle(R"({"id":6,"method":"exec","params":{"argv":[]}})").line,
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"field \\\"argv\\\": expected a "
            "non-empty array of strings\"},\"id\":6}\n");
}

TEST_F(AgentTest, UnknownMethod) {
  EXPECT_EQ(handle(R"({"id":7,"method":"reboot"})").line,
            "{\"error\":{\"code\":\"unknown_method\",\"message\":\"unknown method \\\"reboot\\\": "
            "known are health, ports, sync, poweroff, exec\"},\"id\":7}\n");
}

TEST_F(AgentTest, MalformedLineIsBadRequestWithNullId) {
  EXPECT_EQ(handle("{nope").line,
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"request is not valid "
            "json\"},\"id\":null}\n");
}

TEST_F(AgentTest, OversizeFrameIsBadRequest) {
  const auto reply = agent_.handle(agentproto::Frame{agentproto::Frame::Kind::oversize, {}});
  EXPECT_EQ(reply.line,
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"request line longer than 67108864 "
            "bytes\"},\"id\":null}\n");
}

}  // namespace
}  // namespace banger::agentd
