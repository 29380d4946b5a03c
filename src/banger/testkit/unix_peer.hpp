// UnixPeer (tests only): a unix-socket server on its own thread that runs a handler per accepted
// connection (fake agents, fake Firecracker vsock muxers), plus raw line read/write helpers.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace banger::testkit {

class UnixPeer {
 public:
  using Handler = std::function<void(int fd)>;

  UnixPeer(std::string path, Handler handler)
      : path_(std::move(path)), handler_(std::move(handler)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 8);
    thread_ = std::thread([this] { run(); });
  }
  UnixPeer(const UnixPeer&) = delete;
  UnixPeer& operator=(const UnixPeer&) = delete;
  ~UnixPeer() {
    stop_ = true;
    thread_.join();
    for (auto& t : connections_) {
      t.join();
    }
    ::close(listen_fd_);
  }

 private:
  void run() {
    while (!stop_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) {
        continue;
      }
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        continue;
      }
      connections_.emplace_back([this, fd] {
        handler_(fd);
        ::close(fd);
      });
    }
  }

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> connections_;
};

// Reads up to and including the first '\n' (byte by byte); "" on EOF/timeout (5 s).
inline std::string read_line(int fd, int timeout_ms = 5000) {
  std::string line;
  char c = 0;
  while (true) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0 || ::read(fd, &c, 1) != 1) {
      return line;
    }
    line.push_back(c);
    if (c == '\n') {
      return line;
    }
  }
}

// Writes all of text (waiting on non-blocking sockets); stops silently when the peer is gone.
inline void write_text(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, 5000);
      continue;
    }
    if (n <= 0) {
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

// Reads and discards everything until the peer closes or timeout_ms pass (a silent agent).
inline void swallow_until_close(int fd, int timeout_ms) {
  char buffer[4096];
  while (true) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0 || ::read(fd, buffer, sizeof buffer) <= 0) {
      return;
    }
  }
}

// The next request line, skipping the empty lines clients send first; "" on EOF/timeout.
inline std::string read_request(int fd, int timeout_ms = 5000) {
  std::string line;
  do {
    line = read_line(fd, timeout_ms);
  } while (line == "\n");
  return line;
}

// The "id" of a request line written by agentproto::make_request_line, -1 when there is none.
inline long long request_id(const std::string& line) {
  const auto at = line.find("\"id\":");
  return at == std::string::npos ? -1 : std::atoll(line.c_str() + at + 5);
}

// Plays an agent's side of authentication: reads the auth request and accepts it, whatever
// token it carries. Returns the auth line ("" when the client sent none).
inline std::string accept_auth(int fd) {
  std::string line = read_request(fd);
  if (!line.empty()) {
    write_text(fd, "{\"id\":" + std::to_string(request_id(line)) + ",\"result\":{}}\n");
  }
  return line;
}

}  // namespace banger::testkit
