#include "banger/forward/tcp_forwarder.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "banger/posix/io.hpp"
#include "banger/posix/tcp.hpp"
#include "banger/testkit/eventually.hpp"

namespace banger::forward {
namespace {

// A blocking client connection to 127.0.0.1:port.
posix::Fd connect_to(int port) {
  auto started = posix::start_connect_tcp4("127.0.0.1", port);
  EXPECT_TRUE(started) << started.error().message();
  if (!started) {
    return {};
  }
  if (started->in_progress) {
    EXPECT_TRUE(
        posix::wait_ready(started->fd.get(), POLLOUT, posix::deadline_in(std::chrono::seconds(5))));
  }
  EXPECT_EQ(posix::socket_error(started->fd.get()), 0);
  EXPECT_TRUE(posix::set_nonblocking(started->fd.get(), false));
  return std::move(started->fd);
}

// Everything until end of stream (or an error such as ECONNRESET).
std::string read_all(int fd) {
  std::string out;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      return out;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The guest's stand-in on loopback: every connection gets back what it sent, then (after the
// client's end of stream) `trailer` and an end of stream. Connections run concurrently.
class EchoServer {
 public:
  explicit EchoServer(std::string trailer = "") : trailer_(std::move(trailer)) {
    auto fd = posix::listen_tcp4("127.0.0.1", 0);
    EXPECT_TRUE(fd);
    listener_ = std::move(*fd);
    EXPECT_TRUE(posix::set_nonblocking(listener_.get(), false));
    port_ = *posix::local_port(listener_.get());
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
    for (auto& t : connections_) {
      t.join();
    }
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void serve() {
    while (true) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        return;
      }
      ++accepted_;
      connections_.emplace_back([this, fd] {
        posix::Fd conn(fd);
        char buffer[65536];
        while (true) {
          const ssize_t n = ::recv(conn.get(), buffer, sizeof buffer, 0);
          if (n <= 0) {
            break;
          }
          if (!send_all(conn.get(), {buffer, static_cast<std::size_t>(n)})) {
            return;
          }
        }
        (void)send_all(conn.get(), trailer_);
        ::shutdown(conn.get(), SHUT_WR);
      });
    }
  }

  std::string trailer_;
  posix::Fd listener_;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> connections_;
};

model::PortForward to_port(int guest_port, int host_port = 0) {
  return {.host_address = "127.0.0.1", .host_port = host_port, .guest_port = guest_port};
}

TEST(TcpForwarder, CarriesARequestAndPassesTheHalfCloseOn) {
  EchoServer guest(" bye");
  TcpForwarder forwarder;
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port())});
  ASSERT_TRUE(bound) << bound.error().message;
  ASSERT_EQ(bound->size(), 1U);
  EXPECT_GT((*bound)[0].host_port, 0);
  EXPECT_EQ((*bound)[0].guest_port, guest.port());
  EXPECT_EQ(forwarder.list("vm1"), *bound);

  auto client = connect_to((*bound)[0].host_port);
  ASSERT_TRUE(send_all(client.get(), "GET / HTTP/1.0\r\n\r\n"));
  // The server answers only after our end of stream reached it: the half-close travelled.
  ::shutdown(client.get(), SHUT_WR);
  EXPECT_EQ(read_all(client.get()), "GET / HTTP/1.0\r\n\r\n bye");
  EXPECT_TRUE(testkit::eventually([&] { return forwarder.connections("vm1") == 0; }));
}

TEST(TcpForwarder, AReplyBeforeAResetStillArrives) {
  auto listener = posix::listen_tcp4("127.0.0.1", 0);
  ASSERT_TRUE(listener);
  ASSERT_TRUE(posix::set_nonblocking(listener->get(), false));
  std::thread guest([&] {
    posix::Fd conn(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
    char c = 0;
    ASSERT_EQ(::recv(conn.get(), &c, 1, 0), 1);  // the rest of the request stays unread
    ASSERT_TRUE(send_all(conn.get(), "reply"));
  });  // closing with unread bytes sends a reset
  TcpForwarder forwarder;
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(*posix::local_port(listener->get()))});
  ASSERT_TRUE(bound);
  auto client = connect_to((*bound)[0].host_port);
  ASSERT_TRUE(send_all(client.get(), "request"));
  guest.join();
  EXPECT_EQ(read_all(client.get()), "reply");
}

TEST(TcpForwarder, ABigTransferArrivesIntactBothWays) {
  EchoServer guest;
  TcpForwarder forwarder({.buffer_bytes = 16 * 1024});
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port())});
  ASSERT_TRUE(bound);
  std::string data(24 * 1024 * 1024, '\0');
  std::mt19937 random(42);
  for (auto& c : data) {
    c = static_cast<char>(random());
  }
  auto client = connect_to((*bound)[0].host_port);
  std::thread writer([&] {
    EXPECT_TRUE(send_all(client.get(), data));
    ::shutdown(client.get(), SHUT_WR);
  });
  auto echoed = read_all(client.get());
  writer.join();
  EXPECT_EQ(echoed.size(), data.size());
  EXPECT_TRUE(echoed == data);
}

