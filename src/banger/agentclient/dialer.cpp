#include "banger/agentclient/dialer.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace banger::agentclient {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30));
}

// Finishes a non-blocking connect: waits for POLLOUT and reads SO_ERROR.
Status finish_connect(int fd, Clock::time_point deadline, const std::string& what,
                      std::chrono::milliseconds timeout) {
  while (true) {
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = ::poll(&pfd, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready < 0) {
      return fail_errno(fmt::format("connecting to {}: poll", what), errno);
    }
    if (ready == 0) {
      return fail(Errc::timeout, fmt::format("connecting to {}: no connection within {}ms", what,
                                             timeout.count()));
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
    if (err != 0) {
      return fail(Errc::unavailable, fmt::format("connecting to {}: {}", what, std::strerror(err)));
    }
    return {};
  }
}

Expected<base::UniqueFd> connect_unix(const std::string& path, Clock::time_point deadline,
                                      const std::string& what, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return fail(Errc::invalid_argument,
                fmt::format("unix socket path must be 1 to {} bytes, got {}: {}",
                            sizeof addr.sun_path - 1, path.size(), path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return fail_errno("creating a unix socket", errno);
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == EINPROGRESS || err == EAGAIN) {
      auto status = finish_connect(fd.get(), deadline, what, timeout);
      if (!status) {
        return tl::unexpected(status.error());
      }
      return fd;
    }
    Error error{
        Errc::unavailable, fmt::format("connecting to {}: {}", what, std::strerror(err)), err, {}};
    return tl::unexpected(std::move(error));
  }
  return fd;
}

}  // namespace

UnixSocketDialer::UnixSocketDialer(std::string path) : path_(std::move(path)) {}

Expected<base::UniqueFd> UnixSocketDialer::dial(std::chrono::milliseconds timeout) {
  return connect_unix(path_, Clock::now() + timeout, describe(), timeout);
}

std::string UnixSocketDialer::describe() const { return "unix socket " + path_; }

FirecrackerVsockDialer::FirecrackerVsockDialer(std::string uds_path, std::uint32_t port)
    : uds_path_(std::move(uds_path)), port_(port) {}

Expected<base::UniqueFd> FirecrackerVsockDialer::dial(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string what = describe();
  auto connected = connect_unix(uds_path_, deadline, what, timeout);
  if (!connected) {
    return connected;
  }
  base::UniqueFd fd = std::move(*connected);
  const std::string hello = fmt::format("CONNECT {}\n", port_);
  std::size_t sent = 0;
  while (sent < hello.size()) {
    const ssize_t n = ::send(fd.get(), hello.data() + sent, hello.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      pollfd pfd{fd.get(), POLLOUT, 0};
      if (::poll(&pfd, 1, ms_left(deadline)) == 0) {
        return fail(Errc::timeout,
                    fmt::format("{}: handshake not sent within {}ms", what, timeout.count()));
      }
      continue;
    }
    return fail(Errc::unavailable,
                fmt::format("{}: sending CONNECT: {}", what, std::strerror(errno)));
  }
  // Read the answer one byte at a time: what follows its '\n' belongs to the agent stream.
  std::string answer;
  while (answer.size() < 64) {
    char c = 0;
    const ssize_t n = ::recv(fd.get(), &c, 1, 0);
    if (n == 1) {
      if (c == '\n') {
        break;
      }
      answer.push_back(c);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      pollfd pfd{fd.get(), POLLIN, 0};
      const int ready = ::poll(&pfd, 1, ms_left(deadline));
      if (ready == 0) {
        return fail(Errc::timeout,
                    fmt::format("{}: no answer to CONNECT {} within {}ms (got \"{}\")", what, port_,
                                timeout.count(), answer));
      }
      continue;
    }
    if (n == 0) {
      return fail(Errc::unavailable,
                  fmt::format("{}: connection closed after CONNECT {} (got \"{}\"); is the guest "
                              "agent listening on port {}?",
                              what, port_, answer, port_));
    }
    return fail(Errc::unavailable,
                fmt::format("{}: reading the CONNECT answer: {}", what, std::strerror(errno)));
  }
  bool ok = answer.size() > 3 && answer.compare(0, 3, "OK ") == 0;
  for (std::size_t i = 3; ok && i < answer.size(); ++i) {
    ok = answer[i] >= '0' && answer[i] <= '9';
  }
  if (!ok) {
    return fail(Errc::unavailable,
                fmt::format("{}: expected \"OK <port>\" after CONNECT {}, got \"{}\"", what, port_,
                            answer));
  }
  return fd;
}

std::string FirecrackerVsockDialer::describe() const {
  return fmt::format("firecracker vsock {} port {}", uds_path_, port_);
}

AfVsockDialer::AfVsockDialer(std::uint32_t cid, std::uint32_t port) : cid_(cid), port_(port) {}

Expected<base::UniqueFd> AfVsockDialer::dial(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  base::UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    const int err = errno;
    return fail(Errc::unavailable, fmt::format("creating a vsock socket: {}", std::strerror(err)));
  }
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid_;
  addr.svm_port = port_;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err != EINPROGRESS) {
      return fail(Errc::unavailable,
                  fmt::format("connecting to {}: {}", describe(), std::strerror(err)));
    }
    auto status = finish_connect(fd.get(), deadline, describe(), timeout);
    if (!status) {
      return tl::unexpected(status.error());
    }
  }
  return fd;
}

std::string AfVsockDialer::describe() const {
  return fmt::format("vsock cid {} port {}", cid_, port_);
}

bool vhost_vsock_available() { return ::access("/dev/vhost-vsock", R_OK | W_OK) == 0; }

}  // namespace banger::agentclient
