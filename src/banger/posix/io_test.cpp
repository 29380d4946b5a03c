#include "banger/posix/io.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "banger/posix/fd.hpp"

namespace banger::posix {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
  Fd a;
  Fd b;
};

SocketPair socket_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {Fd(fds[0]), Fd(fds[1])};
}

TEST(ReadUntil, StopsAtTheDelimiterAndLeavesTheRest) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(write_all(a.get(), "OK 5\nrest"));
  std::string line;
  EXPECT_EQ(read_until(b.get(), '\n', line, 64, deadline_in(1s)), ReadEnd::delimiter);
  EXPECT_EQ(line, "OK 5");
  char buf[16];
  auto n = read_some(b.get(), buf, sizeof buf, deadline_in(1s));
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string(buf, *n), "rest");
}

TEST(ReadUntil, StopsAtMaxBytesAndAtEndOfStream) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(write_all(a.get(), "abcdef"));
  std::string line;
  EXPECT_EQ(read_until(b.get(), '\n', line, 4, deadline_in(1s)), ReadEnd::limit);
  EXPECT_EQ(line, "abcd");
  a.reset();
  line.clear();
  EXPECT_EQ(read_until(b.get(), '\n', line, 64, deadline_in(1s)), ReadEnd::eof);
  EXPECT_EQ(line, "ef");
}

TEST(ReadUntil, TimesOutKeepingWhatArrived) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(write_all(a.get(), "par"));
  std::string line;
  const auto start = Clock::now();
  auto end = read_until(b.get(), '\n', line, 64, deadline_in(100ms));
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().sys_errno, ETIMEDOUT);
  EXPECT_EQ(line, "par");
  EXPECT_GE(Clock::now() - start, 90ms);
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(ReadSome, WorksOnNonBlockingDescriptorsAndReturnsZeroAtEof) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(set_nonblocking(b.get()));
  std::thread writer([fd = a.get()] {
    std::this_thread::sleep_for(50ms);
    (void)write_all(fd, "x");
  });
  char c = 0;
  auto n = read_some(b.get(), &c, 1, deadline_in(5s));
  writer.join();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1U);
  a.reset();
  n = read_some(b.get(), &c, 1, deadline_in(5s));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0U);
}

TEST(WriteAll, ClosedSocketPeerIsEpipeNotSigpipe) {
  auto [a, b] = socket_pair();
  b.reset();
  auto sent = write_all(a.get(), "hello");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().sys_errno, EPIPE);
}

TEST(WriteAll, ClosedPipeReaderIsEpipeNotSigpipe) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe);
  pipe->read.reset();
  auto sent = write_all(pipe->write.get(), "hello");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().sys_errno, EPIPE);
}

TEST(WriteAll, TimesOutWhenThePeerDoesNotRead) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(set_nonblocking(a.get()));
  const std::string big(8 << 20, 'x');
  auto sent = write_all(a.get(), big, deadline_in(100ms));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().sys_errno, ETIMEDOUT);
}

TEST(WriteAll, StallTimeoutEndsAWriteThatMakesNoProgress) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(set_nonblocking(a.get()));
  const auto start = Clock::now();
  auto sent = write_all(a.get(), std::string(8 << 20, 'x'), kNoDeadline, 100ms);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().sys_errno, ETIMEDOUT);
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST(PollTimeout, IsMinusOneWithoutDeadlineAndZeroWhenPassed) {
  EXPECT_EQ(poll_timeout(kNoDeadline), -1);
  EXPECT_EQ(poll_timeout(Clock::now() - 1s), 0);
  EXPECT_GT(poll_timeout(deadline_in(10s)), 9000);
}

TEST(SysError, MessageAppendsStrerror) {
  EXPECT_EQ((SysError{ENOENT, "connect /x"}.message()), "connect /x: No such file or directory");
  EXPECT_EQ((SysError{0, "plain"}.message()), "plain");
}

}  // namespace
}  // namespace banger::posix