TEST(TcpForwarder, ATakenPortIsRefusedNamingItAndNothingStaysBound) {
  EchoServer guest;
  auto taken = posix::listen_tcp4("127.0.0.1", 0);
  ASSERT_TRUE(taken);
  const int port = *posix::local_port(taken->get());
  TcpForwarder forwarder;
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port()), to_port(80, port)});
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error().code, Errc::already_exists);
  EXPECT_EQ(bound.error().message,
            "host port 127.0.0.1:" + std::to_string(port) + " is already in use");
  EXPECT_TRUE(forwarder.list("vm1").empty());
  // A port this forwarder holds is taken too.
  auto first = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port())});
  ASSERT_TRUE(first);
  auto again = forwarder.add("vm2", "127.0.0.1", {to_port(80, (*first)[0].host_port)});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
}

TEST(TcpForwarder, RefusesInvalidForwards) {
  TcpForwarder forwarder;
  for (const auto& bad :
       {model::PortForward{"localhost", 0, 80}, model::PortForward{"127.0.0.1", 0, 0},
        model::PortForward{"127.0.0.1", 70000, 80}}) {
    auto bound = forwarder.add("vm1", "127.0.0.1", {bad});
    ASSERT_FALSE(bound);
    EXPECT_EQ(bound.error().code, Errc::invalid_argument) << bound.error().message;
  }
}

TEST(TcpForwarder, RemoveClosesTheListenerAndItsConnections) {
  EchoServer guest;
  TcpForwarder forwarder;
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port())});
  ASSERT_TRUE(bound);
  auto other = forwarder.add("vm2", "127.0.0.1", {to_port(guest.port())});
  ASSERT_TRUE(other);
  const int port = (*bound)[0].host_port;
  auto client = connect_to(port);
  ASSERT_TRUE(send_all(client.get(), "x"));
  char c = 0;
  ASSERT_EQ(::recv(client.get(), &c, 1, 0), 1);
  EXPECT_EQ(forwarder.connections("vm1"), 1U);

  auto missing = forwarder.remove("vm1", {to_port(1, 1)});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "no forward on 127.0.0.1:1");
  EXPECT_FALSE(forwarder.remove("vm2", *bound));  // not vm2's

  forwarder.remove_all("vm1");
  EXPECT_EQ(forwarder.connections("vm1"), 0U);
  EXPECT_TRUE(forwarder.list("vm1").empty());
  EXPECT_EQ(read_all(client.get()), "");  // closed (end of stream or reset)
  auto refused = posix::start_connect_tcp4("127.0.0.1", port);
  ASSERT_TRUE(refused);
  if (refused->in_progress) {
    (void)posix::wait_ready(refused->fd.get(), POLLOUT,
                            posix::deadline_in(std::chrono::seconds(5)));
    EXPECT_EQ(posix::socket_error(refused->fd.get()), ECONNREFUSED);
  }
  EXPECT_EQ(forwarder.list("vm2").size(), 1U);  // other owners keep theirs
  ASSERT_TRUE(forwarder.remove("vm2", *other));
  EXPECT_TRUE(forwarder.list("vm2").empty());
}

TEST(TcpForwarder, CapsConcurrentConnectionsPerForward) {
  EchoServer guest;
  TcpForwarder forwarder({.max_connections = 2});
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port())});
  ASSERT_TRUE(bound);
  const int port = (*bound)[0].host_port;
  auto a = connect_to(port);
  auto b = connect_to(port);
  ASSERT_TRUE(testkit::eventually([&] { return forwarder.connections("vm1") == 2; }));
  auto c = connect_to(port);
  EXPECT_EQ(read_all(c.get()), "");  // accepted and closed at once
  for (auto* fd : {&a, &b}) {
    ASSERT_TRUE(send_all(fd->get(), "ok"));
    ::shutdown(fd->get(), SHUT_WR);
    EXPECT_EQ(read_all(fd->get()), "ok");
  }
}

TEST(TcpForwarder, AGuestPortWithoutListenerClosesTheClient) {
  auto unused = posix::listen_tcp4("127.0.0.1", 0);
  ASSERT_TRUE(unused);
  const int dead_port = *posix::local_port(unused->get());
  unused->reset();
  TcpForwarder forwarder;
  auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(dead_port)});
  ASSERT_TRUE(bound);
  auto client = connect_to((*bound)[0].host_port);
  EXPECT_EQ(read_all(client.get()), "");
  EXPECT_TRUE(testkit::eventually([&] { return forwarder.connections("vm1") == 0; }));
}

TEST(TcpForwarder, DestroyingItWithOpenConnectionsClosesThem) {
  EchoServer guest;
  posix::Fd client;
  {
    TcpForwarder forwarder;
    auto bound = forwarder.add("vm1", "127.0.0.1", {to_port(guest.port())});
    ASSERT_TRUE(bound);
    client = connect_to((*bound)[0].host_port);
    ASSERT_TRUE(testkit::eventually([&] { return forwarder.connections("vm1") == 1; }));
  }
  EXPECT_EQ(read_all(client.get()), "");
}

}  // namespace
}  // namespace banger::forward
