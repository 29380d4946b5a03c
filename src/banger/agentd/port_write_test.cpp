#include "banger/agentd/port_write.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

using namespace std::chrono_literals;

// A FIFO whose reader has gone stands in for a port whose host attach the guest kernel has not
// processed yet: writes are refused (EPIPE there, EAGAIN with POLLHUP on the port) until a
// reader (the host) appears.
class UnattachedPort : public ::testing::Test {
 protected:
  UnattachedPort() {
    path_ = dir_.path() + "/port";
    EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0);
    // Opening a FIFO for writing needs a reader: open one, then let it go.
    const int reader = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    write_fd_ = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ::close(reader);
  }
  ~UnattachedPort() override { ::close(write_fd_); }

  testkit::TempDir dir_;
  std::string path_;
  int write_fd_ = -1;
};

TEST_F(UnattachedPort, AReplyWaitsForTheHostToBeSeenAndArrivesWhole) {
  ASSERT_GE(write_fd_, 0);
  std::string received;
  std::thread host([&] {
    std::this_thread::sleep_for(200ms);  // the attach is known only now
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    char buffer[64];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
      received.append(buffer, static_cast<std::size_t>(n));
      if (received.back() == '\n') {
        break;
      }
    }
    ::close(fd);
  });
  EXPECT_TRUE(write_to_port(write_fd_, "{\"id\":1,\"result\":{}}\n", 10s));
  host.join();
  EXPECT_EQ(received, "{\"id\":1,\"result\":{}}\n");
}

TEST_F(UnattachedPort, AReplyForAHostThatNeverComesIsDroppedAfterTheWait) {
  ASSERT_GE(write_fd_, 0);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(write_to_port(write_fd_, "{\"id\":1,\"result\":{}}\n", 300ms));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
}

TEST(PortWrite, AHardWriteErrorIsNotRetried) {
  // EBADF is no "no host yet": false at once, whatever the wait.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(write_to_port(-1, "x", 60s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
}

}  // namespace
}  // namespace banger::agentd
