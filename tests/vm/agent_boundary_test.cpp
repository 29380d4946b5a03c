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

// Connects to the agent's unix socket, sends lines and returns what came back until the agent
// hung up or timeout passed.
std::string exchange(const std::string& socket_path, const std::string& lines,
                     std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << socket_path;
  EXPECT_EQ(::send(fd, lines.data(), lines.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(lines.size()));
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
      if (got.find("unauthorized") != std::string::npos && got.back() == '\n') {
        break;
      }
    }
  }
  ::close(fd);
  return got;
}

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
  EXPECT_THAT(exchange(socket_path, exec_line, 10s), HasSubstr("unauthorized"));
  EXPECT_THAT(exchange(socket_path,
                       R"({"v":1,"id":1,"method":"auth","params":{"token":")" +
                           std::string(64, '0') + "\"}}\n" + exec_line,
                       10s),
              HasSubstr("unauthorized"));
  EXPECT_THAT(exchange(socket_path,
                       R"({"v":1,"id":1,"method":"auth","params":{"token":"a"}})"
                       "\n" +
                           exec_line,
                       10s),
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
