#include "banger/guest/port_probe.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "banger/base/clock.hpp"
#include "banger/base/fd.hpp"

namespace banger::guest {
namespace {

// A TCP listener on 127.0.0.1 and a free port (set in port).
base::UniqueFd listen_on_loopback(int& port) {
  base::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(listener.get(), 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return listener;
}

// A loopback TCP server that answers every connection with reply_for(first bytes read), or
// stays silent when reply_for returns "". Stops when destroyed.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<std::string(const std::string&)> reply_for)
      : reply_for_(std::move(reply_for)) {
    listener_ = listen_on_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stopping_) {
      base::UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) {
        return;
      }
      char buf[512];
      ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
      std::string reply = reply_for_(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0));
      if (!reply.empty()) {
        ::send(client.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    }
  }

  std::function<std::string(const std::string&)> reply_for_;
  base::UniqueFd listener_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

TEST(PortProbe, AnHttpServerIsHttp) {
  ScriptedServer server([](const std::string& request) {
    return request.starts_with("HEAD / HTTP/1.0\r\n") ? "HTTP/1.0 200 OK\r\n\r\n" : "";
  });
  EXPECT_EQ(probe_port_scheme("127.0.0.1", server.port()), PortScheme::http);
}

TEST(PortProbe, ATlsServerIsHttpsWhetherItAlertsOnPlaintextOrNot) {
  ScriptedServer alerting(
      [](const std::string&) { return std::string("\x15\x03\x03\x00\x02", 5); });
  EXPECT_EQ(probe_port_scheme("127.0.0.1", alerting.port()), PortScheme::https);
  ScriptedServer strict([](const std::string& request) {
    return request.starts_with("\x16\x03") ? std::string("\x16\x03\x03\x00\x31", 5) : "";
  });
  // The plaintext attempt waits out its timeout before the ClientHello goes out; 2 s per attempt
  // leaves a stalled CI scheduler plenty of room for the server thread to answer the second.
  EXPECT_EQ(probe_port_scheme("127.0.0.1", strict.port(), std::chrono::seconds(2)),
            PortScheme::https);
}

TEST(PortProbe, OtherProtocolsClosedPortsAndBadAddressesAreNone) {
  ScriptedServer ssh([](const std::string&) { return "SSH-2.0-OpenSSH_9.2\r\n"; });
  EXPECT_EQ(probe_port_scheme("127.0.0.1", ssh.port()), PortScheme::none);
  int closed_port = 0;
  {
    ScriptedServer gone([](const std::string&) { return ""; });
    closed_port = gone.port();
  }
  EXPECT_EQ(probe_port_scheme("127.0.0.1", closed_port), PortScheme::none);
  EXPECT_EQ(probe_port_scheme("not-an-ip", 80), PortScheme::none);
  EXPECT_EQ(to_string(PortScheme::https), "https");
  EXPECT_EQ(to_string(PortScheme::none), "");
}

// A loopback TCP server that speaks first, as sshd does: it sends greeting on every accepted
// connection (nothing when ""), then keeps the connection open until the peer leaves.
class GreetingServer {
 public:
  explicit GreetingServer(std::string greeting) : greeting_(std::move(greeting)) {
    listener_ = listen_on_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~GreetingServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void serve() {
    while (true) {
      base::UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) {
        return;
      }
      ++accepted_;
      if (!greeting_.empty()) {
        ::send(client.get(), greeting_.data(), greeting_.size(), MSG_NOSIGNAL);
      }
      char buf[64];
      while (::recv(client.get(), buf, sizeof buf, 0) > 0) {
      }
    }
  }

  std::string greeting_;
  base::UniqueFd listener_;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

int closed_port() {
  GreetingServer gone("");
  return gone.port();
}

TEST(SshdProbe, AnIdentificationLineIsReadyEvenAfterOtherLines) {
  GreetingServer dropbear("SSH-2.0-dropbear_2022.83\r\n");
  EXPECT_TRUE(probe_sshd("127.0.0.1", dropbear.port(), std::chrono::seconds(2)));
  GreetingServer chatty("welcome\r\nSSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  EXPECT_TRUE(probe_sshd("127.0.0.1", chatty.port(), std::chrono::seconds(2)));
}

TEST(SshdProbe, SilenceOtherProtocolsRefusalAndFloodsAreNotReady) {
  GreetingServer silent("");
  auto quiet = probe_sshd("127.0.0.1", silent.port(), std::chrono::milliseconds(200));
  ASSERT_FALSE(quiet);
  EXPECT_EQ(quiet.error().code, Errc::unavailable);
  EXPECT_EQ(quiet.error().message, "no SSH identification within 200 ms");

  GreetingServer http("HTTP/1.1 400 Bad Request\r\n\r\n");
  auto wrong = probe_sshd("127.0.0.1", http.port(), std::chrono::milliseconds(300));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message,
            "answered \"HTTP/1.1 400 Bad Request\" instead of an SSH identification");

  // A hostile guest flooding bytes without a newline: read at most 1 KiB, never trusted.
  GreetingServer flood(std::string(100000, 'x'));
  auto flooded = probe_sshd("127.0.0.1", flood.port(), std::chrono::seconds(2));
  ASSERT_FALSE(flooded);
  EXPECT_NE(flooded.error().message.find("instead of an SSH identification"), std::string::npos);
  EXPECT_LT(flooded.error().message.size(), 200u);

  auto refused = probe_sshd("127.0.0.1", closed_port(), std::chrono::seconds(1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::unavailable);
  EXPECT_EQ(refused.error().message, "Connection refused");
}

TEST(SshdProbe, WaitForSshdPollsUntilTheDeadlineOrCancel) {
  base::SystemClock clock;
  GreetingServer sshd("SSH-2.0-OpenSSH_9.2\r\n");
  EXPECT_TRUE(wait_for_sshd(clock, {.ip = "127.0.0.1",
                                    .port = sshd.port(),
                                    .deadline = clock.steady_now() + std::chrono::seconds(5)}));

  const int port = closed_port();
  auto late =
      wait_for_sshd(clock, {.ip = "127.0.0.1",
                            .port = port,
                            .deadline = clock.steady_now() + std::chrono::milliseconds(350)});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::timeout);
  EXPECT_EQ(late.error().message, fmt::format("sshd on 127.0.0.1:{} did not answer within 0 s: "
                                              "Connection refused",
                                              port));

  int asked = 0;
  auto cancelled = wait_for_sshd(clock, {.ip = "127.0.0.1",
                                         .port = port,
                                         .deadline = clock.steady_now() + std::chrono::seconds(30),
                                         .cancel = [&] { return ++asked > 2; }});
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().code, Errc::cancelled);
}

}  // namespace
}  // namespace banger::guest
