// FakeQmpServer (tests only): a scripted QMP endpoint on a unix socket, serving one connection
// at a time like QEMU. It greets, then answers each command through a handler and records it.
// Header-only: tests of banger::vmm include it (ADR 0007).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "banger/base/assert.hpp"
#include "banger/base/fd.hpp"

namespace banger::testkit {

class FakeQmpServer {
 public:
  // Messages to send for one request (events and/or one answer); an answer gets the request id.
  using Handler = std::function<std::vector<nlohmann::json>(const std::string& command,
                                                            const nlohmann::json& request)>;

  explicit FakeQmpServer(std::string path, bool greet = true)
      : path_(std::move(path)), greet_(greet) {
    listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BANGER_ASSERT(path_.size() < sizeof addr.sun_path, "test socket path fits sun_path");
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr API
    BANGER_ASSERT(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                  "binding the fake qmp socket");
    BANGER_ASSERT(::listen(listen_.get(), 4) == 0, "listening on the fake qmp socket");
    int fds[2];
    BANGER_ASSERT(::pipe2(fds, O_CLOEXEC) == 0, "wake pipe");
    wake_read_.reset(fds[0]);
    wake_write_.reset(fds[1]);
    thread_ = std::thread([this] { serve(); });
  }
  FakeQmpServer(const FakeQmpServer&) = delete;
  FakeQmpServer& operator=(const FakeQmpServer&) = delete;
  ~FakeQmpServer() {
    char c = 'x';
    (void)!::write(wake_write_.get(), &c, 1);
    thread_.join();
  }

  void on(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }
  // Commands received so far, in order (qmp_capabilities included).
  std::vector<std::string> commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
  }

 private:
  // Waits for fd to be readable; false when the server is being stopped.
  bool wait_readable(int fd) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0) {
    }
    return (fds[1].revents & POLLIN) == 0;
  }

  void send_json(int fd, const nlohmann::json& message) {
    std::string line = message.dump() + "\r\n";
    (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  }

  void serve() {
    while (wait_readable(listen_.get())) {
      base::UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) {
        continue;
      }
      if (greet_) {
        send_json(conn.get(),
                  {{"QMP",
                    {{"version", {{"qemu", {{"major", 7}, {"minor", 2}, {"micro", 0}}}}},
                     {"capabilities", nlohmann::json::array()}}}});
      }
      std::string buffer;
      while (wait_readable(conn.get())) {
        char buf[4096];
        ssize_t r = ::recv(conn.get(), buf, sizeof buf, 0);
        if (r <= 0) {
          break;
        }
        buffer.append(buf, static_cast<std::size_t>(r));
        std::size_t nl = 0;
        while ((nl = buffer.find('\n')) != std::string::npos) {
          auto request = nlohmann::json::parse(buffer.substr(0, nl), nullptr, false);
          buffer.erase(0, nl + 1);
          std::string command = request.value("execute", "");
          Handler handler;
          {
            std::lock_guard lock(mutex_);
            commands_.push_back(command);
            handler = handler_;
          }
          std::vector<nlohmann::json> replies;
          if (handler && command != "qmp_capabilities") {
            replies = handler(command, request);
          } else {
            replies = {{{"return", nlohmann::json::object()}}};
          }
          for (auto& reply : replies) {
            if ((reply.contains("return") || reply.contains("error")) && request.contains("id")) {
              reply["id"] = request["id"];
            }
            send_json(conn.get(), reply);
          }
        }
      }
      if (!wake_pending()) {
        continue;
      }
      return;
    }
  }

  bool wake_pending() {
    pollfd pfd{wake_read_.get(), POLLIN, 0};
    return ::poll(&pfd, 1, 0) > 0;
  }

  std::string path_;
  bool greet_;
  base::UniqueFd listen_;
  base::UniqueFd wake_read_;
  base::UniqueFd wake_write_;
  mutable std::mutex mutex_;
  Handler handler_;
  std::vector<std::string> commands_;
  std::thread thread_;
};

}  // namespace banger::testkit
