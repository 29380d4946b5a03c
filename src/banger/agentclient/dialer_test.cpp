#include "banger/agentclient/dialer.hpp"

#include <gtest/gtest.h>

#include "banger/testkit/temp_dir.hpp"
#include "banger/testkit/unix_peer.hpp"

namespace banger::agentclient {
namespace {

using namespace std::chrono_literals;

TEST(UnixSocketDialer, MissingSocketIsUnavailable) {
  testkit::TempDir dir;
  UnixSocketDialer dialer(dir.path() + "/none.sock");
  auto fd = dialer.dial(100ms);
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code, Errc::unavailable);
  EXPECT_EQ(fd.error().message,
            "connecting to unix socket " + dir.path() + "/none.sock: No such file or directory");
}

TEST(UnixSocketDialer, ConnectsToListener) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/a.sock", [](int fd) { testkit::write_text(fd, "hi\n"); });
  UnixSocketDialer dialer(dir.path() + "/a.sock");
  auto fd = dialer.dial(1000ms);
  ASSERT_TRUE(fd.has_value()) << fd.error().message;
  EXPECT_EQ(testkit::read_line(fd->get()), "hi\n");
}

TEST(FirecrackerVsockDialer, HandshakeThenStream) {
  testkit::TempDir dir;
  std::string got;
  testkit::UnixPeer peer(dir.path() + "/v.sock", [&got](int fd) {
    got = testkit::read_line(fd);
    testkit::write_text(fd, "OK 1073741824\nstream-bytes\n");
  });
  FirecrackerVsockDialer dialer(dir.path() + "/v.sock", 1024);
  auto fd = dialer.dial(2000ms);
  ASSERT_TRUE(fd.has_value()) << fd.error().message;
  EXPECT_EQ(testkit::read_line(fd->get()), "stream-bytes\n");
  EXPECT_EQ(got, "CONNECT 1024\n");
}

TEST(FirecrackerVsockDialer, OtherAnswerIsUnavailable) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/v.sock", [](int fd) {
    testkit::read_line(fd);
    testkit::write_text(fd, "FAILURE\n");
  });
  FirecrackerVsockDialer dialer(dir.path() + "/v.sock", 1024);
  auto fd = dialer.dial(2000ms);
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code, Errc::unavailable);
  EXPECT_EQ(fd.error().message, "firecracker vsock " + dir.path() +
                                    "/v.sock port 1024: expected \"OK <port>\" after CONNECT "
                                    "1024, got \"FAILURE\"");
}

TEST(FirecrackerVsockDialer, CloseIsUnavailable) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/v.sock", [](int fd) { testkit::read_line(fd); });
  FirecrackerVsockDialer dialer(dir.path() + "/v.sock", 1024);
  auto fd = dialer.dial(2000ms);
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code, Errc::unavailable);
  EXPECT_EQ(fd.error().message,
            "firecracker vsock " + dir.path() +
                "/v.sock port 1024: connection closed after CONNECT 1024 (got \"\"); is the "
                "guest agent listening on port 1024?");
}

TEST(FirecrackerVsockDialer, SilentPeerTimesOut) {
  testkit::TempDir dir;
  testkit::UnixPeer peer(dir.path() + "/v.sock",
                         [](int fd) { testkit::swallow_until_close(fd, 1000); });
  FirecrackerVsockDialer dialer(dir.path() + "/v.sock", 1024);
  auto fd = dialer.dial(100ms);
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code, Errc::timeout);
  EXPECT_EQ(fd.error().message, "firecracker vsock " + dir.path() +
                                    "/v.sock port 1024: no answer to CONNECT 1024 within 100ms "
                                    "(got \"\")");
}

TEST(AfVsockDialer, DescribesEndpointWithoutConnecting) {
  // Never dialled here: this machine is itself a vsock guest.
  EXPECT_EQ(AfVsockDialer(3, 1024).describe(), "vsock cid 3 port 1024");
}

}  // namespace
}  // namespace banger::agentclient
