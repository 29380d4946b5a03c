#include "banger/agentclient/dialer.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "banger/base/expected.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/unix_socket.hpp"

namespace banger::agentclient {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxConnectAnswerBytes = 64;

// The Error for a failed connect to `what`: invalid_argument for a bad unix socket path, timeout
// at the deadline, unavailable otherwise (errno kept).
Error connect_error(const posix::SysError& error, const std::string& what,
                    std::chrono::milliseconds timeout) {
  const int err = error.sys_errno;
  if (err == ETIMEDOUT) {
    return Error{Errc::timeout,
                 fmt::format("connecting to {}: no connection within {}ms", what, timeout.count()),
                 err,
                 {}};
  }
  return Error{
      Errc::unavailable, fmt::format("connecting to {}: {}", what, std::strerror(err)), err, {}};
}

// pinned: posix::connect_unix_pinned (the socket may live in a directory its VMM owns).
Expected<base::UniqueFd> connect_unix(const std::string& path, Clock::time_point deadline,
                                      const std::string& what, std::chrono::milliseconds timeout,
                                      bool pinned = false) {
  auto fd =
      pinned ? posix::connect_unix_pinned(path, deadline) : posix::connect_unix(path, deadline);
  if (!fd && fd.error().sys_errno == ENAMETOOLONG) {
    return fail(Errc::invalid_argument,
                fmt::format("unix socket path must be 1 to {} bytes, got {}: {}",
                            posix::kMaxUnixPathBytes, path.size(), path));
  }
  if (!fd) {
    return tl::unexpected(connect_error(fd.error(), what, timeout));
  }
  return std::move(*fd);
}

// "OK <digits>".
bool is_connect_ok(const std::string& answer) {
  bool ok = answer.size() > 3 && answer.compare(0, 3, "OK ") == 0;
  for (std::size_t i = 3; ok && i < answer.size(); ++i) {
    ok = answer[i] >= '0' && answer[i] <= '9';
  }
  return ok;
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
  // Under the jailer the socket is in the jail, which the jailed Firecracker owns: never follow
  // a link put in its place.
  BANGER_TRY_ASSIGN(base::UniqueFd fd,
                    connect_unix(uds_path_, deadline, what, timeout, /*pinned=*/true));
  if (auto sent = posix::write_all(fd.get(), fmt::format("CONNECT {}\n", port_), deadline); !sent) {
    if (sent.error().sys_errno == ETIMEDOUT) {
      return fail(Errc::timeout,
                  fmt::format("{}: handshake not sent within {}ms", what, timeout.count()));
    }
    return fail(Errc::unavailable, fmt::format("{}: sending CONNECT: {}", what,
                                               std::strerror(sent.error().sys_errno)));
  }
  // Read the answer one byte at a time: what follows its '\n' belongs to the agent stream.
  std::string answer;
  auto end = posix::read_until(fd.get(), '\n', answer, kMaxConnectAnswerBytes, deadline);
  if (!end && end.error().sys_errno == ETIMEDOUT) {
    return fail(Errc::timeout, fmt::format("{}: no answer to CONNECT {} within {}ms (got \"{}\")",
                                           what, port_, timeout.count(), answer));
  }
  if (!end) {
    return fail(Errc::unavailable, fmt::format("{}: reading the CONNECT answer: {}", what,
                                               std::strerror(end.error().sys_errno)));
  }
  if (*end == posix::ReadEnd::eof) {
    return fail(Errc::unavailable,
                fmt::format("{}: connection closed after CONNECT {} (got \"{}\"); is the guest "
                            "agent listening on port {}?",
                            what, port_, answer, port_));
  }
  if (!is_connect_ok(answer)) {
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
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr API
  auto connected = posix::connect_socket(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                                         sizeof addr, deadline);
  if (!connected) {
    return tl::unexpected(connect_error(connected.error(), describe(), timeout));
  }
  return fd;
}

std::string AfVsockDialer::describe() const {
  return fmt::format("vsock cid {} port {}", cid_, port_);
}

bool vhost_vsock_available() { return ::access("/dev/vhost-vsock", R_OK | W_OK) == 0; }

}  // namespace banger::agentclient
