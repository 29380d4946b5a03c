#include "banger/agentclient/agent_token.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "banger/agentproto/auth.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::agentclient {
namespace {

TEST(AgentToken, NewTokensAreValidAndDiffer) {
  auto a = new_agent_token();
  auto b = new_agent_token();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(agentproto::valid_token(*a));
  EXPECT_NE(*a, *b);
}

TEST(AgentToken, WrittenOwnerOnlyAndReadBack) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/agent.token";
  auto token = new_agent_token();
  ASSERT_TRUE(token);
  ASSERT_TRUE(write_agent_token(path, *token));
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_agent_token(path), *token);
}

TEST(AgentToken, MissingOrBadFileSaysRestart) {
  testkit::TempDir dir;
  auto missing = read_agent_token(dir.path() + "/none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("restart the vm"), std::string::npos);
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/bad", "short\n", 0600));
  auto bad = read_agent_token(dir.path() + "/bad");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::failed_precondition);
}

}  // namespace
}  // namespace banger::agentclient
