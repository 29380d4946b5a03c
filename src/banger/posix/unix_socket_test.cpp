#include "banger/posix/unix_socket.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "banger/testkit/temp_dir.hpp"

namespace banger::posix {
namespace {

using namespace std::chrono_literals;

Fd bound_socket(const std::string& path, bool listening, int backlog = 8) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  if (listening) {
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
  }
  return fd;
}

TEST(ConnectUnix, ConnectsAndReturnsANonBlockingSocket) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/s";
  Fd listener = bound_socket(path, true);
  auto fd = connect_unix(path, deadline_in(1s));
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_NE(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(write_all(fd->get(), "hi\n", deadline_in(1s)));
  std::string line;
  EXPECT_EQ(read_until(accepted.get(), '\n', line, 16, deadline_in(1s)), ReadEnd::delimiter);
  EXPECT_EQ(line, "hi");
}

TEST(ConnectUnix, MissingPathIsEnoent) {
  testkit::TempDir dir;
  auto fd = connect_unix(dir.path() + "/missing", deadline_in(1s));
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().sys_errno, ENOENT);
  EXPECT_EQ(fd.error().what, "connect " + dir.path() + "/missing");
}

TEST(ConnectUnix, NonListeningSocketIsRefused) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/s";
  Fd bound = bound_socket(path, false);
  auto fd = connect_unix(path, deadline_in(1s));
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().sys_errno, ECONNREFUSED);
}

TEST(ConnectUnix, FullBacklogTimesOutAtTheDeadline) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/s";
  Fd listener = bound_socket(path, true, 0);
  std::vector<Fd> queued;
  Result<Fd> fd = sys_fail(0, "");
  for (int i = 0; i < 8; ++i) {  // fill the backlog (never accepted)
    fd = connect_unix(path, deadline_in(100ms));
    if (!fd) {
      break;
    }
    queued.push_back(std::move(*fd));
  }
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().sys_errno, ETIMEDOUT);
}

TEST(ConnectUnix, TooLongOrEmptyPathIsEnametoolong) {
  EXPECT_EQ(
      connect_unix(std::string(kMaxUnixPathBytes + 1, 'x'), deadline_in(1s)).error().sys_errno,
      ENAMETOOLONG);
  EXPECT_EQ(connect_unix("", deadline_in(1s)).error().sys_errno, ENAMETOOLONG);
}

}  // namespace
}  // namespace banger::posix
