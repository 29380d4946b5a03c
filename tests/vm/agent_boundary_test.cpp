// The guest agent's boundary with a real guest (issue 10 acceptance, security review H1): another
// local user cannot reach the agent's channel at all, and a host process that can reach it but
// does not hold the VM's token gets nothing executed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST_F(VmSuite, AgentRefusesHostsWithoutTheTokenAndOtherUsersCannotReachIt) {
  ASSERT_EQ(run({"vm", "create", "--image", "tiny", "--name", "ab"}).exit_code, 0);
  std::string id = show("ab")["id"];
  const std::string socket_path = home_->dir() + "/run/" + id + ".agent";

  // Another local user (nobody) cannot even connect: the socket is in the daemon's 0700
  // runtime dir.
  sys::PosixCommandRunner runner;
  auto as_nobody = runner.run(
      {.argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c",
                "import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX)\n"
                "s.connect(sys.argv[1])\n"
                "s.sendall(b'{\"v\":1,\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":"
                "[\"touch\",\"/root/by-nobody\"]}}\\n')\n",
                socket_path},
       .timeout = 30s});
  ASSERT_TRUE(as_nobody);
  EXPECT_NE(as_nobody->exit_code, 0);
  EXPECT_THAT(as_nobody->err, HasSubstr("Permission denied"));

  // A process that can reach the socket (root here) but has no token: no request, a wrong
  // token, or a prefix of a token -- each gets `unauthorized` and nothing runs.
  const std::string exec_line =
      R"({"v":1,"id":2,"method":"exec","params":{"argv":["touch","/root/pwned"]}})"
      "\n";
  EXPECT_THAT(agent_exchange(socket_path, exec_line, "unauthorized", 10s),
              HasSubstr("unauthorized"));
  EXPECT_THAT(agent_exchange(socket_path,
                             R"({"v":1,"id":1,"method":"auth","params":{"token":")" +
                                 std::string(64, '0') + "\"}}\n" + exec_line,
                             "unauthorized", 10s),
              HasSubstr("unauthorized"));
  EXPECT_THAT(agent_exchange(socket_path,
                             R"({"v":1,"id":1,"method":"auth","params":{"token":"a"}})"
                             "\n" +
                                 exec_line,
                             "unauthorized", 10s),
              HasSubstr("unauthorized"));

  // Control: the daemon (which holds the token) still drives the agent, and nothing above ran.
  auto checked = run({"vm", "exec", "ab", "--", "sh", "-c",
                      "test -e /root/pwned && echo PWNED; test -e /root/by-nobody && echo "
                      "PWNED; echo checked"});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("checked"));
  EXPECT_THAT(checked.out, Not(HasSubstr("PWNED")));
  ASSERT_EQ(run({"vm", "delete", "ab"}).exit_code, 0);
}

}  // namespace
}  // namespace banger::itest
