#include "banger/rpc/frame.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "banger/base/fd.hpp"

namespace banger::rpc {
namespace {

struct SocketPair {
  base::UniqueFd a;
  base::UniqueFd b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

std::string next_line(LineReader& reader) {
  auto line = reader.next();
  EXPECT_TRUE(line) << line.error().message;
  EXPECT_TRUE(line && line->has_value());
  return line && line->has_value() ? **line : "<none>";
}

bool at_eof(LineReader& reader) {
  auto line = reader.next();
  return line && !line->has_value();
}

TEST(LineReader, SplitsLinesAcrossWrites) {
  SocketPair pair;
  ASSERT_TRUE(write_all(pair.a.get(), "one\ntw"));
  ASSERT_TRUE(write_all(pair.a.get(), "o\n\nthree\n"));
  pair.a.reset();
  LineReader reader(pair.b.get());
  EXPECT_EQ(next_line(reader), "one");
  EXPECT_EQ(next_line(reader), "two");
  EXPECT_EQ(next_line(reader), "");
  EXPECT_EQ(next_line(reader), "three");
  EXPECT_TRUE(at_eof(reader));
}

TEST(LineReader, DropsPartialLastLineAtEof) {
  SocketPair pair;
  ASSERT_TRUE(write_all(pair.a.get(), "full\npartial"));
  pair.a.reset();
  LineReader reader(pair.b.get());
  EXPECT_EQ(next_line(reader), "full");
  EXPECT_TRUE(at_eof(reader));
}

TEST(LineReader, OversizedLineFailsThenNextLineIsRead) {
  SocketPair pair;
  ASSERT_TRUE(write_all(pair.a.get(), "12345678\n123456789abcdef\nok\n"));
  pair.a.reset();
  LineReader reader(pair.b.get(), 8);
  EXPECT_EQ(next_line(reader), "12345678");  // exactly the limit is fine
  auto too_big = reader.next();
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, Errc::invalid_argument);
  EXPECT_EQ(too_big.error().message, "line exceeds the maximum frame size of 8 bytes");
  EXPECT_EQ(next_line(reader), "ok");
  EXPECT_TRUE(at_eof(reader));
}

TEST(LineReader, OversizedLineSpanningManyReadsIsSkipped) {
  SocketPair pair;
  LineReader reader(pair.b.get(), 4);
  ASSERT_TRUE(write_all(pair.a.get(), "aaaaaaa"));
  EXPECT_FALSE(reader.next());
  ASSERT_TRUE(write_all(pair.a.get(), "bbbbbbbbbbbbb"));
  ASSERT_TRUE(write_all(pair.a.get(), "ccc\nnext\n"));
  EXPECT_EQ(next_line(reader), "next");
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(WriteAll, ClosedPeerIsIoErrorNotSigpipe) {
  SocketPair pair;
  pair.b.reset();
  auto status = write_line(pair.a.get(), "hello");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::io);
  EXPECT_EQ(status.error().message, "writing to socket: Broken pipe");
  EXPECT_EQ(status.error().sys_errno, EPIPE);
}

TEST(WriteAll, WritesMoreThanTheSocketBuffer) {
  SocketPair pair;
  std::string big(4 * 1024 * 1024, 'x');
  std::thread writer([&] { EXPECT_TRUE(write_line(pair.a.get(), big)); });
  LineReader reader(pair.b.get());
  EXPECT_EQ(next_line(reader).size(), big.size());
  writer.join();
}

}  // namespace
}  // namespace banger::rpc
