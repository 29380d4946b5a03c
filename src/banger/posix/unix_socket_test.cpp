#include "banger/posix/unix_socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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

// A jailed Firecracker owns the directory of its sockets and could put a symlink where its
// socket was, pointing at any socket of the host: connect_unix_pinned follows the caller's one
// link to the socket (too long for sun_path) but never a link at the socket's own place.
TEST(ConnectUnix, PinnedFollowsTheCallersLinkButNeverALinkAtTheSocket) {
  testkit::TempDir dir;
  const std::string jail = dir.path() + "/" + std::string(80, 'j');  // past sun_path with the name
  ASSERT_EQ(::mkdir(jail.c_str(), 0700), 0);
  const std::string socket_path = jail + "/" + std::string(40, 's') + ".sock";
  ASSERT_GT(socket_path.size(), kMaxUnixPathBytes);
  ASSERT_EQ(::chdir(jail.c_str()), 0);  // bind the long path through a relative name
  Fd listener = bound_socket(std::string(40, 's') + ".sock", true);
  const std::string link = dir.path() + "/api";
  ASSERT_EQ(::symlink(socket_path.c_str(), link.c_str()), 0);
  auto fd = connect_unix_pinned(link, deadline_in(1s));
  ASSERT_TRUE(fd) << fd.error().message();
  Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted);
  EXPECT_TRUE(connect_unix_pinned(socket_path, deadline_in(1s)));  // the socket itself

  // The socket swapped for a link to another socket: refused, nothing connects there.
  Fd elsewhere = bound_socket(dir.path() + "/host.sock", true);
  ASSERT_EQ(::unlink(socket_path.c_str()), 0);
  ASSERT_EQ(::symlink((dir.path() + "/host.sock").c_str(), socket_path.c_str()), 0);
  auto swapped = connect_unix_pinned(link, deadline_in(1s));
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().sys_errno, ELOOP);
  ASSERT_EQ(::fcntl(elsewhere.get(), F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(::accept4(elsewhere.get(), nullptr, nullptr, SOCK_CLOEXEC), -1);  // nobody came
  // Not a socket at all, or nothing there.
  ASSERT_EQ(::unlink(socket_path.c_str()), 0);
  ASSERT_EQ(::mkdir(socket_path.c_str(), 0700), 0);
  EXPECT_EQ(connect_unix_pinned(link, deadline_in(1s)).error().sys_errno, ENOTSOCK);
  EXPECT_EQ(connect_unix_pinned(dir.path() + "/none", deadline_in(1s)).error().sys_errno, ENOENT);
  ASSERT_EQ(::chdir("/"), 0);
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
