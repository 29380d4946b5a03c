#include "banger/guest/port_probe.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "banger/base/fd.hpp"

namespace banger::guest {
namespace {

// A loopback TCP server that answers every connection with reply_for(first bytes read), or
// stays silent when reply_for returns "". Stops when destroyed.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<std::string(const std::string&)> reply_for)
      : reply_for_(std::move(reply_for)) {
    listener_ = base::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_.get(), 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
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

}  // namespace
}  // namespace banger::guest
