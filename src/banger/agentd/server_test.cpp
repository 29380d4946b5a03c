#include "banger/agentd/server.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "banger/testkit/eventually.hpp"
#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

class FakeSystemControl final : public SystemControl {
 public:
  void sync() override {}
  void poweroff() override { ++poweroffs; }
  int poweroffs = 0;
};

// Reads one '\n'-terminated line from fd (blocking), within 10 s.
std::string read_line(int fd) {
  std::string line;
  char c = 0;
  while (true) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 10000) <= 0) {
      ADD_FAILURE() << "no reply line within 10 s";
      return line;
    }
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) {
      return line;
    }
    if (c == '\n') {
      return line;
    }
    line.push_back(c);
  }
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    testkit::write_fixture(proc_.path() + "/uptime", "1.5 1\n");
    testkit::write_fixture(proc_.path() + "/sys/kernel/random/boot_id", "b\n");
  }
  testkit::TempDir proc_;
  FakeSystemControl system_;
  Agent agent_{AgentDeps{.system = system_, .proc_root = proc_.path(), .version = "v"}};
};

TEST_F(ServerTest, StreamAnswersInOrderAndSurvivesMalformedLines) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  std::size_t answered = 0;
  std::thread server([&] { answered = serve_stream(fds[1], agent_); });
  const std::string input =
      "{broken\n{\"id\":1,\"method\":\"sync\"}\n\n{\"id\":2,\"method\":\"poweroff\"}\n";
  ASSERT_EQ(::write(fds[0], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  EXPECT_EQ(read_line(fds[0]),
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"request is not valid "
            "json\"},\"id\":null}");
  EXPECT_EQ(read_line(fds[0]), "{\"id\":1,\"result\":{}}");
  EXPECT_EQ(read_line(fds[0]), "{\"id\":2,\"result\":{}}");
  ::shutdown(fds[0], SHUT_WR);
  server.join();
  EXPECT_EQ(answered, 3u);
  EXPECT_EQ(system_.poweroffs, 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(ServerTest, StreamKeepsGoingWhenReplyCannotBeWritten) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const std::string input = "{\"id\":1,\"method\":\"sync\"}\n{\"id\":2,\"method\":\"sync\"}\n";
  ASSERT_EQ(::write(fds[0], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(fds[0]);  // the host is gone before the replies
  EXPECT_EQ(serve_stream(fds[1], agent_), 0u);
  ::close(fds[1]);
}

TEST(WriteAll, FailsOnClosedPeer) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ::close(fds[0]);
  EXPECT_FALSE(write_all(fds[1], "hello"));
  ::close(fds[1]);
}

TEST(WriteAll, WritesToPipes) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_TRUE(write_all(fds[1], "hello\n"));
  EXPECT_EQ(read_line(fds[0]), "hello");
  ::close(fds[0]);
  ::close(fds[1]);
}

// A FIFO behaves like a virtio-serial port without a host: read() gives 0 and poll() POLLHUP
// while no writer is connected, and writers can come and go.
TEST_F(ServerTest, PortDropsHalfLineWhenHostLeaves) {
  testkit::TempDir dir;
  const std::string fifo = dir.path() + "/port";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int read_fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(read_fd, 0);
  int replies[2];
  ASSERT_EQ(::pipe2(replies, O_CLOEXEC), 0);
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> disconnects{0};
  std::thread server([&] {
    serve_port(read_fd, replies[1], agent_, stop, std::chrono::milliseconds(1), &disconnects);
  });

  // Host 1 sends half a request and leaves.
  int host = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(host, 0);
  ASSERT_EQ(::write(host, "{\"id\":1,\"meth", 13), 13);
  ::close(host);
  ASSERT_TRUE(testkit::eventually([&] { return disconnects.load() == 1; }));

  // Host 2 sends a whole request: it is not glued to host 1's half line.
  host = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(host, 0);
  const std::string request = "{\"id\":2,\"method\":\"sync\"}\n";
  ASSERT_EQ(::write(host, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  EXPECT_EQ(read_line(replies[0]), "{\"id\":2,\"result\":{}}");
  ::close(host);

  stop = true;
  server.join();
  ::close(read_fd);
  ::close(replies[0]);
  ::close(replies[1]);
}

}  // namespace
}  // namespace banger::agentd
