#include "banger/posix/tcp.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <cerrno>

namespace banger::posix {
namespace {

TEST(Tcp, ListensOnAFreePortAndReportsIt) {
  auto listener = listen_tcp4("127.0.0.1", 0);
  ASSERT_TRUE(listener) << listener.error().message();
  auto port = local_port(listener->get());
  ASSERT_TRUE(port);
  EXPECT_GT(*port, 0);
  auto started = start_connect_tcp4("127.0.0.1", *port);
  ASSERT_TRUE(started) << started.error().message();
  pollfd p{started->fd.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(socket_error(started->fd.get()), 0);
}

TEST(Tcp, ATakenPortIsEaddrinuseNamingIt) {
  auto first = listen_tcp4("127.0.0.1", 0);
  ASSERT_TRUE(first);
  int port = *local_port(first->get());
  auto second = listen_tcp4("127.0.0.1", port);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().sys_errno, EADDRINUSE);
  EXPECT_EQ(second.error().what, "listen 127.0.0.1:" + std::to_string(port));
}

TEST(Tcp, RefusesWhatIsNotAnIpv4Literal) {
  EXPECT_EQ(listen_tcp4("localhost", 0).error().sys_errno, EINVAL);
  EXPECT_EQ(listen_tcp4("127.0.0.1", 70000).error().sys_errno, EINVAL);
  EXPECT_EQ(start_connect_tcp4("::1", 80).error().sys_errno, EINVAL);
}

}  // namespace
}  // namespace banger::posix
